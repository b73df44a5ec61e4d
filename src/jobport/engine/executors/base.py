"""The executor protocol: how the scheduler hands tasks to workers and hears back from them.

Messages a worker sends (`WorkerMessage.kind`): `event`, `progress`, `output` while a task runs;
then one of `done`, `failed` (the input's fault) or `load_failed` (the pipeline could not load).
A chunk is answered by one `chunk` message holding every task's `ItemResult`.
The executor itself adds `died` (the worker process holding a running task crashed while its
machine stayed up: the task spends an attempt), `returned` (a task that was waiting behind it, not
started: it goes back to the queue without spending an attempt) and `preempted` (a task interrupted
by the infrastructure: its node was lost, its actor was killed because its node died or was
evicted; it goes back to the queue without spending an attempt). `died`, `returned` and
`preempted` carry the task in `data["task"]`; `died` also `exitcode`, `preempted` a `reason`.

An executor whose backend (a Ray cluster) is unreachable at start or lost later raises
`ExecutorUnavailable` from `start()` or `poll()`.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Protocol

from jobport.engine.messages import Task, TaskChunk, WorkerMessage


class ExecutorUnavailable(Exception):
    """Raised by `connect()`, `start()` or `poll()` when the executor's backend is unreachable or
    lost (a Ray cluster that does not answer); the message says what ("Ray cluster at
    127.0.0.2:29380 is unreachable: ..."). The scheduler then keeps jobs queued, reports the message
    on `/readyz` and in the log, and retries."""


class Executor(Protocol):
    # True when `submit` also takes a `TaskChunk` (small inputs run together in one worker call);
    # the scheduler sends single tasks to executors without it.
    takes_chunks: bool

    def connect(self) -> None:
        """Reach the backend ahead of `start` without taking work (a standby scheduler does this so
        that it can take over at once); may raise ExecutorUnavailable. Nothing to do for local ones."""
        ...

    def start(self) -> None: ...

    def stop(self) -> list[Task]:
        """Stop every worker; returns the tasks that were still running or waiting."""
        ...

    def free_slots(self) -> int:
        """How many more tasks `submit` takes now."""
        ...

    def submit(self, unit: Task | TaskChunk) -> None:
        """Hand over a task (or, with `takes_chunks`, a chunk: one slot); may exceed `free_slots()`
        by a few units (the plan packs tasks of different configs apart)."""
        ...

    def running(self) -> dict[str, Task]:
        """In-flight tasks (running or waiting for a worker) by input id."""
        ...

    def count_for_job(self, job_id: str) -> int: ...

    def kill_job(self, job_id: str) -> list[Task]:
        """Stop at once every task of `job_id`; returns the tasks that were stopped (other jobs'
        tasks included when they shared a killed worker: the caller puts them back in the queue)."""
        ...

    def poll(self, timeout: float, also_wait_on: Sequence[socket.socket] = ()) -> list[WorkerMessage]:
        """Messages from workers, waiting up to `timeout` (or until an extra waitable is ready)."""
        ...
