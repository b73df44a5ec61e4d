"""Chat-completion backends behind one small protocol, and a fake twin for unit tests.

- `LlamaCppBackend`: a GGUF model loaded in-process with llama-cpp-python (once per warm worker).
- `OpenAIBackend`: any `/v1/chat/completions` server (vLLM, llama.cpp server, Ollama...), with
  bounded concurrency, retries with exponential backoff on 429/5xx and per-record errors.
- `EchoBackend`: deterministic fake for tests of the record pipeline's bookkeeping.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from jobport.pipelines.lm.catalogue import ModelEntry, load_catalogue

if TYPE_CHECKING:
    from jobport.pipelines.sdk import HostContext


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    do_sample: bool
    temperature: float
    top_p: float
    top_k: int
    repetition_penalty: float
    seed: int = 0


@dataclass
class Completion:
    text: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None


class ChatBackend(Protocol):
    name: str
    multimodal: bool
    context_tokens: int | None

    def count_tokens(self, text: str) -> int: ...

    def complete(self, conversations: list[list[dict[str, Any]]], sampling: Sampling) -> list[Completion]: ...

    def close(self) -> None: ...


def default_threads() -> int:
    return max(1, int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1))


class LlamaCppBackend:
    """A GGUF model in-process: the records of one `complete` call are decoded together, each its own
    sequence in one shared llama.cpp context (`jobport.pipelines.lm.llama_batch`)."""

    N_SEQ_MAX = 16  # sequences decoded together at most; a larger call runs in several groups

    def __init__(self, entry: ModelEntry, threads: int | None = None) -> None:
        from llama_cpp import Llama  # compiled extension: import only when a GGUF model is used

        from jobport.pipelines.lm.llama_batch import BatchedGenerator

        threads = threads or default_threads()
        self.name = entry.name
        self.multimodal = False
        self.context_tokens = entry.n_ctx
        # `Llama` holds the weights, tokenizer and chat template; its own context is left small (it takes no
        # n_seq_max): decoding runs in the generator's context of n_ctx cells shared by up to N_SEQ_MAX sequences.
        self.llm = Llama(model_path=str(entry.gguf_path()), n_ctx=min(entry.n_ctx, 512), n_threads=threads,
                         n_threads_batch=threads, n_batch=512, seed=0, verbose=False)
        self.generator = BatchedGenerator(self.llm, n_ctx=entry.n_ctx, n_seq_max=self.N_SEQ_MAX, n_batch=512)

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def complete(self, conversations: list[list[dict[str, Any]]], sampling: Sampling) -> list[Completion]:
        return self.generator.complete(conversations, sampling)

    def close(self) -> None:
        self.generator.close()
        self.llm.close()


class OpenAIBackend:
    RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}

    def __init__(self, entry: ModelEntry, transport: httpx.BaseTransport | None = None) -> None:
        self.name = entry.name
        self.entry = entry
        self.multimodal = entry.multimodal
        self.context_tokens = None
        headers = {}
        if entry.api_key_env and os.environ.get(entry.api_key_env):
            headers["Authorization"] = f"Bearer {os.environ[entry.api_key_env]}"
        self.http = httpx.Client(base_url=entry.base_url.rstrip("/") + "/", headers=headers,
                                 timeout=entry.timeout_seconds, transport=transport)
        self.pool = ThreadPoolExecutor(max_workers=entry.max_concurrency, thread_name_prefix=f"llm-{entry.name}")

    def count_tokens(self, text: str) -> int:
        # The server owns the tokenizer; ~4 characters per token is the usual estimate.
        return len(text) // 4 + 1

    def complete(self, conversations: list[list[dict[str, Any]]], sampling: Sampling) -> list[Completion]:
        return list(self.pool.map(lambda m: self._one(m, sampling), conversations))

    def _one(self, messages: list[dict[str, Any]], sampling: Sampling) -> Completion:
        body = {
            "model": self.entry.model,
            "messages": messages,
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature if sampling.do_sample else 0.0,
            "top_p": sampling.top_p if sampling.do_sample else 1.0,
            "seed": sampling.seed,
            # not in OpenAI's API; understood by vLLM / llama.cpp servers, ignored elsewhere
            "top_k": sampling.top_k if sampling.do_sample else 1,
            "repetition_penalty": sampling.repetition_penalty,
        }
        delay = 0.5
        for attempt in range(self.entry.max_retries + 1):
            try:
                r = self.http.post("chat/completions", json=body)
            except httpx.TransportError as err:
                failure = f"cannot reach model server: {err}"
            else:
                if r.status_code == 200:
                    data = r.json()
                    usage = data.get("usage") or {}
                    return Completion(data["choices"][0]["message"].get("content") or "",
                                      usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
                failure = f"model server answered {r.status_code}: {r.text[:300]}"
                if r.status_code not in self.RETRY_STATUS:
                    return Completion(None, error=failure)
                retry_after = r.headers.get("retry-after")
                if retry_after and retry_after.replace(".", "", 1).isdigit():
                    delay = max(delay, float(retry_after))
            if attempt < self.entry.max_retries:
                time.sleep(delay * (1 + random.random() * 0.25))
                delay = min(delay * 2, 30.0)
        return Completion(None, error=f"{failure} (after {self.entry.max_retries + 1} attempts)")

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.http.close()


class EchoBackend:
    """Fake twin: answers with the last user text upper-cased; counts words as tokens."""

    def __init__(self, name: str = "echo", multimodal: bool = False, context_tokens: int | None = 4096) -> None:
        self.name = name
        self.multimodal = multimodal
        self.context_tokens = context_tokens
        self.calls: list[list[list[dict[str, Any]]]] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def complete(self, conversations: list[list[dict[str, Any]]], sampling: Sampling) -> list[Completion]:
        self.calls.append(conversations)
        results = []
        for messages in conversations:
            content = messages[-1]["content"]
            text = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)
            words = text.split()[: sampling.max_tokens]
            results.append(Completion(" ".join(words).upper(), self.count_tokens(text), len(words)))
        return results

    def close(self) -> None:
        pass


def open_backend(entry: ModelEntry) -> ChatBackend:
    if entry.kind == "gguf":
        return LlamaCppBackend(entry)
    return OpenAIBackend(entry)


class CatalogueModels:
    """Mixin of the pipelines that run catalogue models: the catalogue (the host's `models.toml`
    once `configure`d; the built-in entries before) and the factory that opens an entry's backend
    (tests pass a fake)."""

    def __init__(self, catalogue: Callable[[], dict[str, ModelEntry]] | None = None,
                 backend_factory: Callable[[ModelEntry], ChatBackend] = open_backend) -> None:
        self._catalogue = catalogue or (lambda: load_catalogue(None))
        self._backend_factory = backend_factory

    def configure(self, host: HostContext) -> None:
        self._catalogue = lambda: load_catalogue(host.models_file)
