"""Recovery: a scheduler that dies leaves inputs `processing` under its lease. The next one to
take the lock returns them to `pending` (event `input.preempted`), never redoes the completed ones,
and finishes the job."""

from __future__ import annotations

import pytest

from jobport.blobs import keys
from jobport.domain.ids import new_id
from jobport.server import build_scheduler
from jobport.store import jobs as job_store
from jobport.store.db import transaction, utcnow
from jobport.store.tables import JobOutput


def test_a_new_scheduler_returns_the_dead_ones_leases_and_finishes_the_job(world):
    job = world.machine_job(3, parallelism=3)
    world.run_passes(2)  # 3 inputs leased, the first one done
    done_first = world.executor.ran[0].input_id
    assert world.counts(job) == {"pending": 0, "processing": 2, "completed": 1, "failed": 0}

    world.scheduler_dies()
    world.new_scheduler()

    assert world.counts(job) == {"pending": 2, "processing": 0, "completed": 1, "failed": 0}
    recovered = world.events(job, "input.preempted")
    assert len(recovered) == 2 and {e.level for e in recovered} == {"WARN"}
    world.run_until_ended(job)
    assert world.status(job) == "COMPLETED"
    assert world.counts(job)["completed"] == 3
    rerun = [t.input_id for t in world.executor.ran]
    assert sorted(rerun) == sorted(e.input_id for e in recovered) and done_first not in rerun
    assert len(world.events(job, "inference.success")) == 3
    assert len(world.events(job, "job.completed")) == 1


def test_the_dead_schedulers_lock_is_free_but_a_live_one_is_not(world):
    standby = build_scheduler(world.ctx)
    assert not standby.take_lock()  # the live scheduler holds it
    world.scheduler_dies()
    assert standby.take_lock()
    standby.release_lock()


@pytest.mark.parametrize("how", ["dies", "stops"])
def test_a_restart_spends_no_attempt_of_the_interrupted_inputs(world, how):
    """DESIGN (Execution, Failures): an input interrupted by a scheduler restart goes back to the
    queue without spending an attempt."""
    job = world.machine_job(2, parallelism=2)
    world.run_passes(1)  # both leased (attempt 1), none run

    if how == "dies":
        world.scheduler_dies()
    else:
        world.scheduler.release_lock()  # a clean stop hands its unfinished tasks back
    world.new_scheduler()
    world.run_until_ended(job)

    assert world.status(job) == "COMPLETED"
    assert [i.attempts for i in world.inputs(job)] == [1, 1]
    # the interruption counts as the job's preemption instead
    assert world.job(job).job.preemption_count == 1


def test_restarts_do_not_count_as_worker_deaths(world):
    """Two scheduler restarts and one worker death are one spent attempt, not the three the retry
    policy allows: the input is retried and completes."""
    job = world.machine_job(1)
    victim = world.inputs(job)[0]
    for _ in range(2):
        world.run_passes(1)  # leased
        world.scheduler_dies()
        world.new_scheduler()
    world.run_passes(1)
    world.executor.crash_on(victim.id)

    world.run_until_ended(job)

    assert world.inputs(job)[0].error_message is None
    assert world.status(job) == "COMPLETED"


def test_a_restart_keeps_the_outputs_of_completed_inputs(world):
    job = world.machine_job(2, parallelism=2)
    world.run_passes(2)  # the first input done, its output written
    first_outputs = {o.blob_key for o in world.outputs(job)}
    assert first_outputs

    world.scheduler_dies()
    world.new_scheduler()
    world.run_until_ended(job)

    outputs = world.outputs(job)
    assert first_outputs < {o.blob_key for o in outputs}
    assert len({o.input_id for o in outputs}) == 2
    assert all(world.ctx.blobs.exists(o.blob_key) for o in outputs)


def test_outputs_of_an_interrupted_attempt_are_replaced_by_the_rerun(world):
    job = world.machine_job(1)
    world.run_passes(1)  # leased; the worker starts it and publishes a first part, then all dies
    victim = world.inputs(job)[0]
    stale = keys.job_output(job, victim.id, "pred_partial_part_7.csv")
    with world.ctx.blobs.writer(stale) as out:
        out.write(b"timestamp,Prediction\n")
    with transaction(world.ctx.sessions) as session:
        job_store.add_output(session, JobOutput(id=new_id("out"), job_id=job, input_id=victim.id,
                                                port_name="worker.results", filename="pred_partial_part_7.csv",
                                                file_type="text/csv", blob_key=stale, num_bytes=21, attributes={},
                                                created_at=utcnow()))

    world.scheduler_dies()
    world.new_scheduler()
    world.run_until_ended(job)

    assert world.status(job) == "COMPLETED"
    outputs = world.outputs(job)
    assert outputs and stale not in {o.blob_key for o in outputs}
    assert not world.ctx.blobs.exists(stale)
    assert world.blob_keys(keys.job_prefix(job)) == sorted(o.blob_key for o in outputs)
