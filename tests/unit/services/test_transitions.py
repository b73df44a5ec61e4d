"""The job state machine: allowed moves, guarded updates that lose races, events per move, and
each surface's spelling of the statuses."""

import pytest
from sqlalchemy import select

from jobport.domain.statuses import CANCELLABLE, RETRYABLE, TERMINAL, JobStatus, archetype_status, can_move
from jobport.services.transitions import Transitions
from jobport.store import jobs as job_store
from jobport.store.db import make_engine, make_session_factory, migrate, transaction, utcnow
from jobport.store.orgs import get_or_create_org
from jobport.store.tables import Job, JobEvent

MOVES = Transitions()


@pytest.fixture
def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/sm.db")
    migrate(engine)
    return make_session_factory(engine)


def _job(session, org_id, status=JobStatus.PENDING, priority=0, pipeline_type="batch", created=None):
    now = created or utcnow()
    import uuid

    from jobport.domain.ids import new_id

    job = Job(id=new_id("job"), uuid=str(uuid.uuid4()), org_id=org_id, name="j", pipeline_id="ppl_x",
              pipeline_type=pipeline_type, pipeline_key="k", pipeline_version="1", status=status.value,
              priority=priority, parameters={}, parallelism=1, worker_key="w", tags=[], retry_count=0,
              preemption_count=0, created_at=now, updated_at=now)
    session.add(job)
    session.flush()
    return job


def test_terminal_states_have_no_way_out_except_retry():
    for terminal in TERMINAL:
        for target in JobStatus:
            if target == JobStatus.PENDING and terminal in RETRYABLE:
                assert can_move(terminal, target)
            else:
                assert not can_move(terminal, target), (terminal, target)


def test_cancel_and_retry_sources():
    assert {JobStatus.PENDING, JobStatus.RUNNING, JobStatus.PREEMPTED, JobStatus.ADMITTED} <= CANCELLABLE
    assert not (CANCELLABLE & {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
    assert RETRYABLE == {JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.EXPIRED}


def test_archetype_spelling():
    assert archetype_status("EXPIRED") == "FAILED"
    assert archetype_status("PARKED") == "PENDING"
    assert archetype_status("CANCELLED") == "CANCELLED"


def test_move_is_guarded_and_records_an_event(sessions):
    with transaction(sessions) as s:
        org = get_or_create_org(s, "o")
        job = _job(s, org.id)
    with transaction(sessions) as s:
        assert MOVES.move(s, job.id, JobStatus.CANCELLED, "user asked")
    with transaction(sessions) as s:
        # a racing scheduler cannot complete or run a cancelled job
        assert not MOVES.move(s, job.id, JobStatus.COMPLETED, "late result")
        assert not MOVES.move(s, job.id, JobStatus.ADMITTED, "late admit")
    with sessions() as s:
        row = s.scalar(select(Job).where(Job.id == job.id))
        assert row.status == "CANCELLED" and row.cancelled_at is not None
        events = s.scalars(select(JobEvent).where(JobEvent.job_id == job.id)).all()
        assert [(e.event_type, e.message) for e in events] == [("job.cancelled", "user asked")]


def test_started_at_is_kept_across_reruns(sessions):
    with transaction(sessions) as s:
        org = get_or_create_org(s, "o")
        job = _job(s, org.id)
        assert MOVES.move(s, job.id, JobStatus.ADMITTED, "a")
        assert MOVES.move(s, job.id, JobStatus.RUNNING, "r")
    with sessions() as s:
        first = s.scalar(select(Job.started_at).where(Job.id == job.id))
    with transaction(sessions) as s:
        assert MOVES.move(s, job.id, JobStatus.PREEMPTED, "p")
        assert MOVES.move(s, job.id, JobStatus.ADMITTED, "a")
        assert MOVES.move(s, job.id, JobStatus.RUNNING, "r")
    with sessions() as s:
        assert s.scalar(select(Job.started_at).where(Job.id == job.id)) == first


def test_queue_order_and_position(sessions):
    from datetime import timedelta

    base = utcnow()
    with transaction(sessions) as s:
        org = get_or_create_org(s, "o")
        old_low = _job(s, org.id, priority=0, created=base)
        new_low = _job(s, org.id, priority=0, created=base + timedelta(seconds=1))
        high = _job(s, org.id, priority=5, created=base + timedelta(seconds=2))
        _job(s, org.id, status=JobStatus.COMPLETED, priority=9, created=base)
        training = _job(s, org.id, priority=0, pipeline_type="training", created=base)
    with sessions() as s:
        order = [j.id for j in job_store.runnable_jobs(s, 10)]
        assert order == [high.id, old_low.id, training.id, new_low.id]
        assert job_store.queue_stats(s, s.merge(high)) == (1, 3)
        assert job_store.queue_stats(s, s.merge(old_low)) == (2, 3)
        assert job_store.queue_stats(s, s.merge(new_low)) == (3, 3)
        assert job_store.queue_stats(s, s.merge(training)) == (1, 1)
        assert job_store.queue_depths(s) == {"batch": 3, "training": 1}


def test_a_move_via_several_steps_is_one_guarded_update_with_each_steps_event(sessions):
    seen = []
    moves = Transitions([lambda session, target, moved: seen.append((target, list(moved)))])
    from jobport.domain.statuses import Step

    with transaction(sessions) as s:
        org = get_or_create_org(s, "o")
        queued = _job(s, org.id)
        cancelled = _job(s, org.id, status=JobStatus.CANCELLED)
    with transaction(sessions) as s:
        moved = moves.move_many_via(s, [queued.id, cancelled.id], [Step(JobStatus.ADMITTED, "admit"),
                                                                   Step(JobStatus.RUNNING, "run")])
    assert moved == [queued.id]  # the cancelled job is guarded out by the first step's sources
    assert seen == [(JobStatus.ADMITTED, [queued.id]), (JobStatus.RUNNING, [queued.id])]
    with sessions() as s:
        row = s.scalar(select(Job).where(Job.id == queued.id))
        assert row.status == "RUNNING" and row.started_at is not None
        events = s.scalars(select(JobEvent).where(JobEvent.job_id == queued.id).order_by(JobEvent.id)).all()
        assert [(e.event_type, e.message) for e in events] == [("job.admitted", "admit"), ("job.running", "run")]
        assert s.scalar(select(Job.status).where(Job.id == cancelled.id)) == "CANCELLED"
    with transaction(sessions) as s, pytest.raises(ValueError, match="no move from PENDING to COMPLETED"):
        moves.move_many_via(s, [queued.id], [Step(JobStatus.PENDING, "p"), Step(JobStatus.COMPLETED, "c")])
