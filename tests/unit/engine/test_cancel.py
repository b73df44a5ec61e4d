"""Cancel: the job is CANCELLED at once; on the scheduler's next pass the job's tasks still queued
in the executor are dropped and their inputs released (`input.cancelled`); other jobs' tasks keep
running; whatever the cancelled job's work reports late changes nothing of its status."""

from __future__ import annotations

import pytest

from jobport.domain.errors import Conflict
from jobport.services.jobs import control


def test_cancelling_a_queued_job_means_it_never_runs(world):
    job = world.machine_job(2)

    cancelled = control.cancel_job(world.ctx, world.org_id, job)
    world.run_passes(5)

    assert cancelled.status == world.status(job) == "CANCELLED"
    assert world.executor.ran == []
    assert world.counts(job) == {"pending": 2, "processing": 0, "completed": 0, "failed": 0}
    assert world.event_types(job) == ["job.created", "job.cancelled"]


def test_cancelling_a_running_job_drops_its_queued_tasks_and_others_keep_running(world):
    other = world.machine_job(2, name="other", priority=1, parallelism=2)
    job = world.machine_job(3, name="cancelled", parallelism=2)
    world.run_passes(1)  # the worker holds: other x2, then cancelled x2
    assert world.status(job) == "RUNNING" and world.counts(job)["processing"] == 2

    control.cancel_job(world.ctx, world.org_id, job)
    world.run_until_ended(other)
    world.run_passes(5)

    assert world.status(job) == "CANCELLED"
    assert world.status(other) == "COMPLETED"
    assert set(world.ran_jobs()) == {other}  # none of the cancelled job's tasks ran
    assert world.counts(job) == {"pending": 3, "processing": 0, "completed": 0, "failed": 0}
    stopped = world.events(job, "input.cancelled")
    assert len(stopped) == 2 and {e.level for e in stopped} == {"WARN"}
    assert "job.completed" not in world.event_types(job)
    assert world.executor.count_for_job(job) == 0


def test_late_results_of_a_cancelled_job_change_nothing(world):
    job = world.machine_job(2, parallelism=2)
    world.run_passes(1)  # both tasks queued in the worker

    control.cancel_job(world.ctx, world.org_id, job)
    world.run_passes(1)  # the worker finishes the task it had started; then the cancel stops the other
    world.run_passes(10)

    assert world.ran_jobs() == [job]
    assert world.status(job) == "CANCELLED"
    assert world.counts(job)["processing"] == 0
    assert [e.event_type for e in world.events(job) if e.event_type.startswith("job.")] == [
        "job.created", "job.admitted", "job.running", "job.cancelled"]


def test_a_cancelled_job_cannot_be_cancelled_again(world):
    job = world.machine_job(1)
    control.cancel_job(world.ctx, world.org_id, job)

    with pytest.raises(Conflict) as err:
        control.cancel_job(world.ctx, world.org_id, job)
    assert err.value.code == "invalid_state"


def test_a_completed_job_cannot_be_cancelled(world):
    job = world.machine_job(1)
    world.run_until_ended(job)

    with pytest.raises(Conflict):
        control.cancel_job(world.ctx, world.org_id, job)
    assert world.status(job) == "COMPLETED"


def test_retrying_a_cancelled_job_runs_what_it_had_left(world):
    job = world.machine_job(3, parallelism=3)
    world.run_passes(2)  # one input done, two queued
    control.cancel_job(world.ctx, world.org_id, job)
    world.run_passes(1)
    done_before = world.counts(job)["completed"]

    retried = control.retry_job(world.ctx, world.org_id, job)
    world.run_until_ended(job)

    assert retried.status == "PENDING" and retried.retry_count == 1
    assert world.status(job) == "COMPLETED"
    assert world.counts(job)["completed"] == 3
    assert len(world.executor.ran) == 3 and done_before >= 1  # nothing completed ran twice


def test_retrying_a_cancelled_job_whose_inputs_all_completed_ends_it(world):
    job = world.machine_job(1)
    world.run_passes(1)  # its one task queued in the worker
    control.cancel_job(world.ctx, world.org_id, job)
    world.run_passes(1)  # the task was already running: its result lands after the cancel
    assert world.status(job) == "CANCELLED"
    assert world.counts(job) == {"pending": 0, "processing": 0, "completed": 1, "failed": 0}

    control.retry_job(world.ctx, world.org_id, job)

    world.run_until(lambda: world.status(job) != "PENDING", passes=50, what="the retried job leaving PENDING")
    assert world.status(job) == "COMPLETED"
