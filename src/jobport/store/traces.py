"""What a job's input progress traces are made of: its finished tracked inputs, its `<kind>.success`
events (items per input) and its progress entries, each with its time; and the newest row of
each, which fingerprints the traces (they change only when one of these is added)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jobport.domain.statuses import InputStatus
from jobport.store.tables import JobEvent, JobInput, JobProgress

FINISHED = (InputStatus.COMPLETED.value, InputStatus.FAILED.value)
READ_BATCH = 2000


def fingerprint(session: Session, job_id: str) -> tuple[int | None, int | None, datetime | None]:
    """(newest event id, newest progress id, newest time of an event or progress entry)."""
    event_id, event_at = session.execute(
        select(func.max(JobEvent.id), func.max(JobEvent.created_at)).where(JobEvent.job_id == job_id)).one()
    progress_id, progress_at = session.execute(
        select(func.max(JobProgress.id), func.max(JobProgress.created_at)).where(JobProgress.job_id == job_id)).one()
    times = [t for t in (event_at, progress_at) if t is not None]
    return event_id, progress_id, max(times) if times else None


def finished_inputs(session: Session, job_id: str) -> Iterator[tuple[str, datetime | None]]:
    """(status, completed_at) of the job's tracked inputs that completed or failed."""
    rows = session.execute(select(JobInput.status, JobInput.completed_at)
                           .where(JobInput.job_id == job_id, JobInput.tracked.is_(True),
                                  JobInput.status.in_(FINISHED))
                           .execution_options(yield_per=READ_BATCH))
    yield from rows


def success_events(session: Session, job_id: str) -> Iterator[tuple[str | None, str, dict[str, Any] | None, datetime]]:
    """(input id, event type, payload, created_at) of the job's `<kind>.success` events, in order."""
    rows = session.execute(select(JobEvent.input_id, JobEvent.event_type, JobEvent.payload, JobEvent.created_at)
                           .where(JobEvent.job_id == job_id, JobEvent.event_type.like("%.success"))
                           .order_by(JobEvent.id).execution_options(yield_per=READ_BATCH))
    yield from rows


def progress_entries(session: Session, job_id: str) -> Iterator[tuple[str | None, str, str, dict[str, Any], datetime]]:
    """(input id, kind, step, metrics, created_at) of the job's progress entries, in order."""
    rows = session.execute(select(JobProgress.input_id, JobProgress.kind, JobProgress.step, JobProgress.metrics,
                                  JobProgress.created_at)
                           .where(JobProgress.job_id == job_id).order_by(JobProgress.id)
                           .execution_options(yield_per=READ_BATCH))
    yield from rows
