"""The Ray actor of the Ray executor: one warm worker on a Ray node, the twin of a local worker
process. It wraps a `TaskRunner` (pipelines kept warm by worker key, inputs and outputs through the
blob store opened from the picklable `BlobConfig`) and streams each task's messages back while the
task runs: `run` is a Ray streaming generator (`num_returns="streaming"` at the call) yielding
lists of `WorkerMessage` (events, progress, outputs, then `done` / `failed` / `load_failed`).

The constructor never raises: a failure to build the registry or open the blob store is kept and
reported by `hello()`, so the executor fails the waiting jobs with that message instead of reading
it out of a Ray traceback. Imported only by `executors.ray` (executor `ray`).
"""

from __future__ import annotations

import os
import queue
import threading
import traceback
from collections.abc import Iterator
from typing import Any

import ray

from jobport.blobs import BlobConfig, open_store
from jobport.engine.executors.local_worker import _limit_threads
from jobport.engine.executors.runner import TaskRunner
from jobport.engine.messages import Task, WorkerMessage
from jobport.pipelines.registry import Registry
from jobport.pipelines.sdk import HostContext


class RunnerActor:
    """Decorated by the executor (`ray.remote(RunnerActor).options(...)`) with its worker key's resources."""

    def __init__(self, blobs: BlobConfig, host: HostContext, warm_models: int, slot: int, threads: int) -> None:
        _limit_threads(threads)  # before the registry imports numpy & co.
        self.slot = slot
        self.error: str | None = None
        self._runner: TaskRunner | None = None
        try:
            self._runner = TaskRunner(Registry.from_entry_points(host), open_store(blobs), warm_models, slot)
        except Exception as err:  # reported by hello(): the executor fails the waiting jobs with it
            self.error = f"{type(err).__name__}: {err}"

    def hello(self) -> dict[str, Any]:
        """Where this actor runs, and the error that keeps it from running tasks, if any."""
        context = ray.get_runtime_context()
        return {"node_id": context.get_node_id(), "pid": os.getpid(), "error": self.error,
                "node_ip": ray.util.get_node_ip_address()}  # type: ignore[no-untyped-call]

    def run(self, task: Task) -> Iterator[list[WorkerMessage]]:
        """Run one task, yielding its messages as the runner sends them (batched when several wait)."""
        outbox: queue.SimpleQueue[WorkerMessage | None] = queue.SimpleQueue()
        worker = threading.Thread(target=self._work, args=(task, outbox), name=f"task-{task.input_id}", daemon=True)
        worker.start()
        ended = False
        while not ended:
            batch = [outbox.get()]
            while True:
                try:
                    batch.append(outbox.get_nowait())
                except queue.Empty:
                    break
            ended = batch[-1] is None
            messages = [m for m in batch if m is not None]
            if messages:
                yield messages
        worker.join()

    def _work(self, task: Task, outbox: queue.SimpleQueue[WorkerMessage | None]) -> None:
        try:
            if self._runner is None:
                outbox.put(WorkerMessage("load_failed", task.job_id, task.input_id,
                                         {"code": "worker_start_failed", "message": self.error or "no runner"},
                                         self.slot))
            else:
                self._runner.run(task, outbox.put)
        except Exception as err:  # outside the pipeline's own calls (its config no longer validates...)
            outbox.put(WorkerMessage("failed", task.job_id, task.input_id,
                                     {"code": "internal_error", "message": f"{type(err).__name__}: {err}",
                                      "traceback": traceback.format_exc(limit=5)}, self.slot))
        finally:
            outbox.put(None)
