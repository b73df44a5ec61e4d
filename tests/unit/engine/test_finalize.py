"""Finalizing: a job ends once none of its inputs is pending or in flight. All completed:
COMPLETED; all failed: FAILED (`all_inputs_failed`); some of each: COMPLETED with the counts in the
`job.completed` event. Outputs are written through the blob store under the job's prefix."""

from __future__ import annotations

from helpers import machine_csv
from jobport.blobs import keys

BAD = machine_csv("run", 32, columns=("x", "y", "z"))  # none of the configured data columns


def test_all_inputs_completed_completes_the_job_with_its_events(world):
    job = world.machine_job({"a.csv": machine_csv("run", 48), "b.csv": machine_csv("idle", 48)})

    world.run_until_ended(job)

    found = world.job(job)
    assert found.job.status == "COMPLETED"
    assert found.counts == {"pending": 0, "processing": 0, "completed": 2, "failed": 0}
    types = world.event_types(job)
    assert types[0] == "job.created" and types[-1] == "job.completed"
    assert {"job.admitted", "job.running", "worker.loaded"} <= set(types)
    assert types.count("inference.success") == 2
    assert world.events(job, "job.completed")[0].payload == {"completed": 2, "failed": 0}
    assert all(i.status == "completed" and i.attempts == 1 for i in world.inputs(job))


def test_outputs_are_blobs_under_the_jobs_prefix(world):
    job = world.machine_job({"a.csv": machine_csv("run", 48), "b.csv": machine_csv("idle", 48)})

    world.run_until_ended(job)

    outputs = world.outputs(job)
    by_input = {i.id: i.file_id for i in world.inputs(job)}
    assert {by_input[o.input_id] for o in outputs} == {"a.csv", "b.csv"}
    for output in outputs:
        assert output.port_name == "worker.results" and output.file_type == "text/csv"
        assert output.blob_key == keys.job_output(job, output.input_id, output.filename)
        data = world.ctx.blobs.open(output.blob_key).read()
        assert len(data) == output.num_bytes > 0
        assert data.decode().splitlines()[0] == "timestamp,Prediction"
    assert world.blob_keys(keys.job_prefix(job)) == sorted(o.blob_key for o in outputs)


def test_all_inputs_failed_fails_the_job(world):
    job = world.machine_job({"bad1.csv": BAD, "bad2.csv": BAD})

    world.run_until_ended(job)

    found = world.job(job)
    assert found.job.status == "FAILED"
    assert found.job.error["code"] == "all_inputs_failed"
    assert found.counts == {"pending": 0, "processing": 0, "completed": 0, "failed": 2}
    assert len(world.events(job, "inference.failed")) == 2
    failed = world.events(job, "job.failed")
    assert len(failed) == 1 and failed[0].level == "ERROR" and failed[0].payload == {"completed": 0, "failed": 2}
    assert all(i.status == "failed" and i.error_message for i in world.inputs(job))
    assert world.blob_keys(keys.job_prefix(job)) == []


def test_some_failed_completes_the_job_with_the_counts(world):
    job = world.machine_job({"good.csv": machine_csv("run", 48), "bad.csv": BAD})

    world.run_until_ended(job)

    found = world.job(job)
    assert found.job.status == "COMPLETED" and found.job.error is None
    assert found.counts == {"pending": 0, "processing": 0, "completed": 1, "failed": 1}
    completed = world.events(job, "job.completed")
    assert len(completed) == 1 and completed[0].payload == {"completed": 1, "failed": 1}
    assert "1 inputs completed, 1 failed" in completed[0].message
    states = {i.file_id: (i.status, i.error_message) for i in world.inputs(job)}
    assert states["good.csv"] == ("completed", None)
    assert states["bad.csv"][0] == "failed" and "column 'a'" in states["bad.csv"][1]
    assert world.events(job, "inference.failed")[0].payload == {"error_code": "missing_column"}
    assert {o.input_id for o in world.outputs(job)} == {i.id for i in world.inputs(job) if i.file_id == "good.csv"}
