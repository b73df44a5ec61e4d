"""Lifecycle duties the scheduler runs about once a second: expire jobs whose completion window
passed (their running work is then stopped and their inputs released, as for a cancel), and
suspend the waiting jobs of orgs whose billed usage is over their budget, resuming them once the
budget is raised or removed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jobport.domain.statuses import TERMINAL, JobStatus
from jobport.engine.ports import JobMoves
from jobport.store.tables import Job, Org, UsageEntry

SUSPENDABLE = (JobStatus.PARKED, JobStatus.PENDING, JobStatus.PREEMPTED, JobStatus.ADMITTED)


def expire_due(session: Session, transitions: JobMoves, now: datetime, limit: int = 500) -> int:
    ended = [s.value for s in TERMINAL]
    due = session.scalars(select(Job.id).where(Job.expires_at.is_not(None), Job.expires_at <= now,
                                               Job.status.not_in(ended)).limit(limit)).all()
    return sum(transitions.move(session, job_id, JobStatus.EXPIRED, "The completion window passed before the job "
                                  "finished", level="WARN") for job_id in due)


def _billed(session: Session, org_id: str) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(UsageEntry.billed_units), 0))
                              .where(UsageEntry.org_id == org_id)) or 0)


def apply_budgets(session: Session, transitions: JobMoves, limit: int = 500) -> tuple[int, int]:
    """(jobs suspended, jobs resumed)."""
    suspended = resumed = 0
    for org in session.scalars(select(Org).where(Org.budget_units.is_not(None))):
        billed = _billed(session, org.id)
        if org.budget_units is not None and billed > org.budget_units:
            waiting = session.scalars(select(Job.id).where(
                Job.org_id == org.id, Job.status.in_([s.value for s in SUSPENDABLE])).limit(limit)).all()
            for job_id in waiting:
                suspended += transitions.move(
                    session, job_id, JobStatus.SUSPENDED,
                    f"Suspended: the org's usage of {billed:,} units is over its budget of {org.budget_units:,}",
                    level="WARN", payload={"billed_units": billed, "budget_units": org.budget_units})
    suspended_orgs = session.scalars(select(Job.org_id).where(Job.status == JobStatus.SUSPENDED.value).distinct()).all()
    for org_id in suspended_orgs:
        found = session.get(Org, org_id)
        if found is None or (found.budget_units is not None and _billed(session, org_id) > found.budget_units):
            continue
        for job_id in session.scalars(select(Job.id).where(Job.org_id == org_id,
                                                           Job.status == JobStatus.SUSPENDED.value).limit(limit)):
            resumed += transitions.move(session, job_id, JobStatus.PENDING, "Resumed: the org is within its budget",
                                          event_type="job.resumed")
    return suspended, resumed
