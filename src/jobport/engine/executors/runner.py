"""Running tasks: load a task's pipeline (kept warm per worker key, least recently used evicted),
process its input, and report everything as `WorkerMessage`s through a `send` callable.

A `TaskChunk` (small inputs of many jobs) runs through `run_chunk`: one warm worker, one
`process_batch` call when the worker has it (else `process` per input), one `chunk` message back.

Both executors run tasks through `TaskRunner`: the local executor inside each worker process
(`send` writes to the pipe), the inline executor in the scheduler's own thread (`send` appends to a
list). Workers get blob keys, never local paths chosen by the scheduler: inputs are opened and
outputs written through the blob store.
"""

from __future__ import annotations

import io
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any, BinaryIO

from pydantic import BaseModel

from jobport.blobs import keys
from jobport.blobs.base import BlobStore
from jobport.engine.messages import FileSpec, ItemResult, Task, TaskChunk, WorkerMessage
from jobport.pipelines.registry import Registry
from jobport.pipelines.sdk import (
    BatchWorker,
    EventLevel,
    FileRef,
    InputError,
    LoadContext,
    LoadError,
    Pipeline,
    ProcessResult,
    Worker,
)

Send = Callable[[WorkerMessage], None]


class MessageSink:
    """The OutputSink of one task: blobs go to the store, everything else to `send`."""

    def __init__(self, send: Send, blobs: BlobStore, task: Task, slot: int) -> None:
        self._send_message = send
        self._blobs = blobs
        self._task = task
        self._slot = slot

    def _send(self, kind: str, data: dict[str, Any]) -> None:
        self._send_message(WorkerMessage(kind, self._task.job_id, self._task.input_id, data, self._slot))

    @contextmanager
    def open_output(self, port_name: str, filename: str) -> Iterator[BinaryIO]:
        key = keys.job_output(self._task.job_id, self._task.input_id, filename)
        with self._blobs.writer(key) as handle:
            yield handle
        self._send("output", {"port_name": port_name, "filename": filename, "blob_key": key,
                              "num_bytes": self._blobs.size(key)})

    def event(self, level: EventLevel, event_type: str, message: str,
              payload: Mapping[str, Any] | None = None) -> None:
        self._send("event", {"level": level, "event_type": event_type, "message": message,
                             "payload": dict(payload) if payload else None})

    def progress(self, step: str, message: str, items_processed: int, items_total: int | None,
                 payload: Mapping[str, Any] | None = None) -> None:
        self._send("progress", {"step": step, "message": message, "items_processed": items_processed,
                                "items_total": items_total, "payload": dict(payload) if payload else None})


class CollectingSink:
    """The OutputSink of one task of a chunk: blobs go to the store, the rest is kept in `result`
    (sent with the whole chunk's results in one message)."""

    def __init__(self, blobs: BlobStore, task: Task, inline_bytes: int = 0) -> None:
        self._blobs = blobs
        self._task = task
        self._inline_bytes = inline_bytes
        self.result = ItemResult(task.job_id, task.input_id)

    @contextmanager
    def open_output(self, port_name: str, filename: str) -> Iterator[BinaryIO]:
        """Outputs up to `inline_bytes` stay in memory and travel back with the result (stored in
        their output row); larger ones go to the blob store. Either way under the same key."""
        key = keys.job_output(self._task.job_id, self._task.input_id, filename)
        buffer = io.BytesIO()
        yield buffer
        data = buffer.getvalue()
        output: dict[str, Any] = {"port_name": port_name, "filename": filename, "blob_key": key,
                                  "num_bytes": len(data)}
        if len(data) <= self._inline_bytes:
            output["content"] = data
        else:
            with self._blobs.writer(key) as handle:
                handle.write(data)
        self.result.outputs.append(output)

    def event(self, level: EventLevel, event_type: str, message: str,
              payload: Mapping[str, Any] | None = None) -> None:
        self.result.events.append({"level": level, "event_type": event_type, "message": message,
                                   "payload": dict(payload) if payload else None})

    def progress(self, step: str, message: str, items_processed: int, items_total: int | None,
                 payload: Mapping[str, Any] | None = None) -> None:
        self.result.progress.append({"step": step, "message": message, "items_processed": items_processed,
                                     "items_total": items_total, "payload": dict(payload) if payload else None})

    def finish(self, outcome: ProcessResult | BaseException, seconds: float) -> ItemResult:
        result = self.result
        result.seconds = round(seconds, 4)
        if isinstance(outcome, ProcessResult):
            result.items, result.failed_items, result.summary = outcome.items, outcome.failed_items, \
                dict(outcome.summary)
        elif isinstance(outcome, InputError):
            result.outcome, result.code, result.message = "failed", outcome.code, outcome.message
        else:  # a pipeline bug fails this input, not the worker
            result.outcome, result.code = "failed", "internal_error"
            result.message = f"{type(outcome).__name__}: {outcome}"
        return result


