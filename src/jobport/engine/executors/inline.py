"""The inline executor: tasks run one at a time in the caller's thread, inside `poll` — the fake
twin of the local executor for unit tests of the scheduler (and a zero-process mode for tiny
servers: `executor=inline`).

It keeps the local executor's contract: `submit` queues (up to `slots` units: tasks or chunks),
`poll` runs the oldest queued unit through the same `TaskRunner` the worker processes use and
returns what it reported, `kill_job` drops the job's queued tasks. `crash_on(input_id)` makes the
worker "die" when that input runs: `poll` then reports `died` for the tasks of its unit and
`returned` for the tasks queued behind it, exactly as the local executor does for a killed worker.
"""

from __future__ import annotations

import select
import socket
import time
from collections import deque
from collections.abc import Sequence

from jobport.blobs.base import BlobStore
from jobport.engine.executors.runner import TaskRunner
from jobport.engine.messages import Task, TaskChunk, Unit, WorkerMessage, tasks_of
from jobport.pipelines.registry import Registry

CRASH_EXIT_CODE = -9


class InlineExecutor:
    takes_chunks = True

    def __init__(self, registry: Registry, blobs: BlobStore, slots: int = 4, warm_models: int = 2) -> None:
        self.slots = max(1, slots)
        self._runner = TaskRunner(registry, blobs, warm_models, slot=0)
        self._queue: deque[Unit] = deque()
        self._crash: set[str] = set()
        self.ran: list[Task] = []  # every task run, in order (tests read it)
        self.chunks: list[list[str]] = []  # the input ids of every chunk run (tests read it)

    def crash_on(self, input_id: str) -> None:
        """The next run of `input_id` kills the (simulated) worker instead of processing it."""
        self._crash.add(input_id)

    def connect(self) -> None:
        """Nothing to reach ahead of `start`: the workers are local."""

    def start(self) -> None:
        return None

    def stop(self) -> list[Task]:
        unfinished = [t for unit in self._queue for t in tasks_of(unit)]
        self._queue.clear()
        self._runner.close()
        return unfinished

    def free_slots(self) -> int:
        return self.slots - len(self._queue)

    def submit(self, unit: Unit) -> None:
        self._queue.append(unit)

    def running(self) -> dict[str, Task]:
        return {task.input_id: task for unit in self._queue for task in tasks_of(unit)}

    def count_for_job(self, job_id: str) -> int:
        return sum(1 for task in self.running().values() if task.job_id == job_id)

    def kill_job(self, job_id: str) -> list[Task]:
        """Drop the queued units holding a task of `job_id`; returns all their tasks (a chunk's
        other tasks included, as a killed worker loses them)."""
        hit = [unit for unit in self._queue if any(t.job_id == job_id for t in tasks_of(unit))]
        self._queue = deque(unit for unit in self._queue if unit not in hit)
        return [t for unit in hit for t in tasks_of(unit)]

    def poll(self, timeout: float, also_wait_on: Sequence[socket.socket] = ()) -> list[WorkerMessage]:
        if not self._queue:
            if also_wait_on:
                select.select(list(also_wait_on), [], [], timeout)
            else:
                time.sleep(timeout)
            return []
        unit = self._queue.popleft()
        tasks = tasks_of(unit)
        self.ran += tasks
        if isinstance(unit, TaskChunk):
            self.chunks.append(unit.input_ids)
        crashed = [t for t in tasks if t.input_id in self._crash]
        if crashed:
            self._crash.difference_update(t.input_id for t in crashed)
            waiting, self._queue = list(self._queue), deque()
            self._runner.close()  # a dead worker loses its warm pipelines
            chunk = isinstance(unit, TaskChunk)
            return [*(WorkerMessage("died", t.job_id, t.input_id,
                                    {"exitcode": CRASH_EXIT_CODE, "task": t, "chunk": chunk}) for t in tasks),
                    *(WorkerMessage("returned", t.job_id, t.input_id, {"task": t})
                      for w in waiting for t in tasks_of(w))]
        messages: list[WorkerMessage] = []
        if isinstance(unit, TaskChunk):
            self._runner.run_chunk(unit, messages.append)
        else:
            self._runner.run(unit, messages.append)
        return messages
