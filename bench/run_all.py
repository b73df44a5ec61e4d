"""Run every jobport benchmark and print markdown tables (`make bench`).

(a) `bench_machine_state`: end-to-end throughput of machine-state-classification through a real
server vs the same model in-process, first with `workers=1` (one worker, all cores; direct with
default threading), then with the server's default `workers=<cpus>` (1 thread per worker; direct
limited to 1 thread); (b) `bench_latency`: create -> RUNNING / COMPLETED latency of
a tiny job on an idle warm server; (c) `bench_llm`: activity-detection tokens/s end to end vs
llama-cpp-python in-process, and first-record latency on a warm worker; (d) `bench_gravity`: 1M-row
CSV through the Gravity surface vs onnxruntime direct, with peak RSS; (e) `bench_superai`: 10,000
single-record super.AI jobs in one request vs Celery + Redis and Dramatiq + Redis; (e2) `bench_create`:
10,000 super.AI jobs created by 10,000 requests from 8 clients vs Celery `apply_async` from 8 threads;
(f) `bench_storage`: database bytes per stored super.AI job and GET-one / list latency at 1,000,000
stored jobs, on SQLite and PostgreSQL; (g) `bench_memory`: RSS of an idle server with 2 workers, and
its growth while a 1 GB CSV runs through the Gravity surface. Raw numbers are also written to
`bench/out/results.json`, and `plots.py` draws PNG plots from them into `bench/`.
About 3 minutes on an idle 2-core machine with the defaults (5 repetitions, 2 x 50 latency
jobs) without (f); `--heavy` adds the step-4 config (~12 more minutes at 5 repetitions; `--reps 3`
for less). (f) at its default 1,000,000 jobs fills both databases (minutes each; `--storage-jobs 0`
skips it, `--storage-jobs 20000` is a smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_create  # noqa: E402
import bench_gravity  # noqa: E402
import bench_latency  # noqa: E402
import bench_llm  # noqa: E402
import bench_machine_state  # noqa: E402
import bench_memory  # noqa: E402
import bench_storage  # noqa: E402
import bench_superai  # noqa: E402
import plots  # noqa: E402
from common import OUT_DIR, machine  # noqa: E402


def summary(throughput: list[dict], latency: dict) -> str:
    rows: list[tuple[str, str, str, str]] = []
    for r in throughput:
        w = r["windows"]
        threads = f"{r['threads']} BLAS/OpenMP thread{'s' if r['threads'] > 1 else ''} per worker and direct"
        cfg = f"throughput, w64 step {r['step']} ({w:,} windows), server workers={r['workers']} ({threads})"
        one = r["direct_1thread"]
        rows += [
            (cfg, f"warm job: e2e / direct windows/s, median of {r['reps']}",
             f"{w / r['e2e_warm_s']:,.0f} / {w / r['direct_predict_s']:,.0f} = **{r['ratio_warm']:.3f}** "
             f"(best-of: {r['ratio_warm_best']:.3f})", "≥ 0.9"),
            (cfg, "cold job (index built): e2e / direct (build + predict) windows/s",
             f"{w / r['e2e_cold_s']:,.0f} / {w / r['direct_cold_s']:,.0f} = **{r['ratio_cold']:.3f}** "
             f"(best-of: {r['ratio_cold_best']:.3f})", "≥ 0.9"),
            (cfg, "CPU seconds: direct predict / warm job (server + worker)",
             f"{r['direct_predict_cpu_s']:.2f} / {r['e2e_warm_cpu_s']:.2f} = {r['ratio_cpu']:.3f}", ""),
            (cfg, "e2e predictions identical to direct", "yes" if r["identical"] else "NO", "yes"),
            (cfg, "reference: direct predict with pools limited to 1 thread",
             f"{w / one['seconds']:,.0f} win/s, CPU {one['cpu']:.2f} s", ""),
        ]

    def ms(stat: dict) -> str:
        return f"p50 {stat['p50'] * 1000:.1f} ms, p95 {stat['p95'] * 1000:.1f} ms"

    s, p, tiny = latency["stamps"], latency["polling"], "latency, tiny job, warm"
    rows += [
        (tiny, "create POST round trip", ms(s["create_rtt"]), ""),
        (tiny, "create → RUNNING (POST sent → started_at)", ms(s["sent_to_started"]), ""),
        (tiny, "create → RUNNING (created_at → started_at)", ms(s["created_to_started"]), ""),
        (tiny, "create → RUNNING seen by polling", ms(p["observed_started"]), ""),
        (tiny, "create → COMPLETED (POST sent → completed_at)", ms(s["sent_to_completed"]), ""),
        (tiny, "of which compute: the same predict in-process", ms(latency["direct"]["direct_predict"]), ""),
    ]
    lines = ["| benchmark | measure | result | target |", "|---|---|---|---|"]
    return "\n".join(lines + [f"| {' | '.join(row)} |" for row in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reps", type=int, default=5, help="throughput repetitions per side")
    parser.add_argument("--heavy", action="store_true", help="also run the step-4 throughput config")
    parser.add_argument("-n", type=int, default=50, help="latency jobs per pass")
    parser.add_argument("--llm-reps", type=int, default=2, help="activity-detection repetitions per side (0 = skip)")
    parser.add_argument("--gravity-reps", type=int, default=2, help="Gravity 1M-row repetitions (0 = skip)")
    parser.add_argument("--superai-jobs", type=int, default=10_000, help="super.AI jobs in one request (0 = skip)")
    parser.add_argument("--create-jobs", type=int, default=10_000,
                        help="super.AI jobs created one per request from 8 clients (0 = skip)")
    parser.add_argument("--storage-jobs", type=int, default=bench_storage.N_JOBS,
                        help="stored jobs of the storage and list-latency benchmark, SQLite and PostgreSQL (0 = skip)")
    parser.add_argument("--memory-mb", type=int, default=bench_memory.MB_DEFAULT,
                        help="size of the memory benchmark's CSV in MB (0 = skip)")
    args = parser.parse_args()
    started = time.monotonic()
    print(f"# jobport benchmarks\n\nMachine: {machine()}\n")
    print("## (a) throughput: end to end vs direct", flush=True)
    steps = bench_machine_state.HEAVY_STEPS if args.heavy else bench_machine_state.DEFAULT_STEPS
    # As specified: one worker with all cores vs direct with default threading; then the server's
    # default (one worker per CPU, 1 thread each) vs direct with its pools limited the same way.
    throughput = list(bench_machine_state.run(args.reps, steps, workers=1).values())
    cpus = os.cpu_count() or 1
    if cpus > 1:
        print(f"\nsame with the server's default workers={cpus}:", flush=True)
        throughput += bench_machine_state.run(args.reps, steps, workers=cpus).values()
    print("\n## (b) latency: tiny job on an idle warm server", flush=True)
    latency = bench_latency.run(args.n)
    print("\n## Results\n")
    print(summary(throughput, latency))
    print("\n### Throughput details\n")
    print(bench_machine_state.table(throughput))
    print("\n### Latency details\n")
    print(bench_latency.table(latency))
    llm = None
    if args.llm_reps:
        print("\n## (c) activity-detection: tokens/s end to end vs direct llama-cpp-python", flush=True)
        llm = bench_llm.run(args.llm_reps)
        print("\n" + bench_llm.table(llm))
    gravity = superai = create = None
    if args.gravity_reps:
        print("\n## (d) Gravity: 1M-row CSV through the example app vs onnxruntime direct", flush=True)
        gravity = bench_gravity.run(args.gravity_reps)
        print("\n" + bench_gravity.table(gravity))
    if args.superai_jobs:
        print("\n## (e) super.AI: single-record jobs in one request vs Celery + Redis", flush=True)
        superai = bench_superai.run(args.superai_jobs)
        print("\n" + bench_superai.table(superai))
    if args.create_jobs:
        print("\n## (e2) super.AI: jobs created one per request from 8 clients vs Celery apply_async", flush=True)
        create = bench_create.run(args.create_jobs)
        print("\n" + bench_create.table(create))
    storage = None
    if args.storage_jobs:
        print(f"\n## (f) storage and list latency at {args.storage_jobs:,} stored jobs", flush=True)
        storage = bench_storage.run(args.storage_jobs)
        print("\n" + bench_storage.table(storage))
    memory = None
    if args.memory_mb:
        print(f"\n## (g) memory: idle server + {bench_memory.WORKERS} workers, then a {args.memory_mb:,} MB CSV",
              flush=True)
        memory = bench_memory.run(args.memory_mb)
        print("\n" + bench_memory.table(memory))
    print(f"\nTotal benchmark time: {time.monotonic() - started:.0f} s")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    results = json.loads(json.dumps(
        {"machine": machine(), "throughput": throughput, "latency": latency, "llm": llm,
         "gravity": gravity, "superai": superai, "create": create, "storage": storage, "memory": memory},
        default=str))
    (OUT_DIR / "results.json").write_text(json.dumps(results, indent=2))
    plots.write_all(results)


if __name__ == "__main__":
    main()
