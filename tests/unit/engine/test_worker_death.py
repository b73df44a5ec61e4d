"""A worker that dies while it runs an input spends that input's attempt: the input is retried
(`input.retried`) until the pipeline's retry policy gives up (`max_attempts`, 3 for the built-ins),
then it is FAILED. Tasks that waited behind it in the dead worker go back to the queue without
spending an attempt."""

from __future__ import annotations


def _max_attempts(world, job_id: str) -> int:
    job = world.job(job_id).job
    return world.ctx.registry.get(job.pipeline_key, job.pipeline_version).spec.retry_policy.max_attempts


def test_a_worker_death_retries_the_input_and_the_job_completes(world):
    job = world.machine_job(1)
    world.run_passes(1)  # leased and queued in the worker
    victim = world.inputs(job)[0]
    world.executor.crash_on(victim.id)

    world.run_until_ended(job)

    assert world.status(job) == "COMPLETED"
    assert world.counts(job) == {"pending": 0, "processing": 0, "completed": 1, "failed": 0}
    retried = world.events(job, "input.retried")
    assert len(retried) == 1 and retried[0].input_id == victim.id and retried[0].level == "WARN"
    assert retried[0].payload == {"error_code": "worker_lost"}
    assert "worker process exited with code -9; retrying (attempt 1 of 3)" in retried[0].message
    assert world.inputs(job)[0].attempts == 2
    assert [t.attempt for t in world.executor.ran] == [1, 2]


def test_a_worker_dying_on_every_attempt_fails_the_input(world):
    job = world.machine_job(2)
    victim = world.inputs(job)[0]
    attempts = _max_attempts(world, job)

    def ended():
        world.executor.crash_on(victim.id)  # every run of it kills the worker
        return world.status(job) in ("COMPLETED", "FAILED")

    world.run_until(ended)

    rows = {i.id: i for i in world.inputs(job)}
    assert rows[victim.id].status == "failed" and rows[victim.id].attempts == attempts == 3
    assert rows[victim.id].error_message == f"worker process exited with code -9 on each of {attempts} attempts"
    assert len(world.events(job, "input.retried", victim.id)) == attempts - 1
    failed = world.events(job, "inference.failed", victim.id)
    assert len(failed) == 1 and failed[0].payload == {"error_code": "worker_lost"}
    assert sum(t.input_id == victim.id for t in world.executor.ran) == attempts
    # the other input is unaffected: the job completes with one of each
    assert world.status(job) == "COMPLETED"
    assert world.events(job, "job.completed")[0].payload == {"completed": 1, "failed": 1}


def test_the_only_input_dying_every_time_fails_the_job(world):
    job = world.machine_job(1)
    victim = world.inputs(job)[0]

    def ended():
        world.executor.crash_on(victim.id)
        return world.status(job) in ("COMPLETED", "FAILED")

    world.run_until(ended)

    found = world.job(job)
    assert found.job.status == "FAILED" and found.job.error["code"] == "all_inputs_failed"


def test_tasks_queued_behind_a_dead_worker_are_returned_without_spending_an_attempt(world):
    job = world.machine_job(3, parallelism=3)
    world.run_passes(1)  # all three leased (attempt 1) and queued in the one worker
    first, *behind = world.inputs(job)
    assert [i.attempts for i in world.inputs(job)] == [1, 1, 1]
    world.executor.crash_on(first.id)

    world.run_until_ended(job)

    assert world.status(job) == "COMPLETED"
    attempts = {i.id: i.attempts for i in world.inputs(job)}
    assert attempts[first.id] == 2  # its worker died under it: one attempt spent
    assert [attempts[i.id] for i in behind] == [1, 1]  # never started: returned, then run once
    assert world.events(job, "input.retried")[0].input_id == first.id
    assert len(world.events(job, "input.retried")) == 1
    assert {e.input_id for e in world.events(job, "inference.success")} == set(attempts)


def test_a_dead_worker_returns_the_tasks_of_other_jobs_too(world):
    crashing = world.machine_job(1, name="crashing")
    other = world.machine_job(2, name="other", parallelism=2)
    world.run_passes(1)
    world.executor.crash_on(world.inputs(crashing)[0].id)

    world.run_until_ended(crashing, other)

    assert world.status(crashing) == world.status(other) == "COMPLETED"
    assert [i.attempts for i in world.inputs(other)] == [1, 1]
    assert world.events(other, "input.retried") == []
