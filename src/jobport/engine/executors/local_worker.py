"""The body of a local worker process: run the tasks and task chunks that arrive on its pipe with a
`TaskRunner`.

Outputs go straight to the blob store; events, progress, outputs and results go back up the pipe.
The process dies with its parent (PR_SET_PDEATHSIG plus a watchdog thread), so a killed server
never leaves a worker writing behind its back.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection

from jobport.blobs import BlobConfig, open_store
from jobport.engine.executors.runner import TaskRunner
from jobport.engine.messages import TaskChunk, WorkerMessage
from jobport.pipelines.registry import Registry
from jobport.pipelines.sdk import HostContext


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


def _limit_threads(threads: int) -> None:
    # One BLAS/OpenMP pool per worker sized to its share of the cores: N workers each spinning up
    # a pool as large as the machine oversubscribe the CPU (3x slower KNN queries measured).
    # Set before numpy/sklearn are imported: nothing imports them before this runs (the registry
    # only reads the pipelines' specs; a pipeline imports its libraries in `load`, tests/unit/test_lazy_imports.py).
    # BLAS gets one thread: the pipelines' matrix products are small, and a second OpenBLAS thread
    # only spin-waits (2x the CPU time for the same wall time, bench/README.md); OpenMP (sklearn's
    # KNN, onnxruntime, llama.cpp) keeps the worker's share of the cores.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"


def worker_main(conn: Connection, parent_pid: int, blobs: BlobConfig, host: HostContext, warm_models: int,
                slot: int, threads: int = 1) -> None:
    _die_with_parent(parent_pid)
    _limit_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the server, which stops us.
    runner = TaskRunner(Registry.from_entry_points(host), open_store(blobs), warm_models, slot)
    conn.send(WorkerMessage("ready", slot=slot))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            break
        if task is None:
            break
        if isinstance(task, TaskChunk):
            runner.run_chunk(task, conn.send)
        else:
            runner.run(task, conn.send)
    runner.close()
    sys.exit(0)
