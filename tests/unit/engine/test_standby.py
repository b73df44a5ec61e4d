"""Several schedulers on one PostgreSQL database: one is active (the advisory lock), the others
stand by, report heartbeats, and take over when the active one dies; a scheduler whose lock session
is gone stops its workers at its next lock check (fencing). Replicas wake the active scheduler and
stop a job's running work through LISTEN/NOTIFY."""

from __future__ import annotations

import threading

from sqlalchemy import text

from jobport.engine.wakeups import PgListener, PgNotifier, psycopg_url
from jobport.server import build_context, build_scheduler, prepare
from jobport.store import schedulers as heartbeats
from jobport.store.db import transaction
from unit.engine.conftest import settings_for


def _ctx(url, home):
    ctx = build_context(settings_for(home, database_url=url))
    prepare(ctx)
    return ctx


def test_one_active_scheduler_others_stand_by_then_take_over(own_pg_database, tmp_path):
    first_ctx, second_ctx = _ctx(own_pg_database, tmp_path / "a"), _ctx(own_pg_database, tmp_path / "b")
    first, second = build_scheduler(first_ctx), build_scheduler(second_ctx)
    try:
        assert first.take_lock()
        assert not second.take_lock()
        first._heartbeat(force=True)
        second._heartbeat(force=True)
        assert (first.state, second.state) == ("running", "standby")
        with first_ctx.sessions() as session:
            states = {b.instance_id: b.state for b in heartbeats.recent(session, heartbeats.PRUNE_AFTER)}
        assert states == {first.instance_id: "active", second.instance_id: "standby"}

        first.lock.release()  # its process died: PostgreSQL ends the session and the lock with it
        assert second.take_lock() and second.state == "running"
    finally:
        for scheduler in (first, second):
            scheduler.release_lock()
        first_ctx.db.dispose()
        second_ctx.db.dispose()


def test_a_scheduler_whose_lock_session_died_stops_its_workers(own_pg_database, tmp_path):
    ctx = _ctx(own_pg_database, tmp_path)
    scheduler = build_scheduler(ctx)
    try:
        assert scheduler.take_lock()
        assert scheduler.lock.still_held()
        with ctx.db.connect() as conn:  # an operator (or a network partition) ends the lock's session
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                              "AND pid <> pg_backend_pid()"))
            conn.commit()
        scheduler._check_lock()
        assert not scheduler.has_lock and scheduler.state == "standby"
        other = build_scheduler(ctx)
        assert other.take_lock()  # a successor can take over at once
        other.release_lock()
    finally:
        ctx.db.dispose()


def test_notifications_wake_and_cancel_across_processes(own_pg_database, tmp_path):
    ctx = _ctx(own_pg_database, tmp_path)
    woken, cancelled = threading.Event(), []
    got_cancel = threading.Event()

    def on_cancel(job_id: str) -> None:
        cancelled.append(job_id)
        got_cancel.set()

    listener = PgListener(psycopg_url(ctx.settings.resolved_database_url), woken.set, on_cancel)
    listener.start()
    try:
        assert listener.listening.wait(10)
        woken.clear()
        notifier = PgNotifier(ctx.db)
        notifier.wake()
        assert woken.wait(2), "NOTIFY jobport_wake reached the listener"
        notifier.cancel("job_123")
        assert got_cancel.wait(2) and cancelled == ["job_123"]
    finally:
        listener.stop()
        ctx.db.dispose()


def test_heartbeats_record_state_and_problem(own_pg_database, tmp_path):
    ctx = _ctx(own_pg_database, tmp_path)
    try:
        scheduler = build_scheduler(ctx)
        scheduler.problem = "Ray cluster at 127.0.0.2:1 is unreachable"
        scheduler._heartbeat(force=True)
        with transaction(ctx.sessions) as session:
            (beat,) = heartbeats.recent(session, heartbeats.PRUNE_AFTER)
        assert beat.state == "waiting" and beat.problem == scheduler.problem and beat.executor == "inline"
    finally:
        ctx.db.dispose()
