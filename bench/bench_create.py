"""(e2) super.AI create throughput: 10,000 single-record jobs created by 10,000 separate requests
from 8 concurrent clients, timed until all are created and until all are COMPLETED, versus the
same `predict` task sent with Celery's `apply_async` from 8 threads.

- **jobport**: an `EmbeddedServer` with its default workers (one per CPU) and the example Iris
  app. 8 client threads, each with its own `httpx.Client` (one keep-alive connection), split the
  records between them and send `POST /v1/apps/{app}/jobs` with one input each, one request after
  another. *Created* = first request sent → the last create answered (client clock). Then the
  client polls `GET /v1/apps/{app}/jobs?statusIn=COMPLETED&statusIn=REVIEWED&size=1` (its `total`) every 0.25 s;
  *end to end* = first request sent → the last job's `completed` (server clock, same machine).
- **Celery + Redis**: the worker of `bench_superai.celery_worker` (`--concurrency <cpus>`,
  prefork, Redis db 15 as broker and backend); 8 threads, each calls `predict.apply_async` for its
  share of the records. *Sent* = first call → the last call returned; *end to end* = first call →
  every result fetched. Each thread fetches its own results (`ResultSet.get`) once all threads have
  sent theirs: Celery's result backend is per thread.
Both sides first run one uncounted warm-up of 100 jobs the same way. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from bench_superai import TIMEOUT, celery_worker, records
from common import DATA_DIR, epoch, loadavg, machine
from jobport.pipelines.builtin.tabular.example import build_example_model
from jobport.testing.embedded import EmbeddedServer

N_JOBS = 10_000
CLIENTS = 8
WARMUP = 100
POLL = 0.25


def _shares(items: list[Any], clients: int) -> list[list[Any]]:
    return [items[i::clients] for i in range(clients)]


def jobport_run(n: int, clients: int = CLIENTS, log=print) -> dict[str, Any]:
    workers = os.cpu_count() or 1
    with EmbeddedServer(workers=workers) as server:
        headers = {"API-KEY": server.key}
        auth = {"Authorization": f"Bearer {server.key}"}
        https = [httpx.Client(base_url=server.url, headers=headers, timeout=60) for _ in range(clients)]
        pool = ThreadPoolExecutor(clients)
        try:
            http = https[0]
            app_id = http.get("/v0.5/apps/iris-classifier", headers=auth).json()["id"]

            def create(client: httpx.Client, share: list[dict[str, float]]) -> int:
                for record in share:
                    r = client.post(f"/v1/apps/{app_id}/jobs", json={"inputs": [record]})
                    r.raise_for_status()
                return len(share)

            def count(*statuses: str) -> int:
                # COMPLETED alone is "completed and not reviewed": a bounded count (search_count_max);
                # COMPLETED with REVIEWED is every completed job, an exact total from the job counters
                r = http.get(f"/v1/apps/{app_id}/jobs", params={"statusIn": list(statuses), "size": 1})
                r.raise_for_status()
                return int(r.json()["total"])

            def one_round(count_: int, expected_total: int) -> dict[str, float]:
                shares = _shares(records(count_), clients)
                sent = time.time()
                futures = [pool.submit(create, c, s) for c, s in zip(https, shares, strict=True)]
                created = sum(f.result() for f in futures)
                answered = time.time()
                assert created == count_
                deadline = time.monotonic() + TIMEOUT
                while (done := count("COMPLETED", "REVIEWED")) < expected_total:
                    if failed := count("FAILED"):
                        raise RuntimeError(f"{failed} jobs FAILED")
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{done:,}/{expected_total:,} jobs COMPLETED after {TIMEOUT} s")
                    time.sleep(POLL)
                last = max(epoch(j["completed"]) for j in http.get(
                    f"/v1/apps/{app_id}/jobs", params={"size": 1, "sortBy": "completed", "orderBy": "desc"}
                ).json()["jobs"])
                return {"create_seconds": answered - sent, "seconds": last - sent}

            one_round(WARMUP, WARMUP)
            log(f"jobport server {server.url} (workers={workers}), {clients} clients; load average {loadavg()}")
            result = one_round(n, WARMUP + n)
        finally:
            pool.shutdown(cancel_futures=True)
            for client in https:
                client.close()
    result["created_per_s"] = n / result["create_seconds"]
    result["jobs_per_s"] = n / result["seconds"]
    return result


def celery_run(n: int, model_path: str, clients: int = CLIENTS, log=print) -> dict[str, Any]:
    from celery.result import ResultSet

    with celery_worker(model_path, log) as celery_baseline, ThreadPoolExecutor(clients) as pool:
        def client(share: list[dict[str, float]], all_sent: threading.Barrier) -> tuple[float, float]:
            # Celery's result backend is per thread (`app.backend` is thread-local, and so is the
            # Redis pub/sub that a result is subscribed on when it is sent), so each thread fetches
            # the results it sent; the barrier keeps fetching from overlapping the other threads' sends.
            try:
                results = [celery_baseline.predict.apply_async(args=(record,)) for record in share]
            except BaseException:
                all_sent.abort()
                raise
            sent = time.time()
            all_sent.wait(timeout=TIMEOUT)
            batch = ResultSet(results, app=celery_baseline.app)
            values = batch.get(timeout=TIMEOUT, interval=0.05)
            fetched = time.time()
            assert len(values) == len(share) and all("label" in v for v in values)
            batch.forget()
            return sent, fetched

        def one_round(count_: int) -> dict[str, float]:
            shares = _shares(records(count_), clients)
            barrier = threading.Barrier(clients)
            started = time.time()
            stamps = [f.result() for f in [pool.submit(client, s, barrier) for s in shares]]
            return {"create_seconds": max(s for s, _ in stamps) - started,
                    "seconds": max(f for _, f in stamps) - started}

        one_round(WARMUP)  # also opens each thread's broker and backend connections
        log(f"celery warm, {clients} sending threads; load average {loadavg()}")
        result = one_round(n)
    result["created_per_s"] = n / result["create_seconds"]
    result["jobs_per_s"] = n / result["seconds"]
    return result


def run(n: int = N_JOBS, clients: int = CLIENTS, log=print) -> dict[str, Any]:
    model = build_example_model(DATA_DIR / "iris_model")
    jp = jobport_run(n, clients, log)
    log(f"jobport: {n:,} creates in {jp['create_seconds']:.1f} s = {jp['created_per_s']:,.0f}/s; all COMPLETED "
        f"after {jp['seconds']:.1f} s = {jp['jobs_per_s']:,.0f} jobs/s")
    cel = celery_run(n, str(model.path), clients, log)
    log(f"celery + redis: {n:,} sent in {cel['create_seconds']:.1f} s = {cel['created_per_s']:,.0f}/s; all results "
        f"after {cel['seconds']:.1f} s = {cel['jobs_per_s']:,.0f} jobs/s")
    return {"jobs": n, "clients": clients, "jobport": jp, "celery": cel,
            "ratio_created": jp["created_per_s"] / cel["created_per_s"],
            "ratio": jp["jobs_per_s"] / cel["jobs_per_s"], "machine": machine()}


def table(r: dict[str, Any]) -> str:
    jp, cel = r["jobport"], r["celery"]
    what = f"super.AI, {r['jobs']:,} jobs in {r['jobs']:,} requests (one input each) from {r['clients']} clients"
    return "\n".join([
        "| benchmark | measure | result |", "|---|---|---|",
        f"| {what} | jobs/s created: jobport (all creates answered) / Celery (all `apply_async` returned) | "
        f"{jp['created_per_s']:,.0f} / {cel['created_per_s']:,.0f} = **{r['ratio_created']:.2f}** |",
        f"| 〃 | jobs/s end to end: jobport (all COMPLETED) / Celery (all results fetched) | "
        f"{jp['jobs_per_s']:,.0f} / {cel['jobs_per_s']:,.0f} = **{r['ratio']:.2f}** |",
        f"| 〃 | wall time created / end to end: jobport; Celery | {jp['create_seconds']:.1f} s / "
        f"{jp['seconds']:.1f} s; {cel['create_seconds']:.1f} s / {cel['seconds']:.1f} s |",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=N_JOBS, help="jobs (= create requests) per side")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="concurrent client threads")
    args = parser.parse_args()
    result = run(args.n, args.clients)
    print(table(result))
    print(f"\n{result['machine']}")


if __name__ == "__main__":
    main()
