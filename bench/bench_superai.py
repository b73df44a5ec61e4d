"""(e) super.AI surface: 10,000 single-record jobs created in ONE request and run to COMPLETED end
to end (jobs/s), versus the same workload through Celery + Redis on the same machine.

- **jobport**: an `EmbeddedServer` with its default workers (one per CPU). The example Iris app is
  the project; `POST /v1/apps/{app}/jobs` with 10,000 input objects (one transaction), then the
  client polls `GET /v1/apps/{app}/batches/{batch}` every 0.25 s until the batch state is
  COMPLETED. Time = request sent → the last job's `completed` (server clock, same machine).
- **Celery + Redis**: `celery_baseline.py`, a worker started with `--concurrency <cpus>` (prefork),
  Redis 127.0.0.1 db 15 as broker and result backend; the same 10,000 records sent as one `group`
  of `predict` tasks; time = send → every result fetched. Each task scores its record with the same
  ONNX model (loaded once per worker process) and returns the record with label and probabilities.
Both sides run after one uncounted warm-up of 100 jobs. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import Any

import httpx

from common import BENCH_DIR, DATA_DIR, epoch, loadavg, machine
from jobport.pipelines.builtin.tabular.example import build_example_model, iris_rows
from jobport.testing.embedded import EmbeddedServer

N_JOBS = 10_000
TIMEOUT = 1800.0
FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def records(n: int) -> list[dict[str, float]]:
    x, _ = iris_rows(n)
    return [dict(zip(FEATURES, (round(float(v), 2) for v in row), strict=False)) for row in x]


def jobport_run(n: int, log=print) -> dict[str, Any]:
    workers = os.cpu_count() or 1
    with EmbeddedServer(workers=workers) as server:
        auth = {"Authorization": f"Bearer {server.key}"}
        with httpx.Client(base_url=server.url, headers={"API-KEY": server.key}, timeout=300) as http:
            app_id = http.get("/v0.5/apps/iris-classifier", headers=auth).json()["id"]

            def one_batch(count: int) -> dict[str, Any]:
                sent = time.time()
                r = http.post(f"/v1/apps/{app_id}/jobs", json={"inputs": records(count)})
                answered = time.time()
                r.raise_for_status()
                batch_id = r.json()["batchId"]
                deadline = time.monotonic() + TIMEOUT
                while True:
                    batch = http.get(f"/v1/apps/{app_id}/batches/{batch_id}").json()
                    if batch["state"] != "PROCESSING":
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"batch {batch_id} still processing after {TIMEOUT} s")
                    time.sleep(0.25)
                if batch["state"] != "COMPLETED":
                    raise RuntimeError(f"batch ended {batch['state']}: {batch['counts']}")
                last = max(epoch(j["completed"]) for j in http.get(
                    f"/v1/apps/{app_id}/jobs", params={"size": 1, "sortBy": "completed", "orderBy": "desc"}
                ).json()["jobs"])
                return {"seconds": last - sent, "create_seconds": answered - sent}

            one_batch(100)
            log(f"jobport server {server.url} (workers={workers}); load average {loadavg()}")
            result = one_batch(n)
    result["jobs_per_s"] = n / result["seconds"]
    return result


def celery_run(n: int, model_path: str, log=print) -> dict[str, Any]:
    from celery import group

    sys.path.insert(0, str(BENCH_DIR))
    import celery_baseline

    env = {**os.environ, "BENCH_MODEL_PATH": model_path, "PYTHONPATH": str(BENCH_DIR)}
    celery_baseline.app.control.purge()
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_baseline", "worker", "--loglevel", "WARNING",
         "--concurrency", str(os.cpu_count() or 1), "--pool", "prefork", "--without-gossip", "--without-mingle",
         "--without-heartbeat"], env=env, cwd=str(BENCH_DIR), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def one_batch(count: int) -> float:
            data = records(count)
            sent = time.time()
            result = group(celery_baseline.predict.s(r) for r in data).apply_async()
            values = result.get(timeout=TIMEOUT, interval=0.05)
            assert len(values) == count and all("label" in v for v in values)
            result.forget()
            return time.time() - sent

        one_batch(100)
        log(f"celery worker pid {worker.pid} (concurrency={os.cpu_count()}); load average {loadavg()}")
        seconds = one_batch(n)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    return {"seconds": seconds, "jobs_per_s": n / seconds}


def run(n: int = N_JOBS, log=print) -> dict[str, Any]:
    model = build_example_model(DATA_DIR / "iris_model")
    jp = jobport_run(n, log)
    log(f"jobport: {n:,} jobs in {jp['seconds']:.1f} s = {jp['jobs_per_s']:,.0f} jobs/s "
        f"(create request {jp['create_seconds']:.2f} s)")
    cel = celery_run(n, str(model.path), log)
    log(f"celery + redis: {n:,} jobs in {cel['seconds']:.1f} s = {cel['jobs_per_s']:,.0f} jobs/s")
    return {"jobs": n, "jobport": jp, "celery": cel, "ratio": jp["jobs_per_s"] / cel["jobs_per_s"],
            "machine": machine()}


def table(r: dict[str, Any]) -> str:
    jp, cel = r["jobport"], r["celery"]
    return "\n".join([
        "| benchmark | measure | result |", "|---|---|---|",
        f"| super.AI, {r['jobs']:,} single-record jobs in one request, example Iris app | jobs/s end to end: jobport / "
        f"Celery + Redis | {jp['jobs_per_s']:,.0f} / {cel['jobs_per_s']:,.0f} = **{r['ratio']:.2f}** |",
        f"| 〃 | wall time jobport (of which the create request) / Celery | {jp['seconds']:.1f} s "
        f"({jp['create_seconds']:.2f} s) / {cel['seconds']:.1f} s |",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=N_JOBS)
    args = parser.parse_args()
    result = run(args.n)
    print(table(result))
    print(f"\n{result['machine']}")


if __name__ == "__main__":
    main()
