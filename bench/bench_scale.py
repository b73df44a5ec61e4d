"""(f) Scale-out, side by side in one run: the same jobs on the embedded default (local worker
processes, blobs in a local directory) and on Ray + S3 (`JOBPORT_EXECUTOR=ray` on a two-node Ray
cluster on loopback, `JOBPORT_BLOBS_URL=s3://...` on moto's S3 server), and the create throughput of
one vs two `--role api` replicas on PostgreSQL.

- **machine-state**: the bench data set (200,000 rows, window 64 step 16: 12,497 windows), one warm
  job after one cold one on each side; seconds from create sent to `completed_at`.
- **super.AI**: `-n` single-record jobs of the example Iris app in one request, to the last
  `completed` (jobs/s), after an uncounted warm-up of 50.
- **replicas**: `--creates` single-record super.AI creates (`parked`, so only the API works), sent by
  8 client threads round-robin over the replicas; creates/s with one replica and with two, each
  beside one `--role scheduler` process on the same fresh PostgreSQL database.

Both sides of each comparison run on this machine back to back; the ratios are Ray/S3 over local and
two replicas over one. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from common import OUT_DIR, dataset, epoch, fresh_pg_database, job_body, loadavg, machine, pipeline_config
from jobport.sdk.client import JobportClient
from jobport.testing.embedded import EmbeddedServer
from jobport.testing.raycluster import HEAD_IP, LocalRayCluster
from jobport.testing.s3server import S3Server

TIMEOUT = 900.0
RECORD = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def machine_state(server: EmbeddedServer, log=print) -> dict[str, float]:
    data = dataset()
    config = pipeline_config(data["config"], 16)
    with JobportClient(server.url, server.key, timeout=120) as jp:
        shots = [(jp.upload_file(path)["file_id"], label) for path, label in data["shots"]]
        inference_id = jp.upload_file(data["inference"])["file_id"]
        timings = {}
        for kind in ("cold", "warm"):
            sent = time.time()
            job = jp.create_job(job_body(f"scale-{kind}", [inference_id], shots, config))
            job = jp.wait_job(job["id"], timeout=TIMEOUT, interval=0.1, max_interval=0.25)
            if job["status"] != "COMPLETED":
                raise RuntimeError(f"job ended {job['status']}: {job.get('error')}")
            timings[kind] = epoch(job["completed_at"]) - sent
            log(f"  machine-state {kind}: {timings[kind]:.2f} s")
    return timings


def superai(server: EmbeddedServer, n: int, log=print) -> float:
    with httpx.Client(base_url=server.url, headers={"API-KEY": server.key}, timeout=300) as http:
        app_id = http.get("/v0.5/apps/iris-classifier").json()["id"]

        def batch(count: int) -> float:
            sent = time.time()
            created = http.post(f"/v1/apps/{app_id}/jobs", json={"inputs": [RECORD] * count})
            created.raise_for_status()
            batch_id = created.json()["batchId"]
            deadline = time.monotonic() + TIMEOUT
            while (state := http.get(f"/v1/apps/{app_id}/batches/{batch_id}").json())["state"] == "PROCESSING":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"batch {batch_id} still processing after {TIMEOUT} s")
                time.sleep(0.25)
            if state["state"] != "COMPLETED":
                raise RuntimeError(f"batch ended {state['state']}: {state['counts']}")
            last = http.get(f"/v1/apps/{app_id}/jobs", params={"size": 1, "sortBy": "completed", "orderBy": "desc"})
            return epoch(last.json()["jobs"][0]["completed"]) - sent

        batch(50)
        seconds = batch(n)
    log(f"  super.AI {n:,} jobs: {seconds:.2f} s = {n / seconds:,.0f} jobs/s")
    return n / seconds


def executors(ray: LocalRayCluster, s3: S3Server, n: int, log=print) -> dict[str, Any]:
    sides = {
        "local": {},
        "ray_s3": {"JOBPORT_EXECUTOR": "ray", "JOBPORT_RAY_ADDRESS": ray.address,
                   "JOBPORT_RAY_NODE_IP_ADDRESS": HEAD_IP, **ray.driver_env,
                   **s3.env(prefix=f"bench-{uuid.uuid4().hex[:6]}")},
    }
    results: dict[str, Any] = {}
    for name, env in sides.items():
        log(f"{name}: load average {loadavg()}")
        with EmbeddedServer(workers=2, env=env) as server:
            results[name] = {"machine_state": machine_state(server, log), "superai_jobs_per_s": superai(server, n, log)}
    local, remote = results["local"], results["ray_s3"]
    results["ratio_machine_state_warm"] = local["machine_state"]["warm"] / remote["machine_state"]["warm"]
    results["ratio_machine_state_cold"] = local["machine_state"]["cold"] / remote["machine_state"]["cold"]
    results["ratio_superai"] = remote["superai_jobs_per_s"] / local["superai_jobs_per_s"]
    return results


def create_throughput(replicas: int, creates: int, home: Path, log=print) -> float:
    key = "bench-admin-key"
    with fresh_pg_database() as url:
        env = {"JOBPORT_DATABASE_URL": url, "JOBPORT_SECRET_KEY": "b" * 40, "JOBPORT_WORKERS": "1"}
        servers = [EmbeddedServer(home=home / f"s{replicas}", key=key, env=env, role="scheduler")]
        servers += [EmbeddedServer(home=home / f"a{replicas}-{i}", key=key, env=env, role="api")
                    for i in range(replicas)]
        try:
            for server in servers:
                server.start(timeout=120)
            apis = servers[1:]
            clients = [httpx.Client(base_url=s.url, headers={"API-KEY": key}, timeout=60) for s in apis]
            app_id = clients[0].get("/v0.5/apps/iris-classifier").json()["id"]

            def create(i: int) -> None:
                r = clients[i % len(clients)].post(f"/v1/apps/{app_id}/jobs", json={"inputs": [RECORD], "parked": True})
                r.raise_for_status()

            with ThreadPoolExecutor(8) as pool:
                list(pool.map(create, range(100)))  # warm-up
                started = time.perf_counter()
                list(pool.map(create, range(creates)))
                seconds = time.perf_counter() - started
            for client in clients:
                client.close()
        finally:
            for server in servers:
                server.stop()
    log(f"  {replicas} API replica(s): {creates:,} creates in {seconds:.2f} s = {creates / seconds:,.0f}/s")
    return creates / seconds


def table(r: dict[str, Any]) -> str:
    e, c = r["executors"], r["replicas"]
    loc, ray = e["local"], e["ray_s3"]
    rows = [
        ("machine-state warm job, 12,497 windows (s)", f"{loc['machine_state']['warm']:.2f}",
         f"{ray['machine_state']['warm']:.2f}", f"{e['ratio_machine_state_warm']:.2f}"),
        ("machine-state cold job (s)", f"{loc['machine_state']['cold']:.2f}", f"{ray['machine_state']['cold']:.2f}",
         f"{e['ratio_machine_state_cold']:.2f}"),
        (f"super.AI {r['n']:,} single-record jobs (jobs/s)", f"{loc['superai_jobs_per_s']:,.0f}",
         f"{ray['superai_jobs_per_s']:,.0f}", f"{e['ratio_superai']:.2f}"),
    ]
    lines = ["| measure | local executor + local blobs | Ray (2 loopback nodes) + S3 (moto) | ratio Ray/local |",
             "|---|---|---|---|"] + [f"| {a} | {b} | {c_} | {d} |" for a, b, c_, d in rows]
    lines += ["", "| API replicas on PostgreSQL | creates/s (parked super.AI jobs, 8 client threads) | ratio |",
              "|---|---|---|",
              f"| 1 | {c['1']:,.0f} | 1.00 |", f"| 2 | {c['2']:,.0f} | {c['2'] / c['1']:.2f} |"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="super.AI jobs per side")
    parser.add_argument("--creates", type=int, default=2000)
    parser.add_argument("--only", choices=["executors", "replicas"], help="run one half (the other is kept from "
                                                                          "the last bench/out/scale.json)")
    args = parser.parse_args()
    home = OUT_DIR / "scale"
    home.mkdir(parents=True, exist_ok=True)
    saved = OUT_DIR / "scale.json"
    result: dict[str, Any] = json.loads(saved.read_text()) if args.only and saved.exists() else {}
    print(machine())
    if args.only != "replicas":
        with LocalRayCluster() as ray, S3Server() as s3:
            result.update(n=args.n, executors=executors(ray, s3, args.n))
    if args.only != "executors":
        result["replicas"] = {str(k): create_throughput(k, args.creates, home) for k in (1, 2)}
    saved.write_text(json.dumps(result, indent=2))
    print(table(result))


if __name__ == "__main__":
    main()
