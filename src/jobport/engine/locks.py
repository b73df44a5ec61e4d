"""The scheduler lock: only one scheduler runs per database.

SQLite (embedded): an exclusive `flock` on `<home>/scheduler.lock`. PostgreSQL: a session-level
advisory lock held on a dedicated connection for the scheduler's lifetime. PostgreSQL releases it
when that session ends: at once when the scheduler process dies, and within ~11 s when its host
vanishes (the session's TCP keepalives are shortened for that). `still_held()` lets the holder find
out that its session is gone, so that it stops before a successor's work is disturbed.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy import Connection, Engine, text

_ADVISORY_KEY = 0x6A6F62706F7274  # "jobport"
# server-side keepalives of the lock session: idle 5 s, then 3 probes 2 s apart
_KEEPALIVES = ("SET tcp_keepalives_idle = 5", "SET tcp_keepalives_interval = 2", "SET tcp_keepalives_count = 3")


class SchedulerLock:
    def __init__(self, db: Engine, home: Path) -> None:
        self._db = db
        self._home = home
        self._fd: int | None = None
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        if self._db.dialect.name == "postgresql":
            conn = self._db.connect()
            for statement in _KEEPALIVES:  # no effect (and no error) on a Unix-socket connection
                conn.execute(text(statement))
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _ADVISORY_KEY}).scalar()
            conn.commit()
            if got:
                self._conn = conn
                return True
            conn.close()
            return False
        self._home.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._home / "scheduler.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def still_held(self) -> bool:
        if self._conn is None:
            return self._fd is not None
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
            return True
        except Exception:
            return False

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_KEY})
                self._conn.commit()
            except Exception:  # the session is gone, and the lock with it
                pass
            finally:
                self._conn.close()
                self._conn = None
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
