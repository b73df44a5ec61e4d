"""(f) Storage and read latency at N stored jobs: database bytes per stored single-record super.AI
job, and p50/p99 of GET-one and of every main list at N stored jobs (default 1,000,000), on SQLite
and on PostgreSQL. Targets: GET one job p99 < 10 ms, every list p99 < 20 ms.

- **Fill**: an `EmbeddedServer` (one worker: parked jobs never run) and the example Iris app;
  `POST /v1/apps/{app}/jobs` with `"pending": true` and 10,000 records per request (the real create
  service: one batch, one transaction per request), until N jobs are stored. The fill rate is
  reported (jobs/s).
- **Storage**: SQLite: the database file plus its `-wal` after `PRAGMA wal_checkpoint(TRUNCATE)`;
  PostgreSQL: the sum of `pg_total_relation_size` over the tables of the schema (heap, TOAST,
  indexes). Bytes per job = (after the fill - before it) / N; the largest tables are listed.
- **Latency under load** (the targets): an open-loop client sends a fixed 200 requests/s (round
  robin over the request kinds in `request_kinds`) from 8 threads, each with its own keep-alive
  `httpx.Client`, for `--seconds` after an uncounted warm-up of 2 s. A request's latency runs from
  its *scheduled* send time to its answer, so a slow answer that delays the next request of its
  thread counts against that one too (no coordinated omission). The client shares the machine.
- **Latency alone**: the same kinds one request at a time (50 each, after 5 uncounted), the time
  the server takes for one request with nothing else going on.
Ids of GET-one requests are sampled from list pages at random offsets. PostgreSQL runs in a fresh
database on `JOBPORT_BENCH_DATABASE_URL` (default the local `test` server), dropped afterwards;
after the fill it gets the `VACUUM ANALYZE` that autovacuum would run shortly after a bulk load
(statistics for the planner, the visibility map for index-only scans). Every loop is bounded.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench_superai import records
from common import fresh_pg_database, loadavg, machine, percentile
from jobport.testing.embedded import EmbeddedServer

N_JOBS = 1_000_000
FILL_BATCH = 10_000
RATE = 200.0
SECONDS = 30.0
WARMUP_SECONDS = 2.0
THREADS = 8
ALONE = 50
GET_ONE_P99_MS = 10.0
LIST_P99_MS = 20.0
BACKENDS = ("sqlite", "postgresql")


Sizes = tuple[int, dict[str, int], dict[str, int]]  # total bytes, bytes per table (with indexes), per jobs index


def sqlite_bytes(home: Path) -> Sizes:
    """Database + WAL bytes after a checkpoint; per table and per index of `jobs` where dbstat exists."""
    path = home / "jobport.db"
    tables: dict[str, int] = {}
    indexes: dict[str, int] = {}
    with sqlite3.connect(path, timeout=60) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        try:
            rows = conn.execute("SELECT coalesce(m.tbl_name, s.name), s.name, sum(s.pgsize) FROM dbstat s "
                                "LEFT JOIN sqlite_master m ON m.name = s.name GROUP BY 1, 2").fetchall()
        except sqlite3.OperationalError:  # no SQLITE_ENABLE_DBSTAT_VTAB in this build
            rows = []
    for table, name, size in rows:
        tables[table] = tables.get(table, 0) + int(size)
        if table == "jobs":
            indexes[name] = int(size)
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0), tables, indexes


def pg_bytes(url: str) -> Sizes:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'").fetchall()
        index_rows = conn.execute("SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index "
                                  "WHERE indrelid = 'jobs'::regclass").fetchall()
    tables = {name: int(size) for name, size in rows}
    return sum(tables.values()), tables, {name: int(size) for name, size in index_rows}


def fill(http: httpx.Client, app_id: str, n: int, log=print) -> dict[str, float]:
    started, done = time.perf_counter(), 0
    while done < n:
        count = min(FILL_BATCH, n - done)
        r = http.post(f"/v1/apps/{app_id}/jobs", json={"inputs": records(count), "pending": True})
        r.raise_for_status()
        done += count
        if done % (10 * FILL_BATCH) == 0 or done == n:
            elapsed = time.perf_counter() - started
            log(f"  {done:,} jobs stored in {elapsed:.0f} s ({done / elapsed:,.0f} jobs/s)")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "jobs_per_s": n / seconds}


def sample_ids(http: httpx.Client, auth: dict[str, str], app_id: str, n: int) -> tuple[list[str], list[str]]:
    """(super.AI numeric ids, Archetype job ids) from a few list pages at random offsets."""
    rng = random.Random(7)
    size = min(200, n)
    superai: list[str] = []
    native: list[str] = []
    for _ in range(5):
        page = rng.randrange(max(1, n // size))
        superai += [str(j["id"]) for j in http.get(f"/v1/apps/{app_id}/jobs",
                                                  params={"page": page, "size": size}).json()["jobs"]]
        offset = rng.randrange(max(1, n - size))
        native += [j["id"] for j in http.get("/v0.5/batch/jobs", params={"offset": offset, "limit": size},
                                            headers=auth).json()["jobs"]]
    return superai, native


def request_kinds(app_id: str, superai_ids: list[str], native_ids: list[str], auth: dict[str, str],
                  gravity: dict[str, str]) -> list[tuple[str, str, Any]]:
    """(kind, group, fn(i) -> (url, params, headers)): the request mix, one of each per round."""
    sai: dict[str, str] = {}

    def pick(ids: list[str], i: int) -> str:
        return ids[(i * 7919) % len(ids)]

    return [
        ("GET /v1/jobs/{id}", "get", lambda i: (f"/v1/jobs/{pick(superai_ids, i)}", None, sai)),
        ("GET /v0.5/batch/jobs/{id}", "get", lambda i: (f"/v0.5/batch/jobs/{pick(native_ids, i)}", None, auth)),
        ("GET /v1/apps/{app}/jobs?size=20", "list", lambda i: (f"/v1/apps/{app_id}/jobs", {"size": 20}, sai)),
        ("GET /v1/apps/{app}/jobs?statusIn=PENDING&size=20", "list",
         lambda i: (f"/v1/apps/{app_id}/jobs", {"size": 20, "statusIn": "PENDING"}, sai)),
        ("GET /v1/apps/{app}/jobs?sortBy=created&orderBy=desc&size=20", "list",
         lambda i: (f"/v1/apps/{app_id}/jobs", {"size": 20, "sortBy": "created", "orderBy": "desc"}, sai)),
        ("GET /v1/apps/{app}/batches", "list", lambda i: (f"/v1/apps/{app_id}/batches", None, sai)),
        ("GET /v0.5/batch/jobs?limit=20", "list", lambda i: ("/v0.5/batch/jobs", {"limit": 20}, auth)),
        ("GET /v0.5/batch/jobs?status=PENDING&limit=20", "list",
         lambda i: ("/v0.5/batch/jobs", {"status": "PENDING", "limit": 20}, auth)),
        ("GET /v0.5/batch/jobs?q=tabular&limit=20", "list",
         lambda i: ("/v0.5/batch/jobs", {"q": "tabular", "limit": 20}, auth)),
        ("GET /v0.5/batch/jobs/{id}/events", "list",
         lambda i: (f"/v0.5/batch/jobs/{pick(native_ids, i)}/events", None, auth)),
        ("GET /api/v1/jobs/latest", "list", lambda i: ("/api/v1/jobs/latest", None, gravity)),
    ]


def load(url: str, key: str, kinds: list[tuple[str, str, Any]], seconds: float, rate: float = RATE,
         threads: int = THREADS) -> dict[str, dict[str, Any]]:
    """Open loop: request i is due at t0 + i / rate; thread k sends the requests i = k mod threads."""
    total = int((WARMUP_SECONDS + seconds) * rate)
    warm = int(WARMUP_SECONDS * rate)
    results: dict[str, list[float]] = {name: [] for name, _, _ in kinds}
    errors: dict[str, int] = {name: 0 for name, _, _ in kinds}
    lock = threading.Lock()
    t0 = time.perf_counter() + 0.5

    def run(k: int) -> None:
        with httpx.Client(base_url=url, headers={"API-KEY": key}, timeout=30) as http:
            for i in range(k, total, threads):
                due = t0 + i / rate
                if (wait := due - time.perf_counter()) > 0:
                    time.sleep(wait)
                name, _, make = kinds[i % len(kinds)]
                path, params, headers = make(i // len(kinds))
                ok = http.get(path, params=params, headers=headers).status_code == 200
                took = time.perf_counter() - due
                if i >= warm:
                    with lock:
                        results[name].append(took)
                        errors[name] += not ok

    workers = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=seconds + 600)
    groups = {name: group for name, group, _ in kinds}
    return {name: {"group": groups[name], "n": len(v), "errors": errors[name],
                   "p50_ms": percentile(v, 50) * 1000, "p99_ms": percentile(v, 99) * 1000,
                   "max_ms": max(v) * 1000} for name, v in results.items() if v}


def alone(url: str, key: str, kinds: list[tuple[str, str, Any]], count: int = ALONE) -> dict[str, dict[str, Any]]:
    """Each kind `count` times, one request at a time (after 5 uncounted)."""
    out: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=url, headers={"API-KEY": key}, timeout=30) as http:
        for name, group, make in kinds:
            took = []
            for i in range(count + 5):
                path, params, headers = make(i)
                started = time.perf_counter()
                http.get(path, params=params, headers=headers).raise_for_status()
                if i >= 5:
                    took.append(time.perf_counter() - started)
            out[name] = {"group": group, "n": count, "p50_ms": percentile(took, 50) * 1000,
                         "p99_ms": percentile(took, 99) * 1000, "max_ms": max(took) * 1000}
    return out


def vacuum_analyze(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def backend_run(backend: str, n: int, seconds: float, rate: float = RATE, log=print) -> dict[str, Any]:
    with (fresh_pg_database() if backend == "postgresql" else _no_database()) as database_url:
        env = {"JOBPORT_DATABASE_URL": database_url} if database_url else {}
        with EmbeddedServer(workers=1, env=env) as server:
            auth = {"Authorization": f"Bearer {server.key}"}
            gravity = {"x-api-key": server.key}
            with httpx.Client(base_url=server.url, headers={"API-KEY": server.key}, timeout=600) as http:
                app_id = http.get("/v0.5/apps/iris-classifier", headers=auth).json()["id"]
                http.post(f"/v1/apps/{app_id}/jobs", json={"inputs": records(10), "pending": True}).raise_for_status()

                def size() -> Sizes:
                    return pg_bytes(database_url) if database_url else sqlite_bytes(server.home)

                before = size()[0]
                log(f"{backend}: server {server.url}; filling {n:,} parked jobs ({FILL_BATCH:,} per request)")
                filled = fill(http, app_id, n, log)
                if database_url:
                    vacuum_analyze(database_url)
                after, tables, indexes = size()
                superai_ids, native_ids = sample_ids(http, auth, app_id, n)
            log(f"  storage: {(after - before) / n:,.0f} bytes per job; load average {loadavg()}; "
                f"{rate:.0f} requests/s for {seconds:.0f} s")
            kinds = request_kinds(app_id, superai_ids, native_ids, auth, gravity)
            single = alone(server.url, server.key, kinds)
            latency = load(server.url, server.key, kinds, seconds, rate)
    top = dict(sorted(tables.items(), key=lambda kv: -kv[1])[:8])
    return {"backend": backend, "jobs": n, "fill": filled, "bytes_before": before, "bytes_after": after,
            "bytes_per_job": (after - before) / n, "largest_tables": top,
            "jobs_index_bytes_per_job": {k: v / n for k, v in sorted(indexes.items(), key=lambda kv: -kv[1])},
            "latency": latency, "alone": single}


@contextmanager
def _no_database() -> Iterator[None]:
    yield None


def run(n: int = N_JOBS, backends: tuple[str, ...] = BACKENDS, seconds: float = SECONDS, rate: float = RATE,
        log=print) -> dict[str, Any]:
    runs = [backend_run(b, n, seconds, rate, log) for b in backends]
    return {"jobs": n, "rate": rate, "seconds": seconds, "runs": runs, "machine": machine()}


def table(r: dict[str, Any]) -> str:
    lines = ["| backend | measure | result | target |", "|---|---|---|---|"]
    for run_ in r["runs"]:
        b = run_["backend"]
        lines.append(f"| {b}, {run_['jobs']:,} parked super.AI jobs | storage per job (all tables and indexes) | "
                     f"{run_['bytes_per_job']:,.0f} bytes | |")
        lines.append(f"| 〃 | fill: {FILL_BATCH:,} parked jobs per create request | "
                     f"{run_['fill']['jobs_per_s']:,.0f} jobs/s ({run_['fill']['seconds']:.0f} s) | |")
        for name, s in run_["latency"].items():
            target = GET_ONE_P99_MS if s["group"] == "get" else LIST_P99_MS
            ok = "" if s["p99_ms"] < target else " **(over)**"
            errors = f", {s['errors']} errors" if s["errors"] else ""
            one = run_["alone"][name]
            lines.append(f"| 〃 | `{name}` p50 / p99 at {r['rate']:.0f}/s (n={s['n']}{errors}); alone | "
                         f"{s['p50_ms']:.1f} / {s['p99_ms']:.1f} ms{ok}; {one['p50_ms']:.1f} / {one['p99_ms']:.1f} ms"
                         f" | p99 < {target:.0f} ms |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=N_JOBS, help="stored jobs (filled 10,000 per request)")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="measured seconds of load per backend")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--rate", type=float, default=RATE, help="requests/s of the open-loop client")
    args = parser.parse_args()
    result = run(args.n, tuple(args.backends), args.seconds, args.rate)
    print(table(result))
    for run_ in result["runs"]:
        print(f"\n{run_['backend']} largest tables (bytes): {run_['largest_tables']}")
        per_index = ", ".join(f"{k} {v:,.0f}" for k, v in run_["jobs_index_bytes_per_job"].items())
        print(f"{run_['backend']} jobs table and indexes, bytes per job: {per_index}")
    print(f"\n{result['machine']}")


if __name__ == "__main__":
    main()
