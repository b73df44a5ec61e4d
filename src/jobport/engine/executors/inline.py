"""The inline executor: tasks run one at a time in the caller's thread, inside `poll` — the fake
twin of the local executor for unit tests of the scheduler (and a zero-process mode for tiny
servers: `executor=inline`).

It keeps the local executor's contract: `submit` queues (up to `slots` tasks), `poll` runs the
oldest queued task through the same `TaskRunner` the worker processes use and returns what it
reported, `kill_job` drops the job's queued tasks. `crash_on(input_id)` makes the worker "die"
when that input runs: `poll` then reports `died` for it and `returned` for the tasks queued
behind it, exactly as the local executor does for a killed worker process.
"""

from __future__ import annotations

import select
import socket
import time
from collections import deque
from collections.abc import Sequence

from jobport.blobs.base import BlobStore
from jobport.engine.executors.runner import TaskRunner
from jobport.engine.messages import Task, WorkerMessage
from jobport.pipelines.registry import Registry

CRASH_EXIT_CODE = -9


class InlineExecutor:
    def __init__(self, registry: Registry, blobs: BlobStore, slots: int = 4, warm_models: int = 2) -> None:
        self.slots = max(1, slots)
        self._runner = TaskRunner(registry, blobs, warm_models, slot=0)
        self._queue: deque[Task] = deque()
        self._crash: set[str] = set()
        self.ran: list[Task] = []  # every task run, in order (tests read it)

    def crash_on(self, input_id: str) -> None:
        """The next run of `input_id` kills the (simulated) worker instead of processing it."""
        self._crash.add(input_id)

    def connect(self) -> None:
        """Nothing to reach ahead of `start`: the workers are local."""

    def start(self) -> None:
        return None

    def stop(self) -> list[Task]:
        unfinished = list(self._queue)
        self._queue.clear()
        self._runner.close()
        return unfinished

    def free_slots(self) -> int:
        return self.slots - len(self._queue)

    def submit(self, task: Task) -> None:
        self._queue.append(task)

    def running(self) -> dict[str, Task]:
        return {task.input_id: task for task in self._queue}

    def count_for_job(self, job_id: str) -> int:
        return sum(1 for task in self._queue if task.job_id == job_id)

    def kill_job(self, job_id: str) -> list[Task]:
        killed = [task for task in self._queue if task.job_id == job_id]
        self._queue = deque(task for task in self._queue if task.job_id != job_id)
        return killed

    def poll(self, timeout: float, also_wait_on: Sequence[socket.socket] = ()) -> list[WorkerMessage]:
        if not self._queue:
            if also_wait_on:
                select.select(list(also_wait_on), [], [], timeout)
            else:
                time.sleep(timeout)
            return []
        task = self._queue.popleft()
        self.ran.append(task)
        if task.input_id in self._crash:
            self._crash.discard(task.input_id)
            waiting, self._queue = list(self._queue), deque()
            self._runner.close()  # a dead worker loses its warm pipelines
            return [WorkerMessage("died", task.job_id, task.input_id, {"exitcode": CRASH_EXIT_CODE, "task": task}),
                    *(WorkerMessage("returned", t.job_id, t.input_id, {"task": t}) for t in waiting)]
        messages: list[WorkerMessage] = []
        self._runner.run(task, messages.append)
        return messages
