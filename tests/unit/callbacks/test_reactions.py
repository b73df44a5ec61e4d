"""The callback reaction: a job with a callback URL that enters a terminal status gets one delivery
in the same transaction as the move, rendered in its surface's shape from the row AFTER the move."""

import uuid

import pytest
from sqlalchemy import select

from jobport.api.surfaces import callback_surfaces
from jobport.callbacks.reactions import JobCallbacks, SurfaceCallbacks
from jobport.callbacks.tables import CallbackDelivery
from jobport.domain.ids import new_id
from jobport.domain.statuses import JobStatus
from jobport.services.transitions import Transitions
from jobport.store import jobs as job_store
from jobport.store.db import make_engine, make_session_factory, migrate, transaction, utcnow
from jobport.store.orgs import get_or_create_org
from jobport.store.tables import Job, JobInput


@pytest.fixture
def reaction():
    return JobCallbacks(callback_surfaces())


@pytest.fixture
def moves(reaction):
    return Transitions([reaction])


@pytest.fixture
def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/hook.db")
    migrate(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _job(sessions, status=JobStatus.RUNNING, callback_url="https://hooks.example.com/jobport", surface=None):
    now = utcnow()
    with transaction(sessions) as s:
        org = get_or_create_org(s, "o")
        job = Job(id=new_id("job"), uuid=str(uuid.uuid4()), org_id=org.id, name="j", pipeline_id="ppl_x",
                  pipeline_type="batch", pipeline_key="k", pipeline_version="1", status=status.value, priority=0,
                  parameters={}, parallelism=1, worker_key="w", tags=[], retry_count=0, preemption_count=0,
                  callback_url=callback_url, surface=surface, created_at=now, updated_at=now, started_at=now,
                  job_metadata={"input_file_name": "rows.csv"} if surface == "gravity" else None)
        s.add(job)
        s.flush()
        s.add(JobInput(id=new_id("inp"), job_id=job.id, port_name="worker.inference", file_id="f.csv",
                       file_uid="fil_x", data={}, tracked=True, status="completed", attempts=1, created_at=now))
        return job.id


def _deliveries(sessions):
    with sessions() as s:
        return list(s.scalars(select(CallbackDelivery)))


def _move(sessions, job_id, target, moves):
    with transaction(sessions) as s:
        # load the row first: the hook must not use this stale copy
        stale = job_store.get_any(s, job_id)
        assert stale is not None and stale.status != target.value
        assert moves.move(s, job_id, target, "test")


def test_terminal_move_enqueues_the_job_as_it_is_after_the_move(sessions, moves):
    job_id = _job(sessions)
    _move(sessions, job_id, JobStatus.COMPLETED, moves)
    (d,) = _deliveries(sessions)
    assert (d.job_id, d.surface, d.event_type, d.url) == (job_id, "archetype", "job.completed",
                                                          "https://hooks.example.com/jobport")
    assert d.payload["type"] == "job.completed" and d.payload["timestamp"].endswith("Z")
    data = d.payload["data"]
    assert data["id"] == job_id and data["status"] == "COMPLETED" and data["completed_at"]
    assert data["input_progress"] == {"pending": 0, "processing": 0, "completed": 1, "failed": 0}


def test_the_callback_rolls_back_with_the_move(sessions, moves):
    job_id = _job(sessions)
    with pytest.raises(RuntimeError), transaction(sessions) as s:
        moves.move(s, job_id, JobStatus.FAILED, "test")
        raise RuntimeError("later in the same unit of work")
    assert _deliveries(sessions) == []


def test_no_callback_for_non_terminal_moves_or_without_url(sessions, moves):
    job_id = _job(sessions, status=JobStatus.ADMITTED)
    _move(sessions, job_id, JobStatus.RUNNING, moves)
    other = _job(sessions, callback_url=None)
    _move(sessions, other, JobStatus.COMPLETED, moves)
    assert _deliveries(sessions) == []


def test_expired_is_its_own_event_spelled_failed_on_archetype(sessions, moves):
    job_id = _job(sessions, status=JobStatus.PENDING)
    _move(sessions, job_id, JobStatus.EXPIRED, moves)
    (d,) = _deliveries(sessions)
    assert d.event_type == "job.expired" and d.payload["data"]["status"] == "FAILED"


def test_gravity_jobs_are_rendered_in_gravity_shape(sessions, moves):
    job_id = _job(sessions, surface="gravity")
    _move(sessions, job_id, JobStatus.CANCELLED, moves)
    (d,) = _deliveries(sessions)
    with sessions() as s:
        job_uuid = job_store.get_any(s, job_id).uuid
    assert d.surface == "gravity" and d.event_type == "job.cancelled"
    assert d.payload["data"]["id"] == job_uuid and d.payload["data"]["status"] == "fail"
    assert d.payload["data"]["inputFileName"] == "rows.csv"


def test_a_new_surface_plugs_in_its_renderer(sessions, moves, reaction):
    def render(job, counts, event_type):
        return {"id": job.uuid, "state": job.status, "action": "RESOLVED"}

    reaction.surfaces["superai"] = SurfaceCallbacks(render, frozenset({JobStatus.SUSPENDED}))
    job_id = _job(sessions, surface="superai")
    _move(sessions, job_id, JobStatus.SUSPENDED, moves)
    (d,) = _deliveries(sessions)
    assert d.payload == {"id": d.payload["id"], "state": "SUSPENDED", "action": "RESOLVED"}
    # a surface without a renderer gets no callback (and no error)
    job2 = _job(sessions, surface="unknown")
    _move(sessions, job2, JobStatus.COMPLETED, moves)
    assert len(_deliveries(sessions)) == 1


def test_a_rendering_bug_still_enqueues_a_minimal_callback(sessions, moves, reaction):
    def broken(job, counts, event_type):
        raise KeyError("oops")

    reaction.surfaces["archetype"] = SurfaceCallbacks(broken)
    job_id = _job(sessions)
    _move(sessions, job_id, JobStatus.COMPLETED, moves)
    (d,) = _deliveries(sessions)
    assert d.payload["data"] == {"id": job_id, "status": "COMPLETED", "error": "render_failed"}
