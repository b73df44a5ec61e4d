"""Limits' SQL: per-org overrides (`org_limits`), and the usage the quotas count (an org's queued or
running jobs, and the pending inputs of those jobs)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jobport.domain.statuses import InputStatus
from jobport.store import counts
from jobport.store.db import utcnow
from jobport.store.tables import Job, JobInput, OrgLimit

OVERRIDABLE = ("key_requests_per_second", "key_request_burst", "org_requests_per_second", "org_request_burst",
               "concurrent_jobs", "queued_inputs", "fetch_max_per_org")


def overrides(session: Session, org_id: str) -> dict[str, float | int]:
    """The org's overrides that are set, by column name."""
    row = session.get(OrgLimit, org_id)
    if row is None:
        return {}
    return {name: value for name in OVERRIDABLE if (value := getattr(row, name)) is not None}


def set_overrides(session: Session, org_id: str, values: Mapping[str, float | int | None]) -> dict[str, float | int]:
    """Set (a number) or clear (None) some of the org's overrides; returns those now set."""
    row = session.get(OrgLimit, org_id)
    if row is None:
        row = OrgLimit(org_id=org_id, updated_at=utcnow())
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.flush()
    return overrides(session, org_id)


def jobs_in_statuses(session: Session, org_id: str, statuses: Collection[str]) -> int:
    """The org's jobs in `statuses`, from the maintained counters (no scan of the jobs table)."""
    return counts.counted(session, org_id, statuses=statuses).total


def pending_inputs(session: Session, org_id: str, statuses: Collection[str], at_most: int) -> int:
    """Pending inputs of the org's jobs in `statuses`, counted up to `at_most` (a bounded count)."""
    rows = (select(JobInput.seq).join(Job, Job.id == JobInput.job_id)
            .where(Job.org_id == org_id, Job.status.in_(list(statuses)),
                   JobInput.status == InputStatus.PENDING.value, JobInput.tracked.is_(True))
            .limit(at_most).subquery())
    return session.scalar(select(func.count()).select_from(rows)) or 0
