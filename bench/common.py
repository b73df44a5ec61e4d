"""Shared pieces of the benchmarks: the cached synthetic data set, job bodies, timestamps, stats.

The data set is generated once with `jobport.testing.datasets.write_synthetic_dataset` under
`bench/out/` (git-ignored) and reused while its parameters are unchanged.
"""

from __future__ import annotations

import io
import json
import os
import platform
import statistics
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from jobport.testing.datasets import write_synthetic_csv, write_synthetic_dataset

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
DATA_DIR = OUT_DIR / "data"

N_ROWS = 200_000
N_CHANNELS = 6
SHOT_ROWS = 2_000
SEED = 0
TINY_ROWS = 1_000  # the latency benchmark's job: 1,000 rows -> 59 windows of 64 at step 16

PIPELINE_KEY = "machine-state-classification"


def dataset() -> dict[str, Any]:
    """{"shots": [(path, label)], "inference": path, "tiny": path, "config": {...}}, generated once."""
    params = {"n_rows": N_ROWS, "n_channels": N_CHANNELS, "shot_rows": SHOT_ROWS, "seed": SEED,
              "tiny_rows": TINY_ROWS}
    stamp = DATA_DIR / "dataset.json"
    if stamp.is_file():
        cached = json.loads(stamp.read_text())
        files = [cached["inference"], cached["tiny"], *(p for p, _ in cached["shots"])]
        if cached.get("params") == params and all(Path(p).is_file() for p in files):
            cached["shots"] = [tuple(s) for s in cached["shots"]]
            return cached
    ds = write_synthetic_dataset(DATA_DIR, n_rows=N_ROWS, n_channels=N_CHANNELS, shot_rows=SHOT_ROWS, seed=SEED)
    tiny = DATA_DIR / "synthetic_tiny.csv"
    write_synthetic_csv(tiny, TINY_ROWS, N_CHANNELS, seed=SEED, noise_seed=SEED + 7)
    cached = {"params": params, "shots": [(str(p), label) for p, label in ds.shots],
              "inference": str(ds.inference), "tiny": str(tiny), "config": ds.config}
    stamp.write_text(json.dumps(cached, indent=2))
    return cached


def pipeline_config(base: dict[str, Any], step_size: int, flush_every_n_iteration: int = 32) -> dict[str, Any]:
    """The data set's config (window 64, batch 256, k=5) at `step_size`. 32 batches of 256 per
    output part = 8,192 rows per part, close to the vendor's ~8,000 rows per part."""
    return {**base, "reader_config": {**base["reader_config"], "step_size": step_size},
            "flush_every_n_iteration": flush_every_n_iteration}


def job_body(name: str, inference_ids: list[str], shots: list[tuple[str, str]], config: dict[str, Any],
             shot_tag: str | None = None) -> dict[str, Any]:
    """`shots`: (file_id, class). `shot_tag` adds an inert n-shot metadata key: it changes the job's
    worker key, so the worker builds a fresh index (a cold job) without changing the computation."""
    def meta(label: str) -> dict[str, str]:
        return {"class": label, **({"bench_tag": shot_tag} if shot_tag else {})}

    return {
        "name": name,
        "pipeline_type": "batch",
        "pipeline_key": PIPELINE_KEY,
        "inputs": {
            "worker.inference": [{"file_id": f} for f in inference_ids],
            "worker.n_shots": [{"file_id": f, "metadata": meta(label)} for f, label in shots],
        },
        "parameters": {"worker": {"parallelism": 1, "config": config}},
    }


def epoch(iso: str) -> float:
    """A server timestamp (UTC ISO 8601, `Z`) as epoch seconds, comparable with `time.time()`."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil
    return ordered[int(rank) - 1]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} CPUs ({cpu}), {system}, Python {platform.python_version()}"


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(CPU seconds of `pid`, CPU seconds of its live descendants): user + system, all threads, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    own = children = 0.0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            seconds = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
        if p == pid:
            own = seconds
        else:
            children += seconds
    return own, children


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def thread_pools() -> str:
    """This process's BLAS/OpenMP pool sizes (after numpy, scipy and sklearn are imported)."""
    from threadpoolctl import threadpool_info

    return ", ".join(f"{p['internal_api']} {p['num_threads']}" for p in threadpool_info())


def stop_process(process: subprocess.Popen) -> None:
    """Terminate a baseline's worker; kill it if it has not exited within a minute."""
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


PG_URL = os.environ.get("JOBPORT_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    """The URL of a new PostgreSQL database on the bench server (`JOBPORT_BENCH_DATABASE_URL`),
    dropped afterwards."""
    import psycopg

    name = f"jobport_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_URL.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class MemorySink:
    """An OutputSink for running a worker in-process: keeps outputs in memory, drops events and progress."""

    def __init__(self) -> None:
        self.outputs: dict[str, bytes] = {}

    @contextmanager
    def open_output(self, port_name: str, filename: str) -> Iterator[io.BytesIO]:
        buffer = io.BytesIO()
        yield buffer
        self.outputs[filename] = buffer.getvalue()

    def event(self, *args: Any, **kwargs: Any) -> None:
        pass

    def progress(self, *args: Any, **kwargs: Any) -> None:
        pass
