"""`python -m llama_cpp.server` for tests and benchmarks: the built-in SmolLM2 GGUF file served
over the OpenAI-compatible API on a free loopback port, in a child process.

    with llama_server(log_path, n_ctx=4096) as url:    # http://127.0.0.1:PORT/v1, model alias "smollm2"
        OpenAI(base_url=url, api_key="x").chat.completions.create(model="smollm2", ...)

It is ready when `GET /v1/models` answers (within `start_timeout` seconds, else RuntimeError with
the end of its log) and terminated when the block ends. Needs llama-cpp-python's `server` extra.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from jobport.pipelines.lm.catalogue import BUILTIN
from jobport.testing.embedded import free_port

MODEL_ALIAS = "smollm2"


@contextmanager
def llama_server(log_path: Path | None = None, n_ctx: int = 4096, threads: int = 1,
                 start_timeout: float = 120.0) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(BUILTIN.gguf_path()),
               "--model_alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port),
               "--n_ctx", str(n_ctx), "--n_threads", str(threads)]
    with open(log_path or os.devnull, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(process, url, log_path, start_timeout)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_ready(process: subprocess.Popen[bytes], url: str, log_path: Path | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:] if log_path else ""
            raise RuntimeError(f"llama_cpp.server exited: {tail}")
        try:
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("llama_cpp.server did not start")
        time.sleep(0.2)
