"""The aggregates `/metrics` reads at scrape time: stored jobs by pipeline type and status (the
maintained counters, never the jobs table), the queue's depth and oldest queued job, pending
callback deliveries, billed units, the newest scheduler heartbeat. Every figure is server-wide:
no org, job or key appears in a label."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jobport.domain.statuses import QUEUED
from jobport.store.counts import job_counts
from jobport.store.tables import Job, SchedulerHeartbeat, UsageEntry


def jobs_by_type_and_status(session: Session) -> dict[tuple[str, str], int]:
    rows = session.execute(select(job_counts.c.pipeline_type, job_counts.c.status, func.sum(job_counts.c.n))
                           .group_by(job_counts.c.pipeline_type, job_counts.c.status))
    return {(kind, status): int(n) for kind, status, n in rows if n}


def oldest_queued_at(session: Session) -> datetime | None:
    return session.scalar(select(func.min(Job.created_at)).where(Job.status.in_([s.value for s in QUEUED])))


def billed_units(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(UsageEntry.billed_units), 0))) or 0)


def last_heartbeat(session: Session, state: str = "active") -> datetime | None:
    return session.scalar(select(func.max(SchedulerHeartbeat.beat_at)).where(SchedulerHeartbeat.state == state))
