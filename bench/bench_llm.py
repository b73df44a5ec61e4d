"""(c) activity-detection: generated tokens/s of a 200-record job end to end versus the same model
called directly with llama-cpp-python in this process, and first-record latency on a warm worker.

- **records**: 200 generated InferenceRecords (system + instruction + a scene description built
  from fixed word lists, seeded), greedy decoding, `max_new_tokens` 48.
- **direct**: `llama_cpp.Llama` on the built-in SmolLM2-135M GGUF with the settings jobport's
  backend uses (n_ctx 8192, n_threads = cpus, greedy), `create_chat_completion` over the 200
  records one after the other. Tokens/s = completion tokens / wall time of the loop.
- **direct batched**: jobport's `LlamaCppBackend` called in this process on the same records in
  batches of 8 (what the worker does, without the engine around it).
- **e2e**: an `EmbeddedServer(workers=1)` (its one worker gets all cores, as direct does). One
  uncounted 1-record job loads the model into the warm worker; then the 200-record file runs as
  one job. Time = POST sent (client clock) → `completed_at` (server clock, same machine); tokens
  = `tokens_out` of the job's `inference.usage` event. The job decodes 8 records at a time in one
  llama.cpp context, so its greedy answers equal the in-process batched ones; a few differ from
  the sequential loop's by a token (batched sums round differently).
- **first record**: on the same warm worker, `n` jobs of one record each, one after the other:
  POST sent → `completed_at`, next to the direct call of that record.

Runs alternate direct and e2e `reps` times; medians are reported. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path
from typing import Any

import orjson

from common import DATA_DIR, epoch, loadavg, machine, median, percentile
from jobport.pipelines.lm.catalogue import BUILTIN
from jobport.sdk.client import JobportClient
from jobport.testing.embedded import EmbeddedServer

N_RECORDS = 200
MAX_NEW_TOKENS = 48
JOB_TIMEOUT = 1800.0
GENERATION = {"do_sample": False, "max_new_tokens": MAX_NEW_TOKENS, "repetition_penalty": 1.0}
CONFIG = {"generation": GENERATION, "batch_size": 8, "flush_every_n_iteration": 4}

WHO = ["A woman", "A man", "Two children", "An old man", "A worker", "A dog", "A cyclist", "A group of students"]
WHAT = ["runs along", "walks slowly across", "carries boxes through", "rides a bike over", "sweeps",
        "dances in", "waits at", "climbs the stairs of", "plays football on", "reads a book in"]
WHERE = ["a beach at sunrise", "a crowded station", "a quiet park", "a warehouse floor", "a rainy street",
         "a school yard", "a kitchen", "a mountain trail", "an office", "a market square"]


def records(n: int = N_RECORDS, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{"system": "You are a video analyst. Answer in one short sentence.",
             "instruction": "Name the main activity in this scene.",
             "prompt": f"{rng.choice(WHO)} {rng.choice(WHAT)} {rng.choice(WHERE)}."} for _ in range(n)]


def messages(record: dict[str, Any]) -> list[dict[str, str]]:
    return [{"role": "system", "content": record["system"]},
            {"role": "user", "content": f"{record['instruction']}\n\n{record['prompt']}"}]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def direct_run(llm, rows: list[dict[str, Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    answers, tokens, first = [], 0, None
    for record in rows:
        out = llm.create_chat_completion(messages=messages(record), max_tokens=MAX_NEW_TOKENS, temperature=0.0,
                                         top_p=1.0, top_k=1, repeat_penalty=1.0, seed=0)
        answers.append(out["choices"][0]["message"]["content"])
        tokens += out["usage"]["completion_tokens"]
        if first is None:
            first = time.perf_counter() - started
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds, "answers": answers,
            "first_record_s": first}


def direct_batched_run(backend, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """jobport's own backend in this process: batches of CONFIG["batch_size"] decoded together."""
    from jobport.pipelines.lm.backends import Sampling

    sampling = Sampling(MAX_NEW_TOKENS, False, 0.7, 0.8, 20, 1.0)
    size = CONFIG["batch_size"]
    started = time.perf_counter()
    answers, tokens = [], 0
    for i in range(0, len(rows), size):
        for result in backend.complete([messages(r) for r in rows[i:i + size]], sampling):
            answers.append(result.text)
            tokens += result.completion_tokens
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds, "answers": answers}


