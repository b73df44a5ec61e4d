"""(e) super.AI surface: 10,000 single-record jobs created in ONE request and run to COMPLETED end
to end (jobs/s), versus the same workload through Celery + Redis and through Dramatiq + Redis on
the same machine.

- **jobport**: an `EmbeddedServer` with its default workers (one per CPU). The example Iris app is
  the project; `POST /v1/apps/{app}/jobs` with 10,000 input objects (one transaction), then the
  client polls the batch list `GET /v1/apps/{app}/batches?all=true` (states and counts; the single-batch
  route also lists all 10,000 job ids, ~1 MB per poll) every 0.25 s until the batch state is
  COMPLETED. Time = request sent → the last job's `completed` (server clock, same machine).
- **Celery + Redis**: `celery_baseline.py`, a worker started with `--concurrency <cpus>` (prefork),
  Redis 127.0.0.1 db 15 as broker and result backend; the same 10,000 records sent as one `group`
  of `predict` tasks; time = send → every result fetched. Each task scores its record with the same
  ONNX model (loaded once per worker process) and returns the record with label and probabilities.
- **Dramatiq + Redis**: `dramatiq_baseline.py`, the `dramatiq` CLI with `--processes <cpus>
  --threads 1` (its docstring says why), Redis 127.0.0.1 db 14 as broker and, through the `Results`
  middleware, result backend; the same records sent as one `group` of `predict` messages; time =
  send → every result fetched (`group.get_results(block=True)`).
Every side runs after one uncounted warm-up of 100 jobs. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from common import BENCH_DIR, DATA_DIR, OUT_DIR, epoch, loadavg, machine, stop_process
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
                    listed = http.get(f"/v1/apps/{app_id}/batches", params={"all": "true"}).json()["batches"]
                    batch = next(b for b in listed if b["batchId"] == batch_id)
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


@contextmanager
def celery_worker(model_path: str, log=print) -> Iterator[Any]:
    """A Celery worker subprocess (`--concurrency <cpus>`, prefork) on an emptied queue; yields the
    `celery_baseline` module (its app and `predict` task) for the client side."""
    sys.path.insert(0, str(BENCH_DIR))
    import celery_baseline

    env = {**os.environ, "BENCH_MODEL_PATH": model_path, "PYTHONPATH": str(BENCH_DIR)}
    celery_baseline.app.control.purge()
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_baseline", "worker", "--loglevel", "WARNING",
         "--concurrency", str(os.cpu_count() or 1), "--pool", "prefork", "--without-gossip", "--without-mingle",
         "--without-heartbeat"], env=env, cwd=str(BENCH_DIR), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log(f"celery worker pid {worker.pid} (concurrency={os.cpu_count()}, prefork)")
    try:
        yield celery_baseline
    finally:
        stop_process(worker)


def celery_run(n: int, model_path: str, log=print) -> dict[str, Any]:
    from celery import group

    with celery_worker(model_path, log) as celery_baseline:
        def one_batch(count: int) -> float:
            data = records(count)
            sent = time.time()
            result = group(celery_baseline.predict.s(r) for r in data).apply_async()
            values = result.get(timeout=TIMEOUT, interval=0.05)
            assert len(values) == count and all("label" in v for v in values)
            result.forget()
            return time.time() - sent

        one_batch(100)
        log(f"celery warm; load average {loadavg()}")
        seconds = one_batch(n)
    return {"seconds": seconds, "jobs_per_s": n / seconds}


def dramatiq_run(n: int, model_path: str, log=print) -> dict[str, Any]:
    from dramatiq import group

    sys.path.insert(0, str(BENCH_DIR))
    import dramatiq_baseline

    processes = os.cpu_count() or 1
    argv, extra_env = dramatiq_baseline.worker_command(processes)
    env = {**os.environ, **extra_env, "BENCH_MODEL_PATH": model_path, "PYTHONPATH": str(BENCH_DIR)}
    dramatiq_baseline.broker.flush_all()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with open(OUT_DIR / "dramatiq_worker.log", "wb") as worker_log:
        worker = subprocess.Popen(argv, env=env, cwd=str(BENCH_DIR), stdout=worker_log, stderr=subprocess.STDOUT)
    try:
        def one_batch(count: int) -> float:
            data = records(count)
            sent = time.time()
            batch = group(dramatiq_baseline.predict.message(r) for r in data).run()
            values = list(batch.get_results(block=True, timeout=int(TIMEOUT * 1000)))
            seconds = time.time() - sent
            assert len(values) == count and all("label" in v for v in values)
            backend = dramatiq_baseline.broker.get_results_backend()  # like Celery's forget(): untimed
            keys = [backend.build_message_key(m) for m in batch.children]
            for i in range(0, len(keys), 1000):
                backend.client.delete(*keys[i:i + 1000])
            return seconds

        one_batch(100)
        log(f"dramatiq worker pid {worker.pid} (--processes {processes} --threads 1, prefetch "
            f"{dramatiq_baseline.PREFETCH}); load average {loadavg()}")
        seconds = one_batch(n)
    finally:
        stop_process(worker)
    return {"seconds": seconds, "jobs_per_s": n / seconds}


def run(n: int = N_JOBS, log=print, dramatiq: bool = True) -> dict[str, Any]:
    model = build_example_model(DATA_DIR / "iris_model")
    jp = jobport_run(n, log)
    log(f"jobport: {n:,} jobs in {jp['seconds']:.1f} s = {jp['jobs_per_s']:,.0f} jobs/s "
        f"(create request {jp['create_seconds']:.2f} s)")
    cel = celery_run(n, str(model.path), log)
    log(f"celery + redis: {n:,} jobs in {cel['seconds']:.1f} s = {cel['jobs_per_s']:,.0f} jobs/s")
    result = {"jobs": n, "jobport": jp, "celery": cel, "ratio": jp["jobs_per_s"] / cel["jobs_per_s"],
              "dramatiq": None, "ratio_dramatiq": None, "machine": machine()}
    if dramatiq:
        dq = dramatiq_run(n, str(model.path), log)
        log(f"dramatiq + redis: {n:,} jobs in {dq['seconds']:.1f} s = {dq['jobs_per_s']:,.0f} jobs/s")
        result.update(dramatiq=dq, ratio_dramatiq=jp["jobs_per_s"] / dq["jobs_per_s"])
    return result


def table(r: dict[str, Any]) -> str:
    jp, cel, dq = r["jobport"], r["celery"], r.get("dramatiq")
    rows = [
        "| benchmark | measure | result |", "|---|---|---|",
        f"| super.AI, {r['jobs']:,} single-record jobs in one request, example Iris app | jobs/s end to end: jobport / "
        f"Celery + Redis | {jp['jobs_per_s']:,.0f} / {cel['jobs_per_s']:,.0f} = **{r['ratio']:.2f}** |",
    ]
    if dq:
        rows.append(f"| 〃 | jobs/s end to end: jobport / Dramatiq + Redis | {jp['jobs_per_s']:,.0f} / "
                    f"{dq['jobs_per_s']:,.0f} = **{r['ratio_dramatiq']:.2f}** |")
    walls = f"{jp['seconds']:.1f} s ({jp['create_seconds']:.2f} s) / {cel['seconds']:.1f} s"
    if dq:
        walls += f" / {dq['seconds']:.1f} s"
    rows.append(f"| 〃 | wall time jobport (of which the create request) / Celery{' / Dramatiq' if dq else ''} | "
                f"{walls} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=N_JOBS)
    parser.add_argument("--no-dramatiq", action="store_true", help="skip the Dramatiq + Redis baseline")
    args = parser.parse_args()
    result = run(args.n, dramatiq=not args.no_dramatiq)
    print(table(result))
    print(f"\n{result['machine']}")


if __name__ == "__main__":
    main()