def file_ref(spec: FileSpec, blobs: BlobStore) -> FileRef:
    """What a pipeline sees of an input or reference: an opener over the blob (or inline bytes)."""
    inline = spec.inline
    if inline is not None:
        return FileRef(
            input_id=spec.input_id, port_name=spec.port_name, file_id=spec.file_id, filename=spec.filename,
            metadata=spec.metadata, sha256=spec.sha256, num_bytes=spec.num_bytes,
            opener=partial(io.BytesIO, inline), path=None,
        )
    return FileRef(
        input_id=spec.input_id, port_name=spec.port_name, file_id=spec.file_id, filename=spec.filename,
        metadata=spec.metadata, sha256=spec.sha256, num_bytes=spec.num_bytes,
        opener=partial(blobs.open, spec.blob_key), path=blobs.local_path(spec.blob_key),
    )


class TaskRunner:
    """One worker's pipelines, kept warm by worker key (at most `warm_models`, LRU)."""

    def __init__(self, registry: Registry, blobs: BlobStore, warm_models: int, slot: int) -> None:
        self.registry = registry
        self.blobs = blobs
        self.warm_models = warm_models
        self.slot = slot
        self._warm: OrderedDict[str, Worker] = OrderedDict()

    def close(self) -> None:
        for worker in self._warm.values():
            worker.close()
        self._warm.clear()

    def run(self, task: Task, send: Send) -> None:
        def report(kind: str, data: dict[str, Any]) -> None:
            send(WorkerMessage(kind, task.job_id, task.input_id, data, self.slot))

        pipeline = self.registry.get(task.pipeline_key, task.pipeline_version)
        if pipeline is None:
            report("load_failed", {"code": "pipeline_not_installed",
                                   "message": f"pipeline {task.pipeline_key} {task.pipeline_version} is not installed"})
            return
        config = pipeline.spec.config_model.model_validate(task.config)
        worker = self._warm_worker(task, pipeline, config, report)
        if worker is None:
            return
        started = time.perf_counter()
        try:
            result = worker.process(file_ref(task.item, self.blobs), MessageSink(send, self.blobs, task, self.slot),
                                    config)
        except InputError as err:
            report("failed", {"code": err.code, "message": err.message})
            return
        except Exception as err:  # a pipeline bug fails this input, not the worker
            report("failed", {"code": "internal_error", "message": f"{type(err).__name__}: {err}",
                              "traceback": traceback.format_exc(limit=5)})
            return
        report("done", {"items": result.items, "failed_items": result.failed_items, "summary": dict(result.summary),
                        "seconds": round(time.perf_counter() - started, 3)})

    def run_chunk(self, chunk: TaskChunk, send: Send) -> None:
        """Run a chunk's tasks (same worker key and config) and answer with one `chunk` message."""
        first = chunk.first
        results = [ItemResult(t.job_id, t.input_id) for t in chunk.tasks]
        failure: dict[str, Any] = {}

        def report(kind: str, data: dict[str, Any]) -> None:  # what loading says, for the first task
            if kind == "load_failed":
                failure.update(data)
            elif kind == "event":
                results[0].events.append(data)

        pipeline = self.registry.get(first.pipeline_key, first.pipeline_version)
        worker = None
        if pipeline is None:
            failure.update({"code": "pipeline_not_installed",
                            "message": f"pipeline {first.pipeline_key} {first.pipeline_version} is not installed"})
        else:
            config = pipeline.spec.config_model.model_validate(first.config)
            worker = self._warm_worker(first, pipeline, config, report)
        if worker is None or pipeline is None:
            for result in results:
                result.outcome, result.code, result.message = "load_failed", failure.get("code"), \
                    failure.get("message", "")
        else:
            loaded = results[0].events
            results = self._process_chunk(worker, chunk, config)
            results[0].events[:0] = loaded  # the load events come first
        send(WorkerMessage("chunk", first.job_id, first.input_id, {"results": results}, self.slot))

    def _process_chunk(self, worker: Worker, chunk: TaskChunk, config: BaseModel) -> list[ItemResult]:
        refs = [file_ref(t.item, self.blobs) for t in chunk.tasks]
        sinks = [CollectingSink(self.blobs, t, chunk.inline_output_bytes) for t in chunk.tasks]
        started = time.perf_counter()
        outcomes: list[ProcessResult | BaseException] | None = None
        if isinstance(worker, BatchWorker):
            try:
                outcomes = list(worker.process_batch(list(zip(refs, sinks, strict=True)), config))
            except Exception:  # the batch as a whole failed: each input on its own says which one
                outcomes = None
            if outcomes is not None and len(outcomes) != len(refs):
                outcomes = None
        if outcomes is None:
            for sink in sinks:  # what the failed batch call wrote is not published
                for output in sink.result.outputs:
                    if "content" not in output:
                        self.blobs.delete(output["blob_key"])
            sinks = [CollectingSink(self.blobs, t, chunk.inline_output_bytes) for t in chunk.tasks]
            outcomes = []
            for ref, sink in zip(refs, sinks, strict=True):
                try:
                    outcomes.append(worker.process(ref, sink, config))
                except Exception as err:
                    outcomes.append(err)
        each = (time.perf_counter() - started) / len(refs)
        return [sink.finish(outcome, each) for sink, outcome in zip(sinks, outcomes, strict=True)]

    def _warm_worker(self, task: Task, pipeline: Pipeline, config: BaseModel,
                     report: Callable[[str, dict[str, Any]], None]) -> Worker | None:
        warm = self._warm.get(task.worker_key)
        if warm is not None:
            self._warm.move_to_end(task.worker_key)
            return warm
        started = time.perf_counter()

        def emit(level: EventLevel, event_type: str, message: str, payload: Mapping[str, Any] | None = None) -> None:
            report("event", {"level": level, "event_type": event_type, "message": message,
                             "payload": dict(payload) if payload else None})

        try:
            worker = pipeline.load(config, [file_ref(r, self.blobs) for r in task.references],
                                           LoadContext(emit=emit))
        except LoadError as err:
            report("load_failed", {"code": err.code, "message": err.message})
            return None
        except Exception as err:  # a pipeline bug: report it, keep the worker
            report("load_failed", {"code": "pipeline_load_failed", "message": f"{type(err).__name__}: {err}",
                                   "traceback": traceback.format_exc(limit=5)})
            return None
        self._warm[task.worker_key] = worker
        while len(self._warm) > self.warm_models:
            _, evicted = self._warm.popitem(last=False)
            evicted.close()
        seconds = round(time.perf_counter() - started, 3)
        report("event", {"level": "INFO", "event_type": "worker.loaded",
                         "message": f"Pipeline {task.pipeline_key} {task.pipeline_version} loaded in {seconds:.2f} s "
                                    f"on worker {self.slot}",
                         "payload": {"seconds": seconds, "worker": self.slot}})
        return worker
