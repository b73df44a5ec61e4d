"""(a) End-to-end throughput of `machine-state-classification`: a real server vs the same model in-process.

Data: a 6-channel 200,000-row synthetic CSV plus three 2,000-row n-shot files (one per state),
generated once under `bench/out/data/`. Config: window 64, batch 256, k=5, 32 batches per output
part, step 16 (12,497 windows); `--heavy` adds step 4 (49,985 windows).

Per repetition, alternating:
- direct: `build_model` (timed separately: the n-shot index build) then `predict_csv` over the
  inference CSV in this process, default BLAS/OpenMP threading (all cores);
- e2e cold: through an `EmbeddedServer(workers=1)` (its one worker gets OMP/OPENBLAS threads =
  cpus / 1 = all cores), create the job and wait for COMPLETED. The n-shot metadata carries a fresh
  inert tag, so the worker key is new and the worker builds the index inside the job;
- e2e warm: the same job again: the worker reuses the index.

`--workers N` (N > 1) runs the server with N workers instead (each worker's pools get cpus/N
threads; the job uses one of them) and limits the direct side's pools to cpus/N threads too
(threadpoolctl): `run_all.py` runs workers=1 and then the server's default, one worker per CPU.

The e2e time runs from just before the create request is sent (client clock) to the job's
`completed_at` (server clock, same machine); the time at which the client observed COMPLETED
(polling every 0.1-0.25 s) is reported too. Medians over the repetitions. The files are
uploaded before timing starts. The predictions of the last warm job are downloaded and compared
with the direct ones, window by window.

Then, once per config, `MachineStateWorker.process` runs in this process with an in-memory sink:
the worker's own overhead over `predict_csv` (output CSV formatting, label counting) without the
engine, to tell it apart from the engine's overhead (dispatch, IPC, bookkeeping in the database);
and `predict_csv` once more with the BLAS/OpenMP pools limited to 1 thread (threadpoolctl), to
show what the second thread buys. CPU seconds are reported beside wall time: this process's
`process_time()` for direct, /proc utime+stime of the server process and its worker for e2e.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from common import (
    OUT_DIR,
    MemorySink,
    cpu_seconds,
    dataset,
    epoch,
    job_body,
    loadavg,
    machine,
    median,
    pipeline_config,
    thread_pools,
)
from jobport.pipelines.builtin.machine_state.direct import build_model, predict_csv
from jobport.pipelines.builtin.machine_state.worker import MachineStateWorker
from jobport.pipelines.sdk import FileRef
from jobport.sdk.client import JobportClient
from jobport.testing.embedded import EmbeddedServer

DEFAULT_STEPS = (16,)
HEAVY_STEPS = (16, 4)


def run(reps: int = 5, steps: tuple[int, ...] = DEFAULT_STEPS, workers: int = 1,
        log=print) -> dict[int, dict[str, Any]]:
    """`workers=1` (the default): one worker gets all cores, direct runs with default threading.
    `workers=N>1`: each worker's pools get cpus/N threads, and so do direct's (threadpoolctl)."""
    data = dataset()
    results = {}
    threads = max(1, (os.cpu_count() or 1) // workers)
    with EmbeddedServer(workers=workers) as server, JobportClient(server.url, server.key, timeout=120) as jp, \
            threadpool_limits(threads if workers > 1 else None):
        log(f"server {server.url} (workers={workers}: each worker's OMP/OPENBLAS/MKL_NUM_THREADS = "
            f"cpus/{workers} = {threads}); load average {loadavg()}")
        log(f"direct side: {'default threading' if workers == 1 else f'pools limited to {threads} thread(s)'}; "
            f"pools in this process: {thread_pools()}")
        shots = [(jp.upload_file(path)["file_id"], label) for path, label in data["shots"]]
        inference_id = jp.upload_file(data["inference"])["file_id"]
        for step in steps:
            results[step] = bench_config(jp, server.process.pid, data, shots, inference_id, step, reps, log)
            results[step]["workers"] = workers
            results[step]["threads"] = threads
        log(f"load average at the end: {loadavg()}")
    return results


def bench_config(jp: JobportClient, server_pid: int, data: dict, shots: list[tuple[str, str]],
                 inference_id: str, step: int, reps: int, log) -> dict[str, Any]:
    config = pipeline_config(data["config"], step)
    build_s, predict_s, predict_cpu, cold, warm = [], [], [], [], []
    labels = None
    for rep in range(reps):
        started = time.perf_counter()
        model = build_model(config, data["shots"])
        build_s.append(time.perf_counter() - started)
        started, cpu = time.perf_counter(), time.process_time()
        labels = predict_csv(model, data["inference"])
        predict_s.append(time.perf_counter() - started)
        predict_cpu.append(time.process_time() - cpu)
        log(f"  step {step} rep {rep}: direct build {build_s[-1]:.2f} s + predict {predict_s[-1]:.2f} s "
            f"(cpu {predict_cpu[-1]:.2f} s; {len(labels):,} windows)")
        tag = f"step{step}-rep{rep}"
        for kind, bucket in (("cold", cold), ("warm", warm)):
            body = job_body(f"bench-{tag}-{kind}", [inference_id], shots, config, shot_tag=tag)
            timing = run_job(jp, server_pid, body)
            bucket.append(timing)
            log(f"  step {step} rep {rep}: e2e {kind} {timing['seconds']:.2f} s (cpu server "
                f"{timing['cpu_server']:.2f} s + worker {timing['cpu_worker']:.2f} s, observed "
                f"{timing['observed']:.2f} s; dispatch {timing['dispatch']:.3f} s, load {timing['load']:.2f} s, "
                f"process {timing['process']:.2f} s)")

    windows = len(labels)
    identical = compare_predictions(jp, warm[-1]["job_id"], labels, config, step)
    log(f"  step {step}: e2e predictions identical to direct: {identical}")
    worker = profile_worker(model, data["inference"])
    log(f"  step {step}: in-process MachineStateWorker.process {worker['seconds']:.2f} s (cpu {worker['cpu']:.2f} s; "
        f"output parts {worker['write_parts']:.3f} s)")
    with threadpool_limits(1):
        started, cpu = time.perf_counter(), time.process_time()
        predict_csv(model, data["inference"])
        single = {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu}
    log(f"  step {step}: direct predict with BLAS/OpenMP pools limited to 1 thread: {single['seconds']:.2f} s "
        f"(cpu {single['cpu']:.2f} s)")

    def stat(timings: list[dict], key: str, pick=median) -> float:
        return pick([t[key] for t in timings])

    cold_direct = [b + p for b, p in zip(build_s, predict_s, strict=False)]
    keys = ("create_rtt", "dispatch", "load", "process", "rest", "observed", "cpu_server", "cpu_worker")
    result = {
        "step": step, "windows": windows, "reps": reps, "identical": identical,
        "direct_build_s": median(build_s), "direct_predict_s": median(predict_s), "direct_cold_s": median(cold_direct),
        "e2e_warm_s": stat(warm, "seconds"), "e2e_cold_s": stat(cold, "seconds"),
        "direct_predict_best_s": min(predict_s), "e2e_warm_best_s": stat(warm, "seconds", min),
        "direct_cold_best_s": min(cold_direct), "e2e_cold_best_s": stat(cold, "seconds", min),
        "direct_predict_cpu_s": median(predict_cpu), "e2e_warm_cpu_s": stat(warm, "cpu"),
        "warm": {k: stat(warm, k) for k in keys}, "cold": {k: stat(cold, k) for k in keys},
        "worker_inprocess": worker, "direct_1thread": single,
        "raw": {"build": build_s, "predict": predict_s, "predict_cpu": predict_cpu, "cold": cold, "warm": warm},
    }
    # windows/s ratio e2e/direct = direct seconds / e2e seconds (same windows on both sides)
    result["ratio_warm"] = result["direct_predict_s"] / result["e2e_warm_s"]
    result["ratio_cold"] = result["direct_cold_s"] / result["e2e_cold_s"]
    result["ratio_warm_best"] = result["direct_predict_best_s"] / result["e2e_warm_best_s"]
    result["ratio_cold_best"] = result["direct_cold_best_s"] / result["e2e_cold_best_s"]
    result["ratio_cpu"] = result["direct_predict_cpu_s"] / result["e2e_warm_cpu_s"]
    return result


def run_job(jp: JobportClient, server_pid: int, body: dict) -> dict[str, float | str]:
    """Create, wait for a terminal status; seconds from create-sent to completed_at, a breakdown, and
    the CPU seconds the server and its worker spent meanwhile."""
    server_cpu, worker_cpu = cpu_seconds(server_pid)
    sent = time.time()
    job = jp.create_job(body)
    create_rtt = time.time() - sent
    job = jp.wait_job(job["id"], timeout=900, interval=0.1, max_interval=0.25)
    observed = time.time() - sent
    server_after, worker_after = cpu_seconds(server_pid)
    server_cpu, worker_cpu = server_after - server_cpu, worker_after - worker_cpu
    if job["status"] != "COMPLETED":
        raise RuntimeError(f"job {job['id']} ended {job['status']}: {job.get('error')}")
    seconds = epoch(job["completed_at"]) - sent
    dispatch = epoch(job["started_at"]) - sent
    events = {e["event_type"]: e for e in jp.job_events(job["id"])}
    load = (events.get("worker.loaded", {}).get("payload") or {}).get("seconds", 0.0)
    process = events["inference.success"]["payload"]["seconds"]
    return {"job_id": job["id"], "seconds": seconds, "observed": observed,
            "cpu": server_cpu + worker_cpu, "cpu_server": server_cpu, "cpu_worker": worker_cpu,
            "create_rtt": create_rtt,
            "dispatch": dispatch, "load": load, "process": process,
            "rest": seconds - dispatch - load - process}


def compare_predictions(jp: JobportClient, job_id: str, labels: np.ndarray, config: dict, step: int) -> bool:
    """Download the job's output parts and compare them with the direct predictions, row by row
    (timestamps too: window k ends at row k*step + window_size - 1, whose timestamp is that index)."""
    dest = OUT_DIR / f"e2e_outputs_step{step}"
    shutil.rmtree(dest, ignore_errors=True)
    paths = jp.download_outputs(job_id, dest)
    paths.sort(key=lambda p: int(re.search(r"_part_(\d+)\.csv$", p.name).group(1)))
    rows = [row for p in paths for row in csv.DictReader(io.StringIO(p.read_text()))]
    window = config["reader_config"]["window_size"]
    expected_ts = [str(k * step + window - 1) for k in range(len(labels))]
    return (len(rows) == len(labels)
            and [r["Prediction"] for r in rows] == labels.tolist()
            and [r["timestamp"] for r in rows] == expected_ts)


class _TimedWorker(MachineStateWorker):
    write_parts = 0.0

    def _write_part(self, sink, item, part, batches):
        started = time.perf_counter()
        try:
            return super()._write_part(sink, item, part, batches)
        finally:
            self.write_parts += time.perf_counter() - started


def profile_worker(model, path: str) -> dict[str, float]:
    """`MachineStateWorker.process` on the inference CSV in this process (no engine, no database)."""
    worker = _TimedWorker(model)
    ref = FileRef(input_id="inp_bench", port_name="worker.inference", file_id=Path(path).name,
                  filename=Path(path).name, metadata={}, sha256="", num_bytes=Path(path).stat().st_size,
                  opener=lambda: open(path, "rb"), path=path)
    started, cpu = time.perf_counter(), time.process_time()
    worker.process(ref, MemorySink())
    return {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu,
            "write_parts": worker.write_parts}


def label(r: dict[str, Any]) -> str:
    return f"w64 step {r['step']}, workers={r['workers']} ({r['threads']} thr)"


def table(results: list[dict[str, Any]]) -> str:
    def rate(windows: int, seconds: float) -> str:
        return f"{seconds:.2f} s = {windows / seconds:,.0f} win/s"

    lines = ["| config | windows | job | direct (median) | e2e (median) | **ratio e2e/direct** | "
             "direct (best) | e2e (best) | ratio (best) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        w = r["windows"]
        for kind, direct in (("warm", "direct_predict"), ("cold", "direct_cold")):
            lines.append(
                f"| {label(r)} | {w:,} | {kind} | {rate(w, r[direct + '_s'])} | {rate(w, r[f'e2e_{kind}_s'])} "
                f"| **{r[f'ratio_{kind}']:.3f}** | {rate(w, r[direct + '_best_s'])} "
                f"| {rate(w, r[f'e2e_{kind}_best_s'])} | {r[f'ratio_{kind}_best']:.3f} |")
    lines += ["", "| config | job | create POST | POST sent → started_at | worker load (index build) | "
              "worker process() | rest (IPC, DB, finalize) | COMPLETED seen by client | CPU s server + worker |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for kind in ("warm", "cold"):
            b = r[kind]
            lines.append(
                f"| {label(r)} | {kind} | {b['create_rtt'] * 1000:.1f} ms | {b['dispatch'] * 1000:.0f} ms "
                f"| {b['load']:.2f} s | {b['process']:.2f} s | {b['rest'] * 1000:.0f} ms | {b['observed']:.2f} s "
                f"| {b['cpu_server']:.2f} + {b['cpu_worker']:.2f} |")
    lines += ["", "| config | direct predict CPU s | in-process worker.process CPU s (output parts) | "
              "warm job CPU s (server + worker) | CPU ratio direct/e2e | direct predict, pools limited to 1 thread "
              "| predictions identical |", "|---|---|---|---|---|---|---|"]
    for r in results:
        wp, one = r["worker_inprocess"], r["direct_1thread"]
        lines.append(
            f"| {label(r)} | {r['direct_predict_cpu_s']:.2f} | {wp['cpu']:.2f} ({wp['write_parts'] * 1000:.0f} ms) "
            f"| {r['e2e_warm_cpu_s']:.2f} | {r['ratio_cpu']:.3f} | {rate(r['windows'], one['seconds'])}, "
            f"CPU {one['cpu']:.2f} s | {'yes' if r['identical'] else 'NO'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions per side (median reported)")
    parser.add_argument("--heavy", action="store_true", help="also run step 4 (~4x the windows)")
    parser.add_argument("--steps", type=int, nargs="+", help="step sizes to run (overrides --heavy)")
    parser.add_argument("--workers", type=int, default=1,
                        help="server workers; >1 also limits the direct side's pools to cpus/workers threads")
    args = parser.parse_args()
    print(machine())
    steps = tuple(args.steps) if args.steps else HEAVY_STEPS if args.heavy else DEFAULT_STEPS
    results = run(args.reps, steps, args.workers)
    print()
    print(table(list(results.values())))


if __name__ == "__main__":
    main()
