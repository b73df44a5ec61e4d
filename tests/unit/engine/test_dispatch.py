"""Dispatch: jobs are served by priority (higher first), then age (older first); a job's
`parallelism` caps its inputs in flight; the executor's free slots cap what one pass hands out."""

from __future__ import annotations


def test_jobs_run_by_priority_then_age(world):
    old = world.machine_job(1, name="old")
    urgent = world.machine_job(1, name="urgent", priority=5)
    young = world.machine_job(1, name="young")
    world.executor.slots = 1  # one task per pass: the order of the passes is the queue's order

    world.run_until_ended(old, urgent, young)

    assert world.ran_jobs() == [urgent, old, young]
    assert {world.status(j) for j in (old, urgent, young)} == {"COMPLETED"}


def test_a_higher_priority_job_created_later_overtakes_the_waiting_ones(world):
    first = world.machine_job(3, name="first")
    world.executor.slots = 1
    world.run_passes(2)  # `first` has one input done and one in flight
    urgent = world.machine_job(1, name="urgent", priority=10)

    world.run_until_ended(first, urgent)

    assert world.ran_jobs() == [first, first, urgent, first]


def test_parallelism_caps_a_jobs_inputs_in_flight(world):
    job = world.machine_job(5, parallelism=2)
    seen = []

    def ended():
        seen.append(world.counts(job)["processing"])
        return world.status(job) == "COMPLETED"

    world.run_until(ended)

    assert max(seen) == 2
    assert world.counts(job) == {"pending": 0, "processing": 0, "completed": 5, "failed": 0}


def test_free_slots_cap_one_pass(world):
    job = world.machine_job(6, parallelism=6)  # the executor holds 4 tasks (1 worker x prefetch 4)

    world.run_passes(1)

    assert world.counts(job)["processing"] == 4
    assert world.counts(job)["pending"] == 2
    assert world.status(job) == "RUNNING"


def test_a_job_at_its_parallelism_does_not_block_the_jobs_behind_it(world):
    first = world.machine_job(4, name="first", parallelism=1)
    second = world.machine_job(4, name="second", parallelism=2)

    world.run_passes(1)

    assert world.counts(first)["processing"] == 1
    assert world.counts(second)["processing"] == 2
    world.run_until_ended(first, second)
    assert world.status(first) == world.status(second) == "COMPLETED"
