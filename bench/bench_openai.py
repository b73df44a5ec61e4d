"""(o) the OpenAI Batch API surface, against what a user would do without it (issue 15 item 9).

- **chat**: `lines` (default 500) chat requests (a short system prompt, one scene description each,
  greedy, `max_tokens` 32) as one batch through `/v1/files` + `/v1/batches` on a
  `jobport serve` with one worker (the embedded SmolLM2, batched decoding), versus the same
  requests sent one by one to `python -m llama_cpp.server` serving the same GGUF, from 4 concurrent
  clients (the official `openai` client's `chat.completions.create`). Tokens/s = completion tokens
  (from each answer's `usage`) / wall time: batch = create sent → retrieve shows `completed`
  (polled every 0.2 s; output downloaded after the clock stops), server = first request sent →
  last answer received. Both sides get all cores (the server's `--n_threads`, the worker's
  OMP_NUM_THREADS default).
- **embeddings**: `embed_lines` (default 10,000) `/v1/embeddings` lines of one sentence each as one
  batch, versus the same sentences through the same model (`MiniLM` of the `openai-batch`
  pipeline: onnxruntime + tokenizers) called directly in this process in batches of 32.
  Sentences/s = sentences / wall time.

Usage: `python bench/bench_openai.py [--lines N] [--embed-lines N]`; prints a JSON result and a
Markdown table row. The two sides run one after the other, never at once.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from openai import OpenAI

from jobport.pipelines.builtin.openai_batch.embeddings import MiniLM
from jobport.pipelines.lm.catalogue import BUILTIN
from jobport.testing.embedded import EmbeddedServer
from jobport.testing.llamaserver import llama_server

MAX_TOKENS = 32
SYSTEM = "You are a video analyst. Answer in one short sentence."
WHO = ["A woman", "A man", "Two children", "An old man", "A worker", "A dog", "A cyclist", "A group of students"]
WHAT = ["runs along", "walks slowly across", "carries boxes through", "rides a bike over", "sweeps",
        "dances in", "waits at", "climbs the stairs of", "plays football on", "reads a book in"]
WHERE = ["a beach at sunrise", "a crowded station", "a quiet park", "a warehouse floor", "a rainy street",
         "a school yard", "a kitchen", "a mountain trail", "an office", "a market square"]
BATCH_TIMEOUT = 3600.0


def scenes(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.choice(WHO)} {rng.choice(WHAT)} {rng.choice(WHERE)}." for _ in range(n)]


def chat_messages(scene: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"Name the activity: {scene}"}]


def jsonl(lines: list[dict[str, Any]]) -> io.BytesIO:
    return io.BytesIO(b"".join(json.dumps(line).encode() + b"\n" for line in lines))


def run_batch(client: OpenAI, lines: list[dict[str, Any]], endpoint: str) -> tuple[float, list[dict[str, Any]]]:
    """(seconds from create to `completed`, output lines)."""
    file = client.files.create(file=("bench.jsonl", jsonl(lines)), purpose="batch")
    started = time.perf_counter()
    batch = client.batches.create(input_file_id=file.id, endpoint=endpoint, completion_window="24h")
    while batch.status not in ("completed", "failed", "expired", "cancelled"):
        if time.perf_counter() - started > BATCH_TIMEOUT:
            raise RuntimeError(f"batch {batch.id} did not end within {BATCH_TIMEOUT} s")
        time.sleep(0.2)
        batch = client.batches.retrieve(batch.id)
    seconds = time.perf_counter() - started
    if batch.status != "completed" or batch.error_file_id:
        raise RuntimeError(f"batch {batch.id} ended {batch.status} with errors {batch.request_counts}")
    assert batch.output_file_id is not None
    text = client.files.content(batch.output_file_id).text
    return seconds, [json.loads(line) for line in text.splitlines() if line.strip()]


def chat_batch(client: OpenAI, prompts: list[str]) -> dict[str, Any]:
    lines = [{"custom_id": str(i), "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": BUILTIN.name, "messages": chat_messages(p), "max_tokens": MAX_TOKENS,
                       "temperature": 0}} for i, p in enumerate(prompts)]
    seconds, output = run_batch(client, lines, "/v1/chat/completions")
    tokens = sum(line["response"]["body"]["usage"]["completion_tokens"] for line in output)
    return {"seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds}


def one_by_one(url: str, prompts: list[str], clients: int) -> dict[str, Any]:
    client = OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=600)

    def ask(prompt: str) -> int:
        answer = client.chat.completions.create(model="smollm2", messages=chat_messages(prompt),  # type: ignore[arg-type]
                                                max_tokens=MAX_TOKENS, temperature=0)
        return answer.usage.completion_tokens if answer.usage else 0

    ask(prompts[0])  # warm-up
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        tokens = sum(pool.map(ask, prompts))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds, "clients": clients}


def embed_batch(client: OpenAI, sentences: list[str]) -> dict[str, Any]:
    lines = [{"custom_id": str(i), "method": "POST", "url": "/v1/embeddings",
              "body": {"model": "all-MiniLM-L6-v2", "input": s}} for i, s in enumerate(sentences)]
    seconds, output = run_batch(client, lines, "/v1/embeddings")
    assert len(output) == len(sentences)
    return {"seconds": seconds, "sentences_per_s": len(sentences) / seconds}


def embed_direct(sentences: list[str], threads: int) -> dict[str, Any]:
    model = MiniLM(threads)
    model.embed(sentences[:32])  # warm-up
    started = time.perf_counter()
    model.embed(sentences)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "sentences_per_s": len(sentences) / seconds}


def run(lines: int, embed_lines: int, clients: int = 4) -> dict[str, Any]:
    """Both benchmarks; `lines` 0 skips the chat one."""
    threads = os.cpu_count() or 1
    prompts, sentences = scenes(lines), scenes(embed_lines, seed=1)
    result: dict[str, Any] = {"lines": lines, "max_tokens": MAX_TOKENS, "threads": threads, "embed_lines": embed_lines}
    with EmbeddedServer(workers=1) as server:
        client = OpenAI(base_url=f"{server.url}/v1", api_key=server.key, max_retries=0, timeout=600)
        if lines:
            chat_batch(client, prompts[:4])  # loads the model in the warm worker
            result["chat_batch"] = chat_batch(client, prompts)
        embed_batch(client, sentences[:32])
        result["embed_batch"] = embed_batch(client, sentences)
    if lines:
        with llama_server(n_ctx=4096, threads=threads) as url:
            result["chat_one_by_one"] = one_by_one(url, prompts, clients)
        result["chat_ratio"] = result["chat_batch"]["tokens_per_s"] / result["chat_one_by_one"]["tokens_per_s"]
    result["embed_direct"] = embed_direct(sentences, threads)
    result["embed_ratio"] = result["embed_batch"]["sentences_per_s"] / result["embed_direct"]["sentences_per_s"]
    return result


def table(r: dict[str, Any]) -> str:
    e, ed = r["embed_batch"], r["embed_direct"]
    rows = ["| benchmark | measure | result |", "|---|---|---|"]
    if "chat_batch" in r:
        b, d = r["chat_batch"], r["chat_one_by_one"]
        rows.append(f"| OpenAI batch, {r['lines']} chat lines, greedy, ≤{r['max_tokens']} tokens | tokens/s: "
                    f"/v1/batches / llama_cpp.server one by one ({d['clients']} clients) | {b['tokens_per_s']:.1f} / "
                    f"{d['tokens_per_s']:.1f} = **{r['chat_ratio']:.2f}** |")
    rows.append(f"| OpenAI batch, {r['embed_lines']:,} embedding lines | sentences/s: /v1/batches / MiniLM "
                f"in-process | {e['sentences_per_s']:.0f} / {ed['sentences_per_s']:.0f} = **{r['embed_ratio']:.2f}** |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=500, help="chat lines (0: only the embeddings benchmark)")
    parser.add_argument("--embed-lines", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    result = run(args.lines, args.embed_lines, args.clients)
    print(json.dumps(result, indent=2))
    print(table(result))


if __name__ == "__main__":
    main()
