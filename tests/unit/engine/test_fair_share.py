"""Fair share: among queued jobs of equal priority, orgs take turns, so one org's backlog (one job
with many inputs, or many jobs) delays another org's single job by at most one task slot; a higher
priority still goes first."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobport.engine.dispatch import ChunkRules, plan_dispatch
from jobport.server import build_context, prepare
from jobport.services import auth
from jobport.store import jobs as job_store
from jobport.store.jobs import RunnableJob
from unit.engine.conftest import World, new_scheduler, settings_for

SLOTS = 4  # the inline executor of the test world: 1 worker x prefetch 4


@pytest.fixture(params=["sqlite", "postgresql"])
def both(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """The engine test world on SQLite and on PostgreSQL (its job counters differ)."""
    url = request.getfixturevalue("own_pg_database") if request.param == "postgresql" else None
    ctx = build_context(settings_for(tmp_path, database_url=url))
    prepare(ctx)
    org_id, _ = auth.create_key(ctx, "org-a")
    world = World(ctx, new_scheduler(ctx), org_id)
    yield world
    world.scheduler.release_lock()
    ctx.db.dispose()


def second_org(world: World, name: str = "org-b") -> World:
    org_id, _ = auth.create_key(world.ctx, name)
    return World(world.ctx, world.scheduler, org_id)


def started_before(world: World, job_id: str, moment: datetime) -> int:
    return sum(1 for row in world.inputs(job_id) if row.started_at is not None and row.started_at < moment)


def only_input_start(world: World, job_id: str) -> datetime:
    (row,) = world.inputs(job_id)
    assert row.started_at is not None
    return row.started_at


def test_another_orgs_job_waits_one_task_slot_behind_a_big_job(both):
    world = both
    backlog = world.machine_job(40, name="backlog", parallelism=40)
    world.run_passes(1)
    assert world.counts(backlog)["processing"] == SLOTS  # org A holds every slot
    other = second_org(world)
    single = other.machine_job(1, name="single")

    other.run_until_ended(single)

    started = only_input_start(other, single)
    assert started_before(world, backlog, started) <= SLOTS + 1  # A got at most one further slot first
    assert world.ran_jobs().index(single) <= SLOTS + 1
    assert world.counts(backlog)["pending"] > 0  # ...long before A's backlog drained


def test_another_orgs_job_is_not_lost_behind_many_jobs_of_one_org(world):
    many = [world.machine_job(1, name=f"many{i}") for i in range(30)]
    other = second_org(world)
    single = other.machine_job(1, name="single")
    world.executor.slots = 1  # one task per pass: the passes' order is the queue's order

    other.run_until_ended(single)

    assert world.ran_jobs().index(single) <= 1  # A's oldest job, then B's (not A's 30 first)
    assert sum(world.status(j) == "COMPLETED" for j in many) <= 2


def test_a_higher_priority_still_goes_before_fair_share(world):
    other = second_org(world)
    mine = world.machine_job(2, name="mine", parallelism=2)
    theirs = other.machine_job(1, name="urgent", priority=5)
    world.executor.slots = 1

    other.run_until_ended(theirs)
    world.run_until_ended(mine)

    assert world.ran_jobs() == [theirs, mine, mine]


def _job(job_id: str, org: str, priority: int = 0, parallelism: int = 64) -> RunnableJob:
    return RunnableJob(job_id, "PENDING", parallelism, "p", "1", "wk", None, datetime.now(UTC), None, None,
                       org, priority)


def test_a_pass_shares_its_free_slots_among_the_orgs_in_turns():
    jobs = [_job("a1", "A"), _job("a2", "A"), _job("b1", "B"), _job("c1", "C", parallelism=1)]

    plan = plan_dispatch(jobs, {"a1": 2}, 7, ChunkRules(size=1), datetime.now(UTC))

    # B and C start level with A's two in flight, then every org takes one slot per turn
    assert plan.wants == {"b1": 4, "c1": 1, "a1": 2}


def test_a_short_queue_read_still_holds_every_org(both):
    world = both
    mine = [world.machine_job(1, name=f"mine{i}") for i in range(5)]
    other = second_org(world)
    theirs = other.machine_job(1, name="theirs")

    with world.ctx.sessions() as session:
        read = [job.id for job in job_store.runnable_jobs(session, limit=3)]

    assert read == [*mine[:3], theirs]  # the first 3 in queue order, and the other org's first job
