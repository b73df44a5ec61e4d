"""The local executor: a pool of warm worker processes on this machine.

Each worker keeps up to `warm_models` loaded pipelines, so a task whose worker_key matches one a
worker already holds goes to that worker. A worker holds up to `prefetch` units (a task, or a
chunk of small tasks run together): the one it runs and the next ones in its pipe, so short
tasks never wait for a scheduler round trip. Cancel kills the worker holding a task of the
cancelled job and starts a fresh one in its place; the other tasks it held go back to the queue.
A worker that dies reports `died` for every task of the unit it was running (`chunk: True` in the
data when that unit was a chunk) and `returned` for the tasks of the units waiting behind it; a
unit sent to a worker that had died already (a broken pipe) is `returned` too, by the next poll.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

import structlog

from jobport.blobs import BlobConfig
from jobport.engine.executors.local_worker import worker_main
from jobport.engine.messages import Task, TaskChunk, Unit, WorkerMessage, tasks_of
from jobport.pipelines.sdk import HostContext

log = structlog.get_logger("jobport.engine")
_ctx = multiprocessing.get_context("spawn")


@dataclass
class _Handle:
    slot: int
    process: multiprocessing.process.BaseProcess
    conn: Connection
    units: deque[Unit] = field(default_factory=deque)  # [0] runs, the rest wait in the worker's pipe
    warm_keys: OrderedDict[str, None] = field(default_factory=OrderedDict)

    @property
    def tasks(self) -> list[Task]:
        return [t for unit in self.units for t in tasks_of(unit)]

    def finish(self, input_id: str | None) -> None:
        """The unit whose (first) task is `input_id` is done."""
        for i, unit in enumerate(self.units):
            if tasks_of(unit)[0].input_id == input_id:
                del self.units[i]
                return


class LocalExecutor:
    takes_chunks = True

    def __init__(self, size: int, blobs: BlobConfig, host: HostContext, warm_models: int = 2,
                 prefetch: int = 1) -> None:
        self.size = size
        self.prefetch = max(1, prefetch)
        self.host = host
        self.blobs = blobs
        self.warm_models = warm_models
        self.threads_per_worker = max(1, (os.cpu_count() or 1) // size)
        self._handles: dict[int, _Handle] = {}
        self._unsent: list[tuple[int, Unit]] = []  # (slot, unit) a dead worker could not take: returned next poll

    def _spawn(self, slot: int) -> _Handle:
        parent_conn, child_conn = _ctx.Pipe(duplex=True)
        process = _ctx.Process(
            target=worker_main,
            args=(child_conn, os.getpid(), self.blobs, self.host, self.warm_models, slot, self.threads_per_worker),
            name=f"jobport-worker-{slot}",
            daemon=True,
        )
        process.start()
        child_conn.close()
        handle = _Handle(slot, process, parent_conn)
        self._handles[slot] = handle
        return handle

    def connect(self) -> None:
        """Nothing to reach ahead of `start`: the workers are local."""

    def start(self) -> None:
        for slot in range(self.size):
            self._spawn(slot)

    def stop(self) -> list[Task]:
        unfinished = [t for h in self._handles.values() for t in h.tasks]
        unfinished += [t for _, unit in self._unsent for t in tasks_of(unit)]
        self._unsent.clear()
        for handle in self._handles.values():
            if handle.units:
                handle.process.kill()
            else:
                try:
                    handle.conn.send(None)
                except OSError:
                    pass
        for handle in self._handles.values():
            handle.process.join(timeout=3)
            if handle.process.is_alive():
                handle.process.kill()
                handle.process.join(timeout=3)
        self._handles.clear()
        return unfinished

    def free_slots(self) -> int:
        return sum(self.prefetch - len(h.units) for h in self._handles.values())

    def _pick(self, task: Task) -> _Handle:
        """The least loaded worker with room, preferring one that holds the task's pipeline warm."""
        room = [h for h in self._handles.values() if len(h.units) < self.prefetch]
        return min(room, key=lambda h: (len(h.units), task.worker_key not in h.warm_keys))

    def submit(self, unit: Unit) -> None:
        """Send a task, or a chunk of tasks sharing worker key and config, to a worker (one slot)."""
        first = tasks_of(unit)[0]
        handle = self._pick(first)
        handle.units.append(unit)
        try:
            handle.conn.send(unit)
        except OSError:  # the worker died since the last poll (a broken pipe): it never got the unit
            handle.units.pop()
            self._unsent.append((handle.slot, unit))
            return
        handle.warm_keys[first.worker_key] = None
        handle.warm_keys.move_to_end(first.worker_key)
        while len(handle.warm_keys) > self.warm_models:
            handle.warm_keys.popitem(last=False)

    def running(self) -> dict[str, Task]:
        """Tasks held by workers (running or waiting in their pipes), and those the next poll returns,
        by input id."""
        held = {t.input_id: t for h in self._handles.values() for t in h.tasks}
        held.update((t.input_id, t) for _, unit in self._unsent for t in tasks_of(unit))
        return held

    def count_for_job(self, job_id: str) -> int:
        return sum(1 for h in self._handles.values() for t in h.tasks if t.job_id == job_id)

    def kill_job(self, job_id: str) -> list[Task]:
        """Kill the workers holding a task of `job_id`; returns every task they held (other jobs'
        tasks included: the caller puts them back in the queue)."""
        killed: list[Task] = []
        for slot, handle in list(self._handles.items()):
            if any(t.job_id == job_id for t in handle.tasks):
                handle.process.kill()
                handle.process.join(timeout=5)
                killed += handle.tasks
                self._spawn(slot)
        return killed

    def poll(self, timeout: float, also_wait_on: Sequence[socket.socket] = ()) -> list[WorkerMessage]:
        by_conn: dict[Any, _Handle] = {h.conn: h for h in self._handles.values()}
        by_sentinel = {h.process.sentinel: h for h in self._handles.values()}
        messages = [WorkerMessage("returned", t.job_id, t.input_id, {"task": t}, slot)
                    for slot, unit in self._unsent for t in tasks_of(unit)]
        self._unsent.clear()
        ready = wait([*by_conn, *by_sentinel, *also_wait_on], 0 if messages else timeout)
        for obj in ready:
            handle = by_conn.get(obj)
            if handle is not None:
                self._drain(handle, messages)
        for handle in list(self._handles.values()):
            if not handle.process.is_alive():
                self._drain(handle, messages)
                handle.process.join(timeout=1)
                if handle.units:
                    running, *waiting = handle.units
                    chunk = isinstance(running, TaskChunk)
                    messages += [WorkerMessage("died", t.job_id, t.input_id,
                                               {"exitcode": handle.process.exitcode, "task": t, "chunk": chunk},
                                               handle.slot) for t in tasks_of(running)]
                    messages += [WorkerMessage("returned", t.job_id, t.input_id, {"task": t}, handle.slot)
                                 for unit in waiting for t in tasks_of(unit)]
                log.warning("worker died", slot=handle.slot, exitcode=handle.process.exitcode)
                self._spawn(handle.slot)
        return messages

    @staticmethod
    def _drain(handle: _Handle, messages: list[WorkerMessage]) -> None:
        try:
            while handle.conn.poll():
                message = handle.conn.recv()
                if message.kind in ("done", "failed", "load_failed", "chunk"):
                    handle.finish(message.input_id)
                    if message.kind == "load_failed":
                        handle.warm_keys.clear()
                messages.append(message)
        except (EOFError, OSError):
            pass
