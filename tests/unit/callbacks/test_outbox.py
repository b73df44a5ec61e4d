"""The callback outbox and deliverer on a real (SQLite) database with a fake clock and a fake
sender: enqueue is transactional, claims are leased (never two at once; expired leases are taken
again), results are recorded guarded, retries follow the schedule, refused URLs fail at once."""

import os
import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from helpers import make_settings
from jobport.callbacks import outbox
from jobport.callbacks.deliverer import CallbackDeliverer, Outcome
from jobport.callbacks.tables import CallbackAttempt, CallbackDelivery
from jobport.config import Settings
from jobport.domain.errors import Conflict, NotFound
from jobport.store.db import as_utc, make_engine, make_session_factory, migrate, transaction, utcnow
from jobport.store.orgs import get_or_create_org


class FakeClock:
    def __init__(self) -> None:
        self.now = utcnow() + timedelta(seconds=1)

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeSender:
    """Answers from a script of Outcomes (the last one repeats); records what was sent."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[tuple[str, bytes, dict]] = []

    def __call__(self, url, body, headers, timeout):
        self.sent.append((url, body, headers))
        return self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]


@pytest.fixture
def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/cb.db")
    migrate(engine)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def pg_sessions():
    """A fresh PostgreSQL database of its own (JOBPORT_TEST_DATABASE_URL; skipped without it)."""
    base_url = os.environ.get("JOBPORT_TEST_DATABASE_URL")  # tests/conftest.py fills in the local default
    if not base_url or base_url == "off":
        pytest.skip("no PostgreSQL (JOBPORT_TEST_DATABASE_URL is unset or off)")
    import psycopg

    base = base_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"jobport_cb_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(Settings(database_url=f"{base.rpartition('/')[0]}/{name}").resolved_database_url)
    try:
        migrate(engine)
        yield make_session_factory(engine)
    finally:
        engine.dispose()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def org_id(sessions):
    with transaction(sessions) as s:
        return get_or_create_org(s, "o").id


def _settings(tmp_path, **kw):
    base = {"home": tmp_path, "callback_max_attempts": 4, "callback_initial_backoff_seconds": 10,
                "callback_max_backoff_seconds": 40, "callback_allow_private_networks": True}
    return make_settings(**{**base, **kw})


def _enqueue(sessions, org_id, n=1, url="http://127.0.0.1:9/hook"):
    ids = []
    with transaction(sessions) as s:
        for i in range(n):
            ids.append(outbox.enqueue(s, org_id=org_id, job_id=f"job_{i}", surface="archetype",
                                      event_type="job.completed", url=url, payload={"type": "job.completed", "i": i}))
    return ids


def _row(sessions, delivery_id):
    with sessions() as s:
        return s.get(CallbackDelivery, delivery_id)


def _attempts(sessions, delivery_id):
    with sessions() as s:
        return outbox.attempts_of(s, delivery_id)


def test_enqueue_commits_and_rolls_back_with_the_caller(sessions, org_id):
    (kept,) = _enqueue(sessions, org_id)
    with pytest.raises(RuntimeError), transaction(sessions) as s:
        outbox.enqueue(s, org_id=org_id, job_id="job_x", surface="archetype", event_type="job.failed",
                       url="http://x.example/h", payload={})
        raise RuntimeError("the job's move failed")
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(CallbackDelivery)) == 1
    row = _row(sessions, kept)
    assert row.id.startswith("cbk_") and row.message_id.startswith("msg_")
    assert row.status == "pending" and row.attempts == 0 and row.next_attempt_at is not None


def test_a_claim_is_leased_and_taken_again_after_the_lease(sessions, org_id):
    _enqueue(sessions, org_id, 3)
    clock = FakeClock()
    lease = clock.now + timedelta(seconds=40)
    with transaction(sessions) as s:
        first = outbox.claim_due(s, now=clock.now, lease_until=lease, limit=2)
    assert len(first) == 2 and all(c.attempt == 1 for c in first)
    with transaction(sessions) as s:
        second = outbox.claim_due(s, now=clock.now, lease_until=lease, limit=10)
    assert len(second) == 1 and second[0].id not in {c.id for c in first}
    with transaction(sessions) as s:
        assert outbox.claim_due(s, now=clock.now, lease_until=lease, limit=10) == []
        assert outbox.next_due(s) == as_utc(lease)
    # the process holding the leases died: once they expire the rows are taken again
    clock.advance(41)
    with transaction(sessions) as s:
        again = outbox.claim_due(s, now=clock.now, lease_until=clock.now + timedelta(seconds=40), limit=10)
    assert {c.id for c in again} == {c.id for c in first + second}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_claimers_never_share_a_row(request, backend):
    sessions = request.getfixturevalue("sessions" if backend == "sqlite" else "pg_sessions")
    with transaction(sessions) as s:
        org_id = get_or_create_org(s, "o").id
    ids = _enqueue(sessions, org_id, 30)
    clock = FakeClock()
    taken: list[list[str]] = [[], [], []]

    def claimer(k):
        while True:
            with transaction(sessions) as s:
                got = outbox.claim_due(s, now=clock.now, lease_until=clock.now + timedelta(seconds=60), limit=3)
            if not got:
                return
            taken[k] += [c.id for c in got]

    threads = [threading.Thread(target=claimer, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    everything = [i for part in taken for i in part]
    assert sorted(everything) == sorted(ids)  # each row claimed exactly once


def test_a_stale_result_loses_to_the_newer_claim(sessions, org_id):
    (delivery_id,) = _enqueue(sessions, org_id)
    clock = FakeClock()
    with transaction(sessions) as s:
        (stale,) = outbox.claim_due(s, now=clock.now, lease_until=clock.now + timedelta(seconds=5), limit=1)
    clock.advance(6)
    with transaction(sessions) as s:
        (fresh,) = outbox.claim_due(s, now=clock.now, lease_until=clock.now + timedelta(seconds=5), limit=1)
    with transaction(sessions) as s:
        assert outbox.record(s, fresh, status="delivered", started_at=clock.now, duration_ms=3, status_code=200,
                             error=None, next_attempt_at=None)
    with transaction(sessions) as s:
        assert not outbox.record(s, stale, status="pending", started_at=clock.now, duration_ms=9000,
                                 status_code=None, error="timeout", next_attempt_at=clock.now)
    row = _row(sessions, delivery_id)
    assert row.status == "delivered" and row.attempts == 1 and row.last_status_code == 200
    assert len(_attempts(sessions, delivery_id)) == 2  # both tries are in the log


def test_retries_follow_the_schedule_then_fail(sessions, org_id, tmp_path):
    (delivery_id,) = _enqueue(sessions, org_id)
    clock = FakeClock()
    sender = FakeSender(Outcome(503, "HTTP 503: busy"))
    deliverer = CallbackDeliverer(_settings(tmp_path), sessions, clock=clock, rand=lambda: 0.5, sender=sender)
    expected = [10, 20, 40]
    for attempt, delay in enumerate(expected, start=1):
        deliverer.run_once()
        row = _row(sessions, delivery_id)
        assert (row.status, row.attempts) == ("pending", attempt)
        assert as_utc(row.next_attempt_at) - clock.now == timedelta(seconds=delay)
        clock.advance(delay - 1)
        deliverer.run_once()  # not due yet: nothing is sent
        assert len(sender.sent) == attempt
        clock.advance(1)
    deliverer.run_once()
    row = _row(sessions, delivery_id)
    assert row.status == "failed" and row.attempts == 4 and row.next_attempt_at is None
    assert row.last_status_code == 503 and "gave up after 4 attempts" in row.last_error
    log = _attempts(sessions, delivery_id)
    assert [a.attempt for a in log] == [1, 2, 3, 4] and {a.status_code for a in log} == {503}
    assert len({h["webhook-id"] for _, _, h in sender.sent}) == 1  # the message id is stable
    clock.advance(10_000)
    deliverer.run_once()
    assert len(sender.sent) == 4


def test_success_after_failures_is_delivered(sessions, org_id, tmp_path):
    (delivery_id,) = _enqueue(sessions, org_id)
    clock = FakeClock()
    sender = FakeSender(Outcome(None, "cannot reach ..."), Outcome(404, "HTTP 404"), Outcome(204, None))
    deliverer = CallbackDeliverer(_settings(tmp_path), sessions, clock=clock, rand=lambda: 0.5, sender=sender)
    for _ in range(3):
        deliverer.run_once()
        clock.advance(100)
    row = _row(sessions, delivery_id)
    assert row.status == "delivered" and row.attempts == 3 and row.last_status_code == 204
    assert row.delivered_at is not None and row.last_error is None
    assert [a.error is None for a in _attempts(sessions, delivery_id)] == [False, False, True]


def test_retry_after_is_honoured(sessions, org_id, tmp_path):
    (delivery_id,) = _enqueue(sessions, org_id)
    clock = FakeClock()
    sender = FakeSender(Outcome(429, "HTTP 429", retry_after=33))
    deliverer = CallbackDeliverer(_settings(tmp_path), sessions, clock=clock, sender=sender)
    deliverer.run_once()
    assert as_utc(_row(sessions, delivery_id).next_attempt_at) - clock.now == timedelta(seconds=33)


def test_refused_url_fails_at_once_without_retries(sessions, org_id, tmp_path):
    (delivery_id,) = _enqueue(sessions, org_id, url="http://127.0.0.1:9/hook")
    deliverer = CallbackDeliverer(_settings(tmp_path, callback_allow_private_networks=False), sessions)
    deliverer.start()
    try:
        deliverer.wake()
        deadline = utcnow() + timedelta(seconds=20)
        while _row(sessions, delivery_id).status == "pending":
            assert utcnow() < deadline, "the deliverer did not process the row"
            threading.Event().wait(0.05)
    finally:
        deliverer.stop()
    row = _row(sessions, delivery_id)
    assert row.status == "failed" and row.attempts == 1
    assert "refused" in row.last_error and "loopback" in row.last_error


def test_unreachable_receiver_is_retried(sessions, org_id, tmp_path):
    from jobport.testing.embedded import free_port

    (delivery_id,) = _enqueue(sessions, org_id, url=f"http://127.0.0.1:{free_port()}/hook")
    clock = FakeClock()
    deliverer = CallbackDeliverer(_settings(tmp_path, callback_timeout_seconds=5), sessions, clock=clock)
    deliverer.run_once()  # not started: sends inline, over real HTTP
    row = _row(sessions, delivery_id)
    assert row.status == "pending" and row.attempts == 1 and row.last_status_code is None
    assert "cannot reach" in row.last_error


def test_running_deliverer_sends_each_once_and_stops_claiming_when_stopped(sessions, org_id, tmp_path):
    ids = _enqueue(sessions, org_id, 5)
    sender = FakeSender(Outcome(200, None))
    deliverer = CallbackDeliverer(_settings(tmp_path), sessions, sender=sender)
    deliverer.start()
    deadline = utcnow() + timedelta(seconds=20)
    while any(_row(sessions, i).status != "delivered" for i in ids):
        assert utcnow() < deadline
        threading.Event().wait(0.05)
    deliverer.stop()
    assert len(sender.sent) == 5
    _enqueue(sessions, org_id, 1)
    threading.Event().wait(0.2)
    assert len(sender.sent) == 5  # stopped: no more claims


def test_secret_created_once_and_rotation_keeps_the_old_one_for_the_grace(sessions, org_id):
    with transaction(sessions) as s:
        first = outbox.get_or_create_secret(s, org_id).secret
    with transaction(sessions) as s:
        assert outbox.get_or_create_secret(s, org_id).secret == first
        row = outbox.rotate_secret(s, org_id, grace_seconds=60)
        assert row.secret != first and row.secret.startswith("whsec_")
        now = utcnow()
        assert outbox.active_secrets(row, now) == [row.secret, first]
        assert outbox.active_secrets(row, now + timedelta(seconds=61)) == [row.secret]
    with transaction(sessions) as s:
        row = outbox.rotate_secret(s, org_id, grace_seconds=0)
        assert outbox.active_secrets(row, utcnow()) == [row.secret]


def test_replay(sessions, org_id, tmp_path):
    (delivery_id,) = _enqueue(sessions, org_id)
    with transaction(sessions) as s, pytest.raises(Conflict):
        outbox.replay(s, org_id, delivery_id)
    deliverer = CallbackDeliverer(_settings(tmp_path), sessions, sender=FakeSender(Outcome(200, None)))
    deliverer.run_once()
    with transaction(sessions) as s:
        new_id = outbox.replay(s, org_id, delivery_id)
    with transaction(sessions) as s, pytest.raises(NotFound):
        outbox.replay(s, get_or_create_org(s, "other").id, delivery_id)
    old, new = _row(sessions, delivery_id), _row(sessions, new_id)
    assert new.status == "pending" and new.replay_of == delivery_id
    assert new.payload == old.payload and new.url == old.url and new.message_id != old.message_id
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(CallbackAttempt)) == 1
