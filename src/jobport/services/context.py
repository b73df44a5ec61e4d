"""The application context: settings and the backends every service needs. `server.py` builds it
once at start (the composition root); services receive it and never build backends themselves."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from jobport.blobs.base import BlobStore
from jobport.blobs.signing import UrlSigner
from jobport.config import Settings
from jobport.pipelines.registry import Registry
from jobport.services.transitions import Transitions


class SchedulerControl(Protocol):
    """What services may ask of the scheduler: wake it for new work, stop a job's running work."""

    def wake(self) -> None: ...

    def cancel(self, job_id: str) -> None:
        """Stop the job's running inputs now; returns once they are stopped."""
        ...

    @property
    def state(self) -> str:
        """`running` (this process schedules) or `standby` (another scheduler holds the lock)."""
        ...


def write_secret_file(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content + "\n")
    os.chmod(path, 0o600)


def load_or_create_secret(settings: Settings) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.home / "secret.key"
    if path.exists():
        return path.read_text().strip().encode()
    value = secrets.token_hex(32)
    write_secret_file(path, value)
    return value.encode()


@dataclass
class AppContext:
    settings: Settings
    db: Engine
    sessions: sessionmaker[Session]
    blobs: BlobStore
    signer: UrlSigner
    registry: Registry
    transitions: Transitions
    scheduler: SchedulerControl | None = field(default=None)

    def wake_scheduler(self) -> None:
        if self.scheduler is not None:
            self.scheduler.wake()

    def stop_running(self, job_id: str) -> None:
        """Stop a job's running work (after its cancel or deletion committed)."""
        if self.scheduler is not None:
            self.scheduler.cancel(job_id)

    @property
    def scheduler_state(self) -> str:
        return self.scheduler.state if self.scheduler is not None else "off"
