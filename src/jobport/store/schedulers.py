"""Scheduler heartbeats: each scheduler process reports here every few seconds whether it is the
active one (holds the scheduler lock), standing by, or waiting for its executor; `/readyz` of any
replica reads the newest reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from jobport.store.db import as_utc, utcnow
from jobport.store.tables import SchedulerHeartbeat

PRUNE_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Beat:
    instance_id: str
    hostname: str
    pid: int
    state: str
    executor: str
    problem: str | None
    beat_at: datetime

    def age_seconds(self, now: datetime) -> float:
        return (now - as_utc(self.beat_at)).total_seconds()


def report(session: Session, *, instance_id: str, hostname: str, pid: int, state: str, executor: str,
           problem: str | None, started_at: datetime) -> None:
    """Insert or refresh this process's row (one UPDATE; an INSERT the first time)."""
    now = utcnow()
    moved = session.execute(
        update(SchedulerHeartbeat).where(SchedulerHeartbeat.instance_id == instance_id)
        .values(state=state, executor=executor, problem=problem, beat_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not moved:
        session.add(SchedulerHeartbeat(instance_id=instance_id, hostname=hostname[:255], pid=pid, state=state,
                                       executor=executor, problem=problem, started_at=started_at, beat_at=now))
        session.execute(delete(SchedulerHeartbeat).where(SchedulerHeartbeat.beat_at < now - PRUNE_AFTER))


def recent(session: Session, within: timedelta) -> list[Beat]:
    """Reports newer than `within`, newest first."""
    rows = session.scalars(select(SchedulerHeartbeat).where(SchedulerHeartbeat.beat_at >= utcnow() - within)
                           .order_by(SchedulerHeartbeat.beat_at.desc()))
    return [Beat(r.instance_id, r.hostname, r.pid, r.state, r.executor, r.problem, r.beat_at) for r in rows]
