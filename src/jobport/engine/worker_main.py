"""The body of a local worker process: load pipelines (kept warm, LRU) and process tasks.

The process reads tasks from its pipe, writes outputs straight to the blob store and reports
events, progress, outputs and the result back. It dies with its parent (PR_SET_PDEATHSIG plus a
watchdog thread), so a killed server never leaves a worker writing behind its back.
"""

from __future__ import annotations

import ctypes
import io
import os
import signal
import sys
import threading
import time
import traceback
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any

from jobport.blobs.local import LocalBlobStore
from jobport.engine.messages import FileSpec, Task, WorkerMessage
from jobport.llm import catalogue
from jobport.pipelines.registry import Registry
from jobport.pipelines.sdk import FileRef, InputError, LoadContext, LoadError, Worker


def _die_with_parent(parent_pid: int) -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass

    def watchdog() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watchdog, daemon=True, name="parent-watchdog").start()
    if os.getppid() != parent_pid:
        os._exit(1)


class _PipeSink:
    """The OutputSink of one task: blobs go to the store, everything else up the pipe."""

    def __init__(self, conn, blobs: LocalBlobStore, task: Task, slot: int) -> None:
        self._conn = conn
        self._blobs = blobs
        self._task = task
        self._slot = slot

    def _send(self, kind: str, data: dict[str, Any]) -> None:
        self._conn.send(WorkerMessage(kind, self._task.job_id, self._task.input_id, data, self._slot))

    @contextmanager
    def open_output(self, port_name: str, filename: str):
        key = f"jobs/{self._task.job_id}/outputs/{self._task.input_id}/{filename}"
        with self._blobs.writer(key) as handle:
            yield handle
        self._send("output", {"port_name": port_name, "filename": filename, "blob_key": key,
                              "num_bytes": self._blobs.size(key)})

    def event(self, level, event_type, message, payload=None) -> None:
        self._send("event", {"level": level, "event_type": event_type, "message": message,
                             "payload": dict(payload) if payload else None})

    def progress(self, step, message, items_processed, items_total, payload=None) -> None:
        self._send("progress", {"step": step, "message": message, "items_processed": items_processed,
                                "items_total": items_total, "payload": dict(payload) if payload else None})


def _file_ref(spec: FileSpec, blobs: LocalBlobStore) -> FileRef:
    if spec.inline is not None:
        return FileRef(
            input_id=spec.input_id, port_name=spec.port_name, file_id=spec.file_id, filename=spec.filename,
            metadata=spec.metadata, sha256=spec.sha256, num_bytes=spec.num_bytes,
            opener=lambda data=spec.inline: io.BytesIO(data), path=None,
        )
    return FileRef(
        input_id=spec.input_id, port_name=spec.port_name, file_id=spec.file_id, filename=spec.filename,
        metadata=spec.metadata, sha256=spec.sha256, num_bytes=spec.num_bytes,
        opener=lambda key=spec.blob_key: blobs.open(key), path=blobs.local_path(spec.blob_key),
    )


def worker_main(conn, parent_pid: int, blob_root: str, warm_models: int, slot: int, threads: int = 1,
                models_file: str | None = None) -> None:
    _die_with_parent(parent_pid)
    # One BLAS/OpenMP pool per worker sized to its share of the cores: N workers each spinning up
    # a pool as large as the machine oversubscribe the CPU (3x slower KNN queries measured).
    # Set before numpy/sklearn are imported (the pipelines import them when the registry loads).
    # BLAS gets one thread: the pipelines' matrix products are small, and a second OpenBLAS thread
    # only spin-waits (2x the CPU time for the same wall time, bench/README.md); OpenMP (sklearn's
    # KNN, onnxruntime, llama.cpp) keeps the worker's share of the cores.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the server, which stops us.
    catalogue.configure(models_file)
    blobs = LocalBlobStore(blob_root)
    registry = Registry.from_entry_points()
    warm: OrderedDict[str, Worker] = OrderedDict()
    conn.send(WorkerMessage("ready", slot=slot))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            break
        if task is None:
            break
        _run_task(conn, task, blobs, registry, warm, warm_models, slot)
    for worker in warm.values():
        worker.close()
    sys.exit(0)


def _run_task(conn, task: Task, blobs, registry: Registry, warm, warm_models: int, slot: int) -> None:
    def send(kind: str, data: dict[str, Any]) -> None:
        conn.send(WorkerMessage(kind, task.job_id, task.input_id, data, slot))

    pipeline = registry.get(task.pipeline_key, task.pipeline_version)
    if pipeline is None:
        send("load_failed", {"code": "pipeline_not_installed",
                             "message": f"pipeline {task.pipeline_key} {task.pipeline_version} is not installed"})
        return
    config = pipeline.spec.config_model.model_validate(task.config)
    worker = warm.get(task.worker_key)
    if worker is None:
        started = time.perf_counter()
        try:
            context = LoadContext(
                emit=lambda level, event_type, message, payload=None: send(
                    "event", {"level": level, "event_type": event_type, "message": message,
                              "payload": dict(payload) if payload else None})
            )
            worker = pipeline.load(config, [_file_ref(r, blobs) for r in task.references], context)
        except LoadError as err:
            send("load_failed", {"code": err.code, "message": err.message})
            return
        except Exception as err:  # a pipeline bug: report it, keep the process
            send("load_failed", {"code": "pipeline_load_failed", "message": f"{type(err).__name__}: {err}",
                                 "traceback": traceback.format_exc(limit=5)})
            return
        warm[task.worker_key] = worker
        while len(warm) > warm_models:
            _, evicted = warm.popitem(last=False)
            evicted.close()
        send("event", {"level": "INFO", "event_type": "worker.loaded",
                       "message": f"Pipeline {task.pipeline_key} {task.pipeline_version} loaded in "
                                  f"{time.perf_counter() - started:.2f} s on worker {slot}",
                       "payload": {"seconds": round(time.perf_counter() - started, 3), "worker": slot}})
    else:
        warm.move_to_end(task.worker_key)
    sink = _PipeSink(conn, blobs, task, slot)
    started = time.perf_counter()
    try:
        result = worker.process(_file_ref(task.item, blobs), sink, config)
    except InputError as err:
        send("failed", {"code": err.code, "message": err.message})
        return
    except Exception as err:
        send("failed", {"code": "internal_error", "message": f"{type(err).__name__}: {err}",
                        "traceback": traceback.format_exc(limit=5)})
        return
    send("done", {"items": result.items, "failed_items": result.failed_items, "summary": dict(result.summary),
                  "seconds": round(time.perf_counter() - started, 3)})