def job_body(file_id: str) -> dict[str, Any]:
    return {"name": "bench-llm", "pipeline_type": "batch", "pipeline_key": "activity-detection",
            "inputs": {"worker.data": [{"file_id": file_id}]}, "parameters": {"worker": {"config": CONFIG}}}


def e2e_job(jp: JobportClient, file_id: str) -> dict[str, Any]:
    sent = time.time()
    job = jp.create_job(job_body(file_id))
    job = jp.wait_job(job["id"], timeout=JOB_TIMEOUT, interval=0.02, max_interval=0.25)
    if job["status"] != "COMPLETED":
        raise RuntimeError(f"job {job['id']} is {job['status']}: {job.get('error')}")
    seconds = epoch(job["completed_at"]) - sent
    usage = jp.job_events(job["id"], event_type="inference.usage")[0]["payload"]
    return {"job": job, "seconds": seconds, "tokens": usage["tokens_out"],
            "tokens_per_s": usage["tokens_out"] / seconds,
            "worker_tokens_per_s": usage["tokens_per_second"], "first_line_s": usage["first_line_seconds"]}


def answers_of(jp: JobportClient, job_id: str, dest: Path) -> list[str | None]:
    files = sorted(jp.download_outputs(job_id, dest), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    return [orjson.loads(line)["prediction"] for f in files for line in f.read_bytes().splitlines()]


def run(reps: int = 2, latency_n: int = 10, log=print) -> dict[str, Any]:
    from llama_cpp import Llama

    rows = records()
    data = write_jsonl(DATA_DIR / "llm_records.jsonl", rows)
    one = write_jsonl(DATA_DIR / "llm_one_record.jsonl", rows[:1])
    threads = os.cpu_count() or 1
    llm = Llama(model_path=str(BUILTIN.gguf_path()), n_ctx=BUILTIN.n_ctx, n_threads=threads,
                n_threads_batch=threads, n_batch=512, seed=0, verbose=False)
    direct_run(llm, rows[:2])  # warm-up
    from jobport.pipelines.lm.backends import LlamaCppBackend

    backend = LlamaCppBackend(BUILTIN, threads=threads)
    direct_batched_run(backend, rows[:8])  # warm-up
    direct, batched, e2e, matches, batched_matches = [], [], [], [], []
    with EmbeddedServer(workers=1) as server, JobportClient(server.url, server.key) as jp:
        log(f"server {server.url} (workers=1, {threads} threads); load average {loadavg()}")
        file_id = jp.upload_file(data)["file_id"]
        one_id = jp.upload_file(one)["file_id"]
        e2e_job(jp, one_id)  # loads the model in the warm worker
        for rep in range(reps):
            d = direct_run(llm, rows)
            direct.append(d)
            log(f"rep {rep}: direct {d['tokens']} tokens in {d['seconds']:.1f} s = {d['tokens_per_s']:.1f} tok/s")
            b = direct_batched_run(backend, rows)
            batched.append(b)
            log(f"rep {rep}: direct batched (jobport's backend in-process) {b['tokens']} tokens in "
                f"{b['seconds']:.1f} s = {b['tokens_per_s']:.1f} tok/s")
            e = e2e_job(jp, file_id)
            e2e.append(e)
            log(f"rep {rep}: e2e {e['tokens']} tokens in {e['seconds']:.1f} s = {e['tokens_per_s']:.1f} tok/s "
                f"(worker's own {e['worker_tokens_per_s']} tok/s)")
            got = answers_of(jp, e["job"]["id"], DATA_DIR / "llm_out" / e["job"]["id"])
            matches.append(sum(x == y for x, y in zip(got, d["answers"], strict=False)))
            batched_matches.append(sum(x == y for x, y in zip(got, b["answers"], strict=False)))
        first_e2e = []
        for _ in range(latency_n):
            e = e2e_job(jp, one_id)
            first_e2e.append(e["seconds"])
        log(f"load average at the end: {loadavg()}")
    first_direct = []
    for _ in range(latency_n):
        started = time.perf_counter()
        llm.create_chat_completion(messages=messages(rows[0]), max_tokens=MAX_NEW_TOKENS, temperature=0.0, top_p=1.0,
                                   top_k=1, repeat_penalty=1.0, seed=0)
        first_direct.append(time.perf_counter() - started)
    llm.close()
    backend.close()
    d_tps = median([d["tokens_per_s"] for d in direct])
    b_tps = median([b["tokens_per_s"] for b in batched])
    e_tps = median([e["tokens_per_s"] for e in e2e])
    return {
        "records": N_RECORDS, "max_new_tokens": MAX_NEW_TOKENS, "reps": reps, "threads": threads,
        "direct_tokens_per_s": d_tps, "e2e_tokens_per_s": e_tps, "ratio": e_tps / d_tps,
        "direct_batched_tokens_per_s": b_tps, "ratio_batched": e_tps / b_tps,
        "matches": min(matches), "batched_matches": min(batched_matches),
        "direct_seconds": median([d["seconds"] for d in direct]), "e2e_seconds": median([e["seconds"] for e in e2e]),
        "tokens": direct[0]["tokens"],
        "worker_tokens_per_s": median([e["worker_tokens_per_s"] for e in e2e]),
        "first_record_e2e": {"p50": percentile(first_e2e, 50), "p95": percentile(first_e2e, 95)},
        "first_record_direct": {"p50": percentile(first_direct, 50), "p95": percentile(first_direct, 95)},
        "machine": machine(),
    }


def table(r: dict[str, Any]) -> str:
    def ms(stat: dict) -> str:
        return f"p50 {stat['p50'] * 1000:.0f} ms, p95 {stat['p95'] * 1000:.0f} ms"

    cfg = f"activity-detection, {r['records']} records, greedy, ≤{r['max_new_tokens']} new tokens, workers=1"
    lines = ["| benchmark | measure | result | target |", "|---|---|---|---|",
             f"| {cfg} | generated tokens/s: e2e / direct llama-cpp-python, median of {r['reps']} | "
             f"{r['e2e_tokens_per_s']:.1f} / {r['direct_tokens_per_s']:.1f} = **{r['ratio']:.3f}** | ≥ 0.9 |",
             f"| 〃 | wall time e2e / direct ({r['tokens']:,} tokens) | {r['e2e_seconds']:.1f} s / "
             f"{r['direct_seconds']:.1f} s | |",
             f"| 〃 | e2e / jobport's batched backend called in-process (engine overhead) | "
             f"{r['e2e_tokens_per_s']:.1f} / {r['direct_batched_tokens_per_s']:.1f} = **{r['ratio_batched']:.3f}** | |",
             f"| 〃 | greedy answers equal: e2e vs in-process batched / vs sequential | "
             f"{r['batched_matches']}/{r['records']} / {r['matches']}/{r['records']} | |",
             f"| first record, warm worker | 1-record job, POST sent → completed_at | {ms(r['first_record_e2e'])} | |",
             f"| 〃 | the same record called directly | {ms(r['first_record_direct'])} | |"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("-n", "--latency-n", type=int, default=10)
    args = parser.parse_args()
    result = run(args.reps, args.latency_n)
    print(table(result))
    print(f"\n{result['machine']}")


if __name__ == "__main__":
    main()
