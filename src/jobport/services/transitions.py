"""Job status changes: the one way a job's status moves, and the reactions wired to every move.

A move is checked against the allowed-transition table (`domain.statuses.ALLOWED_SOURCES`), written
as one guarded `UPDATE ... WHERE status IN (sources) RETURNING id` (a job another writer moved
first is left alone and reported as not moved), recorded as one event per moved job (one bulk INSERT), and followed,
in the same transaction, by the reactions given at composition (`server.py`): today the callback
outbox, so a job's terminal status and its callback commit together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import func
from sqlalchemy.orm import Session

from jobport.domain.statuses import ALLOWED_SOURCES, STAMPED_AT, JobStatus, Step
from jobport.store import jobs as job_store
from jobport.store.db import utcnow
from jobport.store.tables import Job

# (session, status the jobs entered, ids of the jobs that moved) -> None; runs inside the moving
# transaction, after the events are added. A reaction that raises rolls the move back.
Reaction = Callable[[Session, JobStatus, Sequence[str]], None]


class Transitions:
    """Moves jobs between statuses; `reactions` run after every successful move."""

    def __init__(self, reactions: Iterable[Reaction] = ()) -> None:
        self._reactions = tuple(reactions)

    def move(self, session: Session, job_id: str, target: JobStatus, reason: str, *, level: str = "INFO",
             event_type: str | None = None, payload: Mapping[str, Any] | None = None,
             values: Mapping[str, Any] | None = None) -> bool:
        """Move one job; False if its status does not allow the move (someone moved it first)."""
        details = {job_id: (reason, payload)} if payload is not None else None
        return bool(self.move_many(session, [job_id], target, reason, level=level, event_type=event_type,
                                   details=details, values=values))

    def move_many(self, session: Session, job_ids: Sequence[str], target: JobStatus, reason: str, *,
                  level: str = "INFO", event_type: str | None = None,
                  details: Mapping[str, tuple[str, Mapping[str, Any] | None]] | None = None,
                  values: Mapping[str, Any] | None = None) -> list[str]:
        """Move many jobs in one guarded UPDATE; the ids that moved, in the order given.
        `details[job_id] = (reason, payload)` when a job's event differs from the shared `reason`."""
        step = Step(target, reason, level=level, event_type=event_type, details=details)
        return self.move_many_via(session, job_ids, [step], values=values)

    def move_many_via(self, session: Session, job_ids: Sequence[str], steps: Sequence[Step], *,
                      values: Mapping[str, Any] | None = None) -> list[str]:
        """Move many jobs through `steps` (e.g. ADMITTED then RUNNING) in ONE guarded UPDATE to the
        last step's status: each step is checked against the table, the guard is the first step's
        sources, every step stamps its timestamp and records its event, and the reactions run for
        each step in order, as if the jobs had moved one step at a time. One UPDATE instead of one
        per step: each status write of `jobs` touches its status indexes and the counters' trigger."""
        if not job_ids or not steps:
            return []
        for before, after in zip(steps, steps[1:], strict=False):
            if before.target not in ALLOWED_SOURCES[after.target]:
                raise ValueError(f"no move from {before.target.value} to {after.target.value}")
        now = utcnow()
        fields: dict[str, Any] = {"status": steps[-1].target.value, "updated_at": now, **(values or {})}
        for step in steps:
            stamp = STAMPED_AT.get(step.target)
            if stamp == "started_at":
                fields[stamp] = func.coalesce(Job.started_at, now)
            elif stamp:
                fields[stamp] = now
        changed = job_store.update_status(session, job_ids, ALLOWED_SOURCES[steps[0].target], fields)
        moved = [job_id for job_id in job_ids if job_id in changed]
        events = []
        for job_id in moved:
            for step in steps:
                message, payload = (step.details or {}).get(job_id, (step.reason, None))
                events.append({"job_id": job_id, "level": step.level,
                               "event_type": step.event_type or f"job.{step.target.value.lower()}",
                               "message": message, "payload": dict(payload) if payload is not None else None})
        job_store.add_events(session, events)
        if moved:
            for step in steps:
                for react in self._reactions:
                    react(session, step.target, moved)
        return moved
