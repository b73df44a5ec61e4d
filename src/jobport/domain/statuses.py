"""Job and input statuses and the allowed moves between them: the state machine's rules.

The services layer applies a move with a guarded UPDATE (`... WHERE status IN (sources)`), so a
move that lost a race changes nothing. Each surface spells the internal statuses its own way
(`wire_status`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    PARKED = "PARKED"
    PENDING = "PENDING"
    ADMITTED = "ADMITTED"
    RUNNING = "RUNNING"
    PREEMPTED = "PREEMPTED"
    SUSPENDED = "SUSPENDED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


class InputStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    REFERENCE = "reference"


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.EXPIRED})
QUEUED = frozenset({JobStatus.PENDING, JobStatus.PREEMPTED})
ACTIVE = frozenset({JobStatus.ADMITTED, JobStatus.RUNNING})

# target status -> statuses it may be entered from
ALLOWED_SOURCES: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PARKED: frozenset(),  # only entered at creation
    JobStatus.PENDING: frozenset(
        {JobStatus.PARKED, JobStatus.SUSPENDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.EXPIRED}),
    JobStatus.ADMITTED: frozenset({JobStatus.PENDING, JobStatus.PREEMPTED}),
    JobStatus.RUNNING: frozenset({JobStatus.ADMITTED}),
    JobStatus.PREEMPTED: frozenset({JobStatus.ADMITTED, JobStatus.RUNNING}),
    JobStatus.SUSPENDED: frozenset({JobStatus.PENDING, JobStatus.ADMITTED, JobStatus.RUNNING, JobStatus.PREEMPTED}),
    JobStatus.COMPLETED: frozenset({JobStatus.ADMITTED, JobStatus.RUNNING}),
    JobStatus.FAILED: frozenset({JobStatus.PENDING, JobStatus.ADMITTED, JobStatus.RUNNING, JobStatus.PREEMPTED}),
    JobStatus.CANCELLED: frozenset(
        {JobStatus.PARKED, JobStatus.PENDING, JobStatus.ADMITTED, JobStatus.RUNNING, JobStatus.PREEMPTED,
         JobStatus.SUSPENDED}
    ),
    JobStatus.EXPIRED: frozenset(
        {JobStatus.PARKED, JobStatus.PENDING, JobStatus.ADMITTED, JobStatus.RUNNING, JobStatus.PREEMPTED,
         JobStatus.SUSPENDED}
    ),
}

# Retry re-queues only a job that ended without finishing its work.
RETRYABLE = frozenset({JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.EXPIRED})
CANCELLABLE = ALLOWED_SOURCES[JobStatus.CANCELLED]


# The timestamp a move to a status sets (`started_at` only the first time: a re-run keeps it).
STAMPED_AT: dict[JobStatus, str] = {
    JobStatus.RUNNING: "started_at",
    JobStatus.COMPLETED: "completed_at",
    JobStatus.FAILED: "failed_at",
    JobStatus.EXPIRED: "failed_at",
    JobStatus.CANCELLED: "cancelled_at",
}


def can_move(source: JobStatus, target: JobStatus) -> bool:
    return source in ALLOWED_SOURCES[target]


_ARCHETYPE = {
    JobStatus.PARKED: "PENDING",
    JobStatus.SUSPENDED: "PENDING",
    JobStatus.EXPIRED: "FAILED",
}


def archetype_status(status: str) -> str:
    s = JobStatus(status)
    return _ARCHETYPE.get(s, s.value)


_GRAVITY = {
    JobStatus.COMPLETED: "success",
    JobStatus.FAILED: "error",
    JobStatus.CANCELLED: "fail",
    JobStatus.EXPIRED: "fail",
}


def gravity_status(status: str) -> str:
    """Gravity's client enum: incomplete (anything not finished), success, error, fail."""
    return _GRAVITY.get(JobStatus(status), "incomplete")


_SUPERAI = {
    JobStatus.PARKED: "PENDING",
    JobStatus.PENDING: "SCHEDULED",
    JobStatus.ADMITTED: "SCHEDULED",
    JobStatus.PREEMPTED: "SCHEDULED",
    JobStatus.RUNNING: "IN_PROGRESS",
    JobStatus.CANCELLED: "CANCELED",
}


def superai_status(status: str) -> str:
    """super.AI's words: PENDING (parked), SCHEDULED, IN_PROGRESS, SUSPENDED, COMPLETED, FAILED, CANCELED, EXPIRED."""
    s = JobStatus(status)
    return _SUPERAI.get(s, s.value)


def from_superai_status(word: str) -> list[JobStatus]:
    """Internal statuses a super.AI status word covers (REVIEWED is COMPLETED + reviewed)."""
    word = word.strip().upper()
    if word == "REVIEWED":
        return [JobStatus.COMPLETED]
    matches = [s for s in JobStatus if superai_status(s.value) == word]
    if not matches:
        raise ValueError(word)
    return matches


@dataclass(frozen=True)
class Step:
    """One status a move goes to, with its event: `reason` (or `details[job_id] = (reason, payload)`
    for jobs whose event differs), level and type (`job.<status>` by default)."""

    target: JobStatus
    reason: str
    level: str = "INFO"
    event_type: str | None = None
    details: Mapping[str, tuple[str, Mapping[str, Any] | None]] | None = None
