"""(b) Job latency on an idle, warm server: create -> RUNNING and create -> COMPLETED for a tiny job.

An `EmbeddedServer` with its default worker count (one per CPU) runs the tiny job (a 1,000-row,
6-channel CSV: 59 windows of 64 at step 16) with the throughput benchmark's n-shot files and
config. Two warm-up jobs are not counted (the first builds the n-shot index). Then `n` jobs are
created one after the other, each waited to COMPLETED before the next, in two passes:

- `stamps` pass: the client waits quietly (a poll every 20 ms) and the latencies come from the
  job's own timestamps: `started_at - created_at` (both server clock), `started_at - sent` and
  `completed_at - sent` (`sent` = client clock just before the POST; same machine, same clock);
- `polling` pass: after the POST the client polls `GET /v0.5/batch/jobs/{id}` back to back (no
  sleep) and records when it first sees the job started (RUNNING, or already COMPLETED) and
  COMPLETED. The polling itself loads the server's process, which also runs the scheduler thread.

Both passes report the POST round trip. The `stamps` pass also reads each job's
`inference.success` event (after the job completed) for the worker's own processing time, and a
`direct` pass runs the same prediction in this process (`predict_csv`, model prebuilt) n times
after 20 uncounted warm-up runs, with BLAS/OpenMP pools of a worker's size (cpus / workers):
the compute floor under the job's create -> COMPLETED time. Every loop is bounded (a job that is
not COMPLETED within 30 s fails the run).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from threadpoolctl import threadpool_limits

from common import dataset, epoch, job_body, loadavg, machine, percentile, pipeline_config
from jobport.pipelines.builtin.machine_state.direct import build_model, predict_csv
from jobport.sdk.client import JobportClient
from jobport.testing.embedded import EmbeddedServer

WARMUP_JOBS = 2
DIRECT_WARMUP = 20  # the first ~15 in-process predictions of a fresh process take ~3x longer
JOB_TIMEOUT = 30.0
STARTED = {"RUNNING", "COMPLETED", "FAILED", "CANCELLED"}


def run(n: int = 50, log=print) -> dict[str, Any]:
    data = dataset()
    config = pipeline_config(data["config"], step_size=16)
    workers = os.cpu_count() or 1  # the server's default
    with EmbeddedServer(workers=workers) as server, JobportClient(server.url, server.key) as jp:
        log(f"server {server.url} (workers={workers}, the default: one per CPU, each with BLAS/OpenMP pools "
            f"of cpus/workers threads); load average {loadavg()}")
        shots = [(jp.upload_file(path)["file_id"], label) for path, label in data["shots"]]
        tiny = jp.upload_file(data["tiny"])["file_id"]
        body = job_body("bench-latency", [tiny], shots, config)
        for _ in range(WARMUP_JOBS):
            one_job(jp, body, poll_fast=False)
        stamps = [one_job(jp, body, poll_fast=False, with_events=True) for _ in range(n)]
        polling = [one_job(jp, body, poll_fast=True) for _ in range(n)]
        log(f"load average at the end: {loadavg()}")
    # The compute floor of the tiny job: the same model on the same CSV in this process, with the
    # BLAS/OpenMP pools of one of the server's workers (cpus / workers threads).
    model = build_model(config, data["shots"])
    direct = []
    with threadpool_limits(max(1, (os.cpu_count() or 1) // workers)):
        for i in range(DIRECT_WARMUP + n):
            started = time.perf_counter()
            predict_csv(model, data["tiny"])
            if i >= DIRECT_WARMUP:
                direct.append({"direct_predict": time.perf_counter() - started})
    return summarize(stamps, polling, direct)


def one_job(jp: JobportClient, body: dict, poll_fast: bool, with_events: bool = False) -> dict[str, float]:
    sent = time.time()
    job = jp.create_job(body)
    answered = time.time()
    seen_started = seen_completed = first_status = None
    deadline = time.monotonic() + JOB_TIMEOUT
    while job["status"] != "COMPLETED":
        if job["status"] in ("FAILED", "CANCELLED") or time.monotonic() > deadline:
            raise RuntimeError(f"job {job['id']} is {job['status']}: {job.get('error')}")
        if not poll_fast:
            time.sleep(0.02)
        job = jp.get_job(job["id"])
        now = time.time()
        if seen_started is None and job["status"] in STARTED:
            seen_started, first_status = now, job["status"]
    seen_completed = time.time()
    result = {
        "create_rtt": answered - sent,
        "created_to_started": epoch(job["started_at"]) - epoch(job["created_at"]),
        "sent_to_started": epoch(job["started_at"]) - sent,
        "sent_to_completed": epoch(job["completed_at"]) - sent,
    }
    if poll_fast:
        result["observed_started"] = (seen_started or seen_completed) - sent
        result["observed_completed"] = seen_completed - sent
        result["first_started_status"] = first_status or "COMPLETED"  # seen RUNNING, or only COMPLETED
    if with_events:  # fetched after the job completed: not part of any timing
        events = {e["event_type"]: e for e in jp.job_events(job["id"])}
        result["worker_process"] = events["inference.success"]["payload"]["seconds"]
    return result


def summarize(stamps: list[dict], polling: list[dict], direct: list[dict]) -> dict[str, Any]:
    def stats(rows: list[dict], key: str) -> dict[str, float]:
        values = [r[key] for r in rows]
        return {"p50": percentile(values, 50), "p95": percentile(values, 95), "max": max(values), "n": len(values)}

    return {
        "stamps": {k: stats(stamps, k) for k in ("create_rtt", "created_to_started", "sent_to_started",
                                                  "sent_to_completed", "worker_process")},
        "polling": {k: stats(polling, k) for k in ("create_rtt", "created_to_started", "sent_to_started",
                                                   "observed_started", "sent_to_completed", "observed_completed")},
        "direct": {"direct_predict": stats(direct, "direct_predict")},
        "polling_saw_running": sum(r["first_started_status"] == "RUNNING" for r in polling),
        "raw": {"stamps": stamps, "polling": polling, "direct": direct},
    }


LABELS = {
    "create_rtt": "POST /batch/jobs round trip",
    "created_to_started": "created_at → started_at (server stamps)",
    "sent_to_started": "POST sent → started_at",
    "observed_started": "POST sent → RUNNING first seen by polling",
    "sent_to_completed": "POST sent → completed_at",
    "observed_completed": "POST sent → COMPLETED first seen by polling",
    "worker_process": "worker process() of the input (inference.success event)",
    "direct_predict": "the same prediction in-process (`predict_csv`, model built)",
}


def table(result: dict[str, Any]) -> str:
    lines = ["| pass | measure | n | p50 | p95 | max |", "|---|---|---|---|---|---|"]
    for mode in ("stamps", "polling", "direct"):
        metrics = result[mode]
        for key, s in metrics.items():
            lines.append(f"| {mode} | {LABELS[key]} | {s['n']} | {s['p50'] * 1000:.1f} ms "
                         f"| {s['p95'] * 1000:.1f} ms | {s['max'] * 1000:.1f} ms |")
    lines.append(f"\nPolling saw status RUNNING before COMPLETED for {result['polling_saw_running']} of "
                 f"{result['polling']['create_rtt']['n']} jobs (otherwise the first status seen after PENDING/ADMITTED "
                 "was COMPLETED, which then counts as 'RUNNING first seen').")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", type=int, default=50, help="jobs per pass (two passes)")
    args = parser.parse_args()
    print(machine())
    result = run(args.n)
    print()
    print(table(result))


if __name__ == "__main__":
    main()
