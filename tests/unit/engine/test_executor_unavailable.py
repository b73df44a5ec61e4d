"""An executor whose backend is unreachable (a Ray cluster that does not answer) never fails jobs:
the scheduler gives the lock back and waits (`state == "waiting"`, the reason on `/readyz`); an
executor lost mid-job makes the scheduler step down, and the inputs it held go back to the queue
without spending an attempt (`input.preempted`). When the backend answers again, the jobs run."""

from __future__ import annotations

from jobport.engine.executors.base import ExecutorUnavailable
from jobport.engine.executors.inline import InlineExecutor
from jobport.server import build_scheduler
from jobport.services import readiness

PROBLEM = "Ray cluster at 127.0.0.2:1 is unreachable: connection refused"


class FlakyExecutor(InlineExecutor):
    """The inline executor, with a switch that makes its backend unreachable."""

    down = False

    def start(self) -> None:
        if self.down:
            raise ExecutorUnavailable(PROBLEM)
        super().start()

    def poll(self, timeout, also_wait_on=()):
        if self.down:
            raise ExecutorUnavailable(PROBLEM)
        return super().poll(timeout, also_wait_on)


def _flaky_scheduler(ctx):
    executor = FlakyExecutor(ctx.registry, ctx.blobs, slots=4)
    return build_scheduler(ctx, executor), executor


def test_unreachable_at_start_keeps_jobs_queued_and_says_why(world):
    world.scheduler_dies()
    scheduler, executor = _flaky_scheduler(world.ctx)
    executor.down = True
    job = world.machine_job(2)

    assert scheduler.take_lock() is False
    world.ctx.scheduler = scheduler
    assert scheduler.state == "waiting" and scheduler.problem == PROBLEM
    assert world.status(job) == "PENDING"
    report = readiness.check(world.ctx)
    assert not report.ready and report.waiting_for == [f"scheduler: waiting: {PROBLEM}"]
    # the lock was given back: another scheduler (one that reaches the cluster) can take it
    assert scheduler.lock.try_acquire()
    scheduler.lock.release()

    executor.down = False
    assert scheduler.take_lock() and scheduler.state == "running" and scheduler.problem is None
    world.scheduler = scheduler
    world.run_until_ended(job)
    assert world.status(job) == "COMPLETED"
    assert readiness.check(world.ctx).ready


def test_lost_mid_job_requeues_held_inputs_without_spending_attempts(world):
    world.scheduler_dies()
    scheduler, executor = _flaky_scheduler(world.ctx)
    assert scheduler.take_lock()
    world.scheduler = scheduler
    world.ctx.scheduler = scheduler
    job = world.machine_job(3)
    scheduler._dispatch()  # tasks handed to the executor, none run yet
    held = set(executor.running())
    assert held

    executor.down = True
    scheduler._step_down(PROBLEM)  # what the loop does when a pass raises ExecutorUnavailable
    assert not scheduler.has_lock and scheduler.state == "waiting"
    rows = {r.id: r for r in world.inputs(job)}
    assert all(rows[i].status == "pending" and rows[i].attempts == 0 for i in held)
    preempted = world.events(job, "input.preempted")
    assert {e.input_id for e in preempted} == held
    assert world.job(job).job.preemption_count >= 1

    executor.down = False
    assert scheduler.take_lock()
    world.run_until_ended(job)
    assert world.status(job) == "COMPLETED"
    assert all(r.attempts == 1 for r in world.inputs(job))
