"""Training jobs in the queue (issue 13 part 4): a `pipeline_type: training` job has its own
queue depth and position (apart from batch jobs), higher priority goes first across both types,
and fair share holds between orgs whatever the type: one org's batch backlog does not hide
another org's training job. And an auto-publish that fails after training (two jobs created for
the same app version before either ran: the second finds it taken) is an ERROR event and the
job's error, while the job stays COMPLETED."""

from __future__ import annotations

import csv
import io

from sklearn import datasets

from helpers import wait_until
from jobport.services.jobs.create import JobCreate, create_job
from jobport.store import jobs as job_store
from unit.engine.conftest import World
from unit.engine.test_fair_share import both as both  # noqa: F401  (the world on SQLite and PostgreSQL)
from unit.engine.test_fair_share import second_org


def _iris_csv() -> bytes:
    bunch = datasets.load_iris()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["a", "b", "c", "d", "species"])
    for row, target in list(zip(bunch.data, bunch.target, strict=True))[::3]:
        writer.writerow([*row, bunch.target_names[target]])
    return out.getvalue().encode()


def training_job(world: World, name: str = "train", priority: int = 0, **config: object) -> str:
    world.upload("iris.csv", _iris_csv())
    body = {"name": name, "pipeline_type": "training", "pipeline_key": "tabular-training", "priority": priority,
            "inputs": {"worker.train": [{"file_id": "iris.csv"}]},
            "parameters": {"worker": {"config": {"task": "classification", "label": "species",
                                                 "model": {"family": "logistic"}, **config}}}}
    job, created = create_job(world.ctx, world.org_id, JobCreate.model_validate(body))
    assert created
    return job.id


def queue_of(world: World, job_id: str) -> tuple[int, int]:
    with world.ctx.sessions() as session:
        job = job_store.get(session, world.org_id, job_id)
        assert job is not None
        return job_store.queue_stats(session, job)


def test_training_jobs_have_their_own_depth_and_positions_by_priority(both):
    world = both
    batch = [world.machine_job(1, name=f"batch{i}") for i in range(3)]
    low = training_job(world, "low")
    high = training_job(world, "high", priority=5)
    assert queue_of(world, high) == (1, 2) and queue_of(world, low) == (2, 2)
    assert queue_of(world, batch[0]) == (1, 3)
    with world.ctx.sessions() as session:
        assert job_store.queue_depths(session) == {"batch": 3, "training": 2}


def test_a_higher_priority_training_job_runs_before_older_batch_jobs(world):
    batch = [world.machine_job(1, name=f"batch{i}") for i in range(3)]
    urgent = training_job(world, "urgent", priority=10)
    world.executor.slots = 1  # one task per pass: the passes' order is the queue's order
    world.run_until_ended(urgent, *batch)
    assert world.ran_jobs()[0] == urgent
    assert world.status(urgent) == "COMPLETED"


def test_another_orgs_training_job_is_not_lost_behind_a_batch_backlog(both):
    world = both
    backlog = [world.machine_job(1, name=f"many{i}") for i in range(12)]
    other = second_org(world)
    single = training_job(other, "single")
    world.executor.slots = 1
    other.run_until_ended(single)
    assert world.ran_jobs().index(single) <= 1  # A's oldest job, then B's training job
    assert sum(world.status(j) == "COMPLETED" for j in backlog) <= 2


def test_an_auto_publish_that_fails_after_training_is_an_error_event_and_the_jobs_error(world):
    target = {"app": "twice", "version": "1.0.0"}
    ids = [training_job(world, f"train{i}", publish=target) for i in range(2)]  # no passes yet: both accepted
    world.run_until_ended(*ids)

    def outcome(job_id: str) -> list:
        return [e for e in world.events(job_id) if e.event_type.startswith("publish.")]

    found = {job_id: wait_until(lambda job_id=job_id: outcome(job_id), what="the publish outcome")[0] for job_id in ids}
    assert sorted(e.event_type for e in found.values()) == ["publish.done", "publish.failed"]
    failed = next(job_id for job_id, e in found.items() if e.event_type == "publish.failed")
    assert found[failed].level == "ERROR" and found[failed].payload["error_code"] == "version_exists"
    job = world.job(failed).job
    assert job.status == "COMPLETED" and job.error is not None and job.error["code"] == "publish_failed"
    assert "version 1.0.0" in job.error["message"]
