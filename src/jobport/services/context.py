"""The application context: settings and the backends every service needs. `server.py` builds it
once at start (the composition root); services receive it and never build backends themselves."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from jobport.blobs.base import BlobStore
from jobport.blobs.signing import UrlSigner
from jobport.config import Settings
from jobport.pipelines.registry import Registry
from jobport.services.limits import LimitState
from jobport.services.telemetry import Telemetry
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


class TtlCache:
    """A small thread-safe map whose entries expire `ttl` seconds after they were put (hand-written:
    a dict and a lock are all it needs; size is bounded by dropping the oldest entries)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get(self, key: Any, ttl: float) -> Any | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None or time.monotonic() - found[0] > ttl:
                return None
            return found[1]

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


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
    limit_state: LimitState = field(default_factory=LimitState)  # this process's rate and fetch counts
    key_cache: TtlCache = field(default_factory=TtlCache)  # API key lookups (services.auth)
    # app versions by (app id, app updated_at, version label) (services.jobs.app_template)
    app_versions: TtlCache = field(default_factory=lambda: TtlCache(1024))
    telemetry: Telemetry = field(default_factory=Telemetry)  # this process's metrics (services.telemetry)
    draining: threading.Event = field(default_factory=threading.Event)  # set on SIGTERM: /readyz answers 503
    # run at shutdown after the background services stopped (e.g. finish training follow-ups)
    shutdown_hooks: list[Callable[[], None]] = field(default_factory=list)

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
