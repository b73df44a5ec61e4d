"""Database engine, sessions and schema migration.

SQLite runs in WAL mode with a busy timeout so the API threads and the scheduler thread can write
concurrently; PostgreSQL is used as is. `migrate()` brings any database to the newest Alembic
revision and is called at server start and by the test fixtures; on PostgreSQL, processes that
start together (API replicas, schedulers) take turns through an advisory lock (`startup_lock`).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import orjson
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from jobport.domain.times import as_utc  # noqa: F401  (re-exported: repositories and services use it)
from jobport.store.sqlite_types import use_fast_datetimes

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
WRITE_OPTION = "jobport_write"
_STARTUP_LOCK_KEY = 0x6A6F62706F7273  # another key than the scheduler's (engine/locks.py)
_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()


def utcnow() -> datetime:
    return datetime.now(UTC)


def _json_dumps(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# JSON columns through orjson: a chunk of 256 finished jobs writes ~1,500 JSON values (event
# payloads, progress metrics, parameters), and the stdlib encoder was a tenth of the scheduler's time
_JSON = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}


def _make_private(path: Path) -> None:
    """Create the SQLite file readable by its owner only (0600; it holds webhook secrets and key
    hashes); SQLite gives the `-wal` and `-shm` files the database file's mode. A file left with
    wider modes by an earlier version is narrowed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and file.stat().st_mode & 0o077:
            file.chmod(0o600)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            _make_private(Path(path))
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **_JSON)
        use_fast_datetimes(engine)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - trivial
            # Units of work (`transaction()`) take the write lock at BEGIN: a deferred transaction
            # that reads and then writes can fail with "database is locked" instead of waiting for
            # the busy timeout. Read-only sessions begin deferred and run beside writers (WAL).
            immediate = conn.get_execution_options().get(WRITE_OPTION)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        # SQLite has one writer at a time, and a writer that finds the lock taken sleeps in SQLite's
        # busy handler in steps of up to 100 ms: with 8 concurrent create requests most of their
        # time went there (py-spy). Writers of this process queue on a Python lock instead and go
        # the moment it is free; other processes (the CLI) still meet the busy timeout.
        _WRITE_LOCKS[engine] = threading.RLock()

        # Let SQLAlchemy's "begin" event above issue BEGIN itself (pysqlite's own is disabled).
        @event.listens_for(engine, "connect", insert=True)
        def _no_auto_begin(dbapi_conn, _record):  # pragma: no cover - trivial
            dbapi_conn.isolation_level = None

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, **_JSON)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error. On SQLite, the units of work of
    one process take turns through a lock of their own before BEGIN IMMEDIATE."""
    lock = _WRITE_LOCKS.get(factory.kw.get("bind"))
    if lock is not None:
        lock.acquire()
    session = factory()
    try:
        session.connection(execution_options={WRITE_OPTION: True})
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
        if lock is not None:
            lock.release()


def migrate(engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


@contextmanager
def startup_lock(engine: Engine) -> Iterator[None]:
    """Hold an exclusive PostgreSQL advisory lock while the block runs, so that processes starting
    at once migrate and bootstrap one after the other (the second finds everything done). SQLite:
    the embedded server is one process; nothing to hold."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _STARTUP_LOCK_KEY})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _STARTUP_LOCK_KEY})
            conn.commit()


def schema_revision(engine: Engine) -> tuple[str | None, str]:
    """(the database's Alembic revision or None, the newest revision this code knows)."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current, head or ""
