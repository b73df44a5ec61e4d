"""What a worker reserves on a Ray cluster: the pipeline's resources, overridden per job
(`parameters.<component>.resources`) or per app version (`resources`); the scheduler hands the
result to the executor with each task. Bad values are refused at create, naming the field."""

from __future__ import annotations

import pytest

from helpers import machine_csv, machine_job_body
from jobport.domain.errors import Invalid
from jobport.pipelines.sdk import Resources
from jobport.services.jobs.create import JobCreate, create_job


def _body(world, resources):
    world.upload("in.csv", machine_csv("run", 32))
    for name, state in (("shot_idle.csv", "idle"), ("shot_run.csv", "run")):
        world.upload(name, machine_csv(state, 64))
    body = machine_job_body(["in.csv"], {"shot_idle.csv": "idle", "shot_run.csv": "run"})
    if resources is not None:
        body["parameters"]["worker"]["resources"] = resources
    return JobCreate.model_validate(body)


def test_a_jobs_resource_overrides_reach_its_tasks(world):
    job, _ = create_job(world.ctx, world.org_id, _body(world, {"num_cpus": 2, "memory_bytes": 2**30}))
    world.scheduler._dispatch()
    (task,) = [t for t in world.executor.running().values() if t.job_id == job.id]
    assert task.resources == Resources(num_cpus=2.0, num_gpus=0.0, memory_bytes=2**30)
    world.run_until_ended(job.id)
    assert world.status(job.id) == "COMPLETED"


def test_without_overrides_the_pipeline_spec_decides(world):
    job, _ = create_job(world.ctx, world.org_id, _body(world, None))
    world.scheduler._dispatch()
    (task,) = [t for t in world.executor.running().values() if t.job_id == job.id]
    pipeline = world.ctx.registry.get(task.pipeline_key, task.pipeline_version)
    assert task.resources == pipeline.spec.resources


@pytest.mark.parametrize("bad", [{"num_gpus": -1}, {"gpus": 1}, {"memory_bytes": "lots"}])
def test_bad_resources_are_refused_naming_the_field(world, bad):
    with pytest.raises((Invalid, ValueError)) as caught:
        create_job(world.ctx, world.org_id, _body(world, bad))
    assert "resources" in str(caught.value)


def test_an_app_versions_resources_reach_its_record_jobs(world, iris_model):
    from jobport.services.jobs.draft import ResourcesIn

    app = world.iris_app(iris_model, resources=ResourcesIn(num_cpus=0.5))
    (job_id,) = world.record_jobs(app, [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4,
                                         "petal_width": 0.2}])
    world.run_until(lambda: world.executor.running())  # leased once its chunk stopped lingering
    (task,) = [t for t in world.executor.running().values() if t.job_id == job_id]
    assert task.resources.num_cpus == 0.5
