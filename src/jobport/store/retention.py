"""Retention queries: per-org overrides of how long finished jobs are kept (`org_retention`), and
the finished jobs of an org older than a cutoff (the retention service deletes them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, and_, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from jobport.domain.statuses import TERMINAL
from jobport.store.tables import Base, Job, Org


class OrgRetention(Base):
    """An org's own retention (`job_days`; 0 keeps its jobs forever) in place of the setting."""

    __tablename__ = "org_retention"

    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True)
    job_days: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def overrides(session: Session) -> dict[str, float]:
    return dict(session.execute(select(OrgRetention.org_id, OrgRetention.job_days)).all())


def set_override(session: Session, org_id: str, job_days: float | None, now: datetime) -> None:
    """Set (or with None remove) the org's override."""
    row = session.get(OrgRetention, org_id)
    if job_days is None:
        if row is not None:
            session.delete(row)
        return
    if row is None:
        session.add(OrgRetention(org_id=org_id, job_days=job_days, updated_at=now))
    else:
        row.job_days, row.updated_at = job_days, now


def org_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Org.id)))


def finished_before(session: Session, org_id: str, cutoff: datetime, limit: int) -> list[str]:
    """Ids of the org's finished jobs that ended (or, without an end time, were created) before
    `cutoff`, oldest first, locked on PostgreSQL (a retry cannot revive one while it is deleted;
    SQLite's writer lock does the same). Non-terminal jobs are never returned, however old."""
    ended = [s.value for s in TERMINAL]
    when = Job.completed_at
    old = or_(and_(when.is_not(None), when < cutoff), and_(when.is_(None), Job.created_at < cutoff))
    query = (select(Job.id).where(Job.org_id == org_id, Job.status.in_(ended), old)
             .order_by(Job.created_at).limit(limit).with_for_update(skip_locked=True))
    return list(session.scalars(query))
