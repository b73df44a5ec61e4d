"""What the engine needs from the layers above it, as protocols: the engine moves job statuses
through the transitions service (`services.transitions.Transitions`) without importing it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy.orm import Session

from jobport.domain.statuses import JobStatus, Step


class JobMoves(Protocol):
    def move(self, session: Session, job_id: str, target: JobStatus, reason: str, *, level: str = "INFO",
             event_type: str | None = None, payload: Mapping[str, Any] | None = None,
             values: Mapping[str, Any] | None = None) -> bool: ...

    def move_many(self, session: Session, job_ids: Sequence[str], target: JobStatus, reason: str, *,
                  level: str = "INFO", event_type: str | None = None,
                  details: Mapping[str, tuple[str, Mapping[str, Any] | None]] | None = None,
                  values: Mapping[str, Any] | None = None) -> list[str]: ...

    def move_many_via(self, session: Session, job_ids: Sequence[str], steps: Sequence[Step], *,
                      values: Mapping[str, Any] | None = None) -> list[str]: ...
