"""How API replicas reach the active scheduler without calling it in-process: PostgreSQL
LISTEN/NOTIFY. A replica's create, cancel or retry commits to the database, then `PgNotifier`
sends `NOTIFY jobport_wake` (new work) or `NOTIFY jobport_cancel, '<job id>'` (stop its running
work); the scheduler processes run a `PgListener` thread that turns them into `wake()` and
`cancel(job_id)` calls. A notification that is lost (listener reconnecting) costs only latency: the
scheduler also polls on its tick, and stops the running inputs of ended jobs every half second.

`SchedulerLink` is the `SchedulerControl` the services get: the in-process scheduler when it is the
active one, else the notifier; on SQLite (one process) it is the in-process scheduler alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

import structlog
from sqlalchemy import Engine, text

log = structlog.get_logger("jobport.wakeups")

WAKE_CHANNEL = "jobport_wake"
CANCEL_CHANNEL = "jobport_cancel"
RECONNECT_SECONDS = 2.0


class LocalScheduler(Protocol):
    has_lock: bool
    problem: str | None

    def wake(self) -> None: ...

    def cancel(self, job_id: str, timeout: float = 5.0, wait: bool = True) -> None: ...

    @property
    def state(self) -> str: ...


class PgNotifier:
    """Sends the notifications; each is one short autocommit statement on a pooled connection."""

    def __init__(self, db: Engine) -> None:
        self._db = db

    def _notify(self, channel: str, payload: str) -> None:
        try:
            with self._db.connect() as conn:
                conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload})
                conn.commit()
        except Exception as err:  # the write is committed; the scheduler's own tick picks it up
            log.warning("scheduler notification not sent", channel=channel, error=str(err))

    def wake(self) -> None:
        self._notify(WAKE_CHANNEL, "")

    def cancel(self, job_id: str) -> None:
        self._notify(CANCEL_CHANNEL, job_id)


class SchedulerLink:
    """What services call to wake the scheduler or stop a job's running work, wherever it runs."""

    def __init__(self, local: LocalScheduler | None, notifier: PgNotifier | None) -> None:
        self._local = local
        self._notifier = notifier

    def _here(self) -> LocalScheduler | None:
        """The in-process scheduler when it is the one to call (active, or the only way there is)."""
        if self._local is not None and (self._local.has_lock or self._notifier is None):
            return self._local
        return None

    def wake(self) -> None:
        if (local := self._here()) is not None:
            local.wake()
        elif self._notifier is not None:
            self._notifier.wake()

    def cancel(self, job_id: str) -> None:
        if (local := self._here()) is not None:
            local.cancel(job_id)
        elif self._notifier is not None:
            self._notifier.cancel(job_id)

    @property
    def state(self) -> str:
        """The in-process scheduler's state, or `remote` when this process runs none."""
        if self._local is not None:
            return self._local.state
        return "remote"

    @property
    def problem(self) -> str | None:
        return self._local.problem if self._local is not None else None


class PgListener:
    """A daemon thread LISTENing on a dedicated connection; reconnects after errors."""

    def __init__(self, url: str, on_wake: Callable[[], None], on_cancel: Callable[[str], None]) -> None:
        self._url = url
        self._on_wake = on_wake
        self._on_cancel = on_cancel
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="jobport-pg-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen()
            except Exception as err:
                self.listening.clear()
                log.warning("scheduler listener lost its connection; reconnecting", error=str(err))
                self._stopping.wait(RECONNECT_SECONDS)

    def _listen(self) -> None:
        import psycopg

        with psycopg.connect(self._url, autocommit=True) as conn:
            conn.execute(f"LISTEN {WAKE_CHANNEL}")
            conn.execute(f"LISTEN {CANCEL_CHANNEL}")
            self.listening.set()
            self._on_wake()  # anything sent while no one listened
            while not self._stopping.is_set():
                for note in conn.notifies(timeout=1.0):
                    if note.channel == CANCEL_CHANNEL and note.payload:
                        self._on_cancel(note.payload)
                    else:
                        self._on_wake()


def psycopg_url(sqlalchemy_url: str) -> str:
    """A libpq URI from the SQLAlchemy URL (`postgresql+psycopg://` -> `postgresql://`)."""
    from sqlalchemy.engine import make_url

    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
