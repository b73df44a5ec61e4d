"""Lifecycle duties of the scheduler (run every pass here: `lifecycle_interval_seconds` is tiny):
record jobs of an app with a completion window expire once `expires_at` passed, and the waiting
jobs of an org over its budget are SUSPENDED, then resumed (PENDING) once the budget allows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from jobport.services import usage
from jobport.store.db import transaction, utcnow
from jobport.store.tables import Job

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VIRGINICA = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}


def _expire(world, job_id: str) -> None:
    """The job's completion window passed (an hour-long window, with its end moved into the past)."""
    with transaction(world.ctx.sessions) as session:
        session.execute(update(Job).where(Job.id == job_id).values(expires_at=utcnow() - timedelta(seconds=1)))


def test_record_jobs_run_to_completion(world, iris_model):
    app = world.iris_app(iris_model)
    jobs = world.record_jobs(app, [SETOSA, VIRGINICA])

    world.run_until_ended(*jobs)

    assert [world.status(j) for j in jobs] == ["COMPLETED", "COMPLETED"]
    labels = []
    for job in jobs:
        (output,) = world.outputs(job)
        labels.append(world.read(output))
    assert "setosa" in labels[0] and "virginica" in labels[1]


def test_a_job_past_its_completion_window_expires_on_the_next_pass(world, iris_model):
    app = world.iris_app(iris_model, completion_window_seconds=3600)
    late, on_time = world.record_jobs(app, [SETOSA, SETOSA])
    assert world.job(late).job.expires_at is not None
    _expire(world, late)

    world.run_passes(1)

    assert world.status(late) == "EXPIRED"
    expired = world.events(late, "job.expired")
    assert len(expired) == 1 and expired[0].level == "WARN"
    world.run_until_ended(on_time)
    assert world.status(on_time) == "COMPLETED"
    assert world.ran_jobs() == [on_time]
    assert world.status(late) == "EXPIRED"


@pytest.mark.settings(chunk_size=1)  # two units: the late job's task waits behind the first one
def test_expiry_stops_the_jobs_queued_work(world, iris_model):
    app = world.iris_app(iris_model, completion_window_seconds=3600)
    first, late = world.record_jobs(app, [SETOSA, VIRGINICA])
    world.run_passes(1)  # both tasks queued in the worker
    _expire(world, late)

    world.run_until_ended(first, late)
    world.run_passes(5)

    assert world.status(first) == "COMPLETED" and world.status(late) == "EXPIRED"
    assert world.ran_jobs() == [first]
    assert world.counts(late) == {"pending": 1, "processing": 0, "completed": 0, "failed": 0}
    assert len(world.events(late, "input.cancelled")) == 1


def test_a_job_without_a_window_does_not_expire(world, iris_model):
    app = world.iris_app(iris_model)
    (job,) = world.record_jobs(app, [SETOSA])

    world.run_until_ended(job)

    assert world.job(job).job.expires_at is None and world.status(job) == "COMPLETED"


def test_an_org_over_its_budget_has_its_waiting_jobs_suspended_then_resumed(world, iris_model):
    app = world.iris_app(iris_model)  # 5 units per record
    jobs = world.record_jobs(app, [SETOSA, VIRGINICA])  # 10 units billed

    usage.set_budget(world.ctx, world.org_id, 5)
    world.run_passes(3)

    assert [world.status(j) for j in jobs] == ["SUSPENDED", "SUSPENDED"]
    assert world.executor.ran == []
    suspended = world.events(jobs[0], "job.suspended")
    assert len(suspended) == 1 and suspended[0].payload == {"billed_units": 10, "budget_units": 5}

    usage.set_budget(world.ctx, world.org_id, 10)
    world.run_until_ended(*jobs)

    assert [world.status(j) for j in jobs] == ["COMPLETED", "COMPLETED"]
    for job in jobs:
        types = world.event_types(job)
        assert types.index("job.suspended") < types.index("job.resumed") < types.index("job.running")


def test_removing_the_budget_resumes_suspended_jobs(world, iris_model):
    app = world.iris_app(iris_model)
    usage.set_budget(world.ctx, world.org_id, 1)
    (job,) = world.record_jobs(app, [SETOSA])  # over budget already at creation: created SUSPENDED
    world.run_passes(2)
    assert world.status(job) == "SUSPENDED"

    usage.set_budget(world.ctx, world.org_id, None)
    world.run_until_ended(job)

    assert world.status(job) == "COMPLETED"
    assert len(world.events(job, "job.resumed")) == 1


def test_other_orgs_are_not_suspended(world, iris_model):
    from jobport.services import auth

    app = world.iris_app(iris_model)
    (mine,) = world.record_jobs(app, [SETOSA])
    other_org, _ = auth.create_key(world.ctx, "org-b")
    usage.set_budget(world.ctx, other_org, 0)

    world.run_until_ended(mine)

    assert world.status(mine) == "COMPLETED"
