"""A pipeline that cannot load fails the job with the load error (its code and message in the job's
`error` and in a `job.failed` event); its other queued tasks are dropped, other jobs carry on."""

from __future__ import annotations

import pytest

from jobport.pipelines.sdk import LoadError
from jobport.services import apps as app_service

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@pytest.fixture
def broken_machine_state(world, monkeypatch):
    """machine-state-classification of this server fails to load (a LoadError of the pipeline)."""
    pipeline = world.ctx.registry.get("machine-state-classification", "1.1.1")

    def load(config, references, context):
        raise LoadError("the n-shot index could not be built: disk full", code="index_failed")

    monkeypatch.setattr(pipeline, "load", load)
    return pipeline


def test_a_load_error_fails_the_job_with_it(world, broken_machine_state):
    job = world.machine_job(3, parallelism=3)

    world.run_until_ended(job)

    found = world.job(job)
    assert found.job.status == "FAILED"
    assert found.job.error == {"code": "index_failed", "message": "the n-shot index could not be built: disk full"}
    failed = world.events(job, "job.failed")
    assert len(failed) == 1 and failed[0].level == "ERROR"
    assert failed[0].message == "the n-shot index could not be built: disk full"
    assert failed[0].payload == {"error_code": "index_failed"}
    assert len(world.executor.ran) == 1  # the other two queued tasks were dropped, not run
    assert found.counts["processing"] == 0 and found.counts["completed"] == 0
    assert "worker.loaded" not in world.event_types(job)


def test_an_unexpected_exception_in_load_fails_the_job_as_a_load_failure(world, monkeypatch):
    pipeline = world.ctx.registry.get("machine-state-classification", "1.1.1")

    def load(config, references, context):
        raise RuntimeError("boom")

    monkeypatch.setattr(pipeline, "load", load)
    job = world.machine_job(1)

    world.run_until_ended(job)

    assert world.status(job) == "FAILED"
    assert world.job(job).job.error == {"code": "pipeline_load_failed", "message": "RuntimeError: boom"}


def test_a_load_failure_of_one_pipeline_leaves_other_jobs_running(world, iris_model, broken_machine_state):
    broken = world.machine_job(1, name="broken")
    app = world.iris_app(iris_model)
    (fine,) = world.record_jobs(app, [SETOSA])

    world.run_until_ended(broken, fine)

    assert world.status(broken) == "FAILED"
    assert world.status(fine) == "COMPLETED"


def test_a_hosted_model_whose_file_is_corrupt_fails_its_jobs(world):
    world.upload("broken.onnx", b"this is not an ONNX model", "application/octet-stream")
    app = app_service.create_app(world.ctx, world.org_id, app_service.AppCreate(
        name="broken", pipeline_key="tabular-model",
        config={"mime_type": "text/csv; header=present",
                "features": [{"name": "sepal_length", "type": "number"}],
                "outputs": [{"name": "label", "type": "string"}]},
        references={"worker.model": [app_service.ReferenceIn(file_id="broken.onnx")]}),
        check_files=False)  # creation would refuse this file; a worker must still fail cleanly on one
    jobs = world.record_jobs(app, [SETOSA, SETOSA])

    world.run_until_ended(*jobs)

    for job in jobs:
        found = world.job(job).job
        assert found.status == "FAILED"
        assert found.error["code"] == "invalid_model_file"
        assert found.error["message"].startswith("model file broken.onnx is not a loadable ONNX model")
        assert world.events(job, "job.failed")[0].message == found.error["message"]
        assert world.outputs(job) == []
