"""The OpenAI-compatible backend against an in-process fake server (httpx.MockTransport):
request body, retries with backoff on 429/5xx, per-record errors, bounded concurrency, API key."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from jobport.pipelines.lm.backends import OpenAIBackend, Sampling
from jobport.pipelines.lm.catalogue import ModelEntry

GREEDY = Sampling(max_tokens=16, do_sample=False, temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.1)


def entry(**fields) -> ModelEntry:
    return ModelEntry(name="remote", kind="openai", base_url="http://model.test/v1", model="m1", **fields)


def answer(text: str) -> httpx.Response:
    return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": text}}],
                                     "usage": {"prompt_tokens": 5, "completion_tokens": 2}})


def conv(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_request_shape_greedy_and_api_key(monkeypatch):
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get("authorization"), json.loads(request.content)))
        return answer("hi")

    monkeypatch.setenv("REMOTE_KEY", "sk-test")
    backend = OpenAIBackend(entry(api_key_env="REMOTE_KEY"), transport=httpx.MockTransport(handler))
    [result] = backend.complete([conv("hello")], GREEDY)
    assert (result.text, result.prompt_tokens, result.completion_tokens, result.error) == ("hi", 5, 2, None)
    path, auth, body = seen[0]
    assert path == "/v1/chat/completions" and auth == "Bearer sk-test"
    assert body["model"] == "m1" and body["messages"] == conv("hello") and body["max_tokens"] == 16
    assert body["temperature"] == 0.0 and body["top_k"] == 1  # do_sample=false → greedy


def test_retries_429_and_5xx_then_succeeds(monkeypatch):
    monkeypatch.setattr("jobport.pipelines.lm.backends.time.sleep", lambda s: None)
    replies = iter([httpx.Response(429, headers={"retry-after": "0"}), httpx.Response(503), answer("done")])
    backend = OpenAIBackend(entry(max_retries=3), transport=httpx.MockTransport(lambda r: next(replies)))
    [result] = backend.complete([conv("x")], GREEDY)
    assert result.text == "done" and result.error is None


def test_gives_up_after_max_retries_and_4xx_is_not_retried(monkeypatch):
    monkeypatch.setattr("jobport.pipelines.lm.backends.time.sleep", lambda s: None)
    calls = []

    def handler(request):
        calls.append(1)
        text = json.loads(request.content)["messages"][0]["content"]
        return httpx.Response(500 if text == "flaky" else 400, text="bad request: context too long")

    backend = OpenAIBackend(entry(max_retries=2), transport=httpx.MockTransport(handler))
    flaky, bad = backend.complete([conv("flaky"), conv("bad")], GREEDY)
    assert flaky.text is None and "500" in flaky.error and "after 3 attempts" in flaky.error
    assert bad.text is None and "400" in bad.error and "context too long" in bad.error
    assert len(calls) == 4


def test_unreachable_server_is_a_per_record_error(monkeypatch):
    monkeypatch.setattr("jobport.pipelines.lm.backends.time.sleep", lambda s: None)

    def handler(request):
        raise httpx.ConnectError("connection refused")

    backend = OpenAIBackend(entry(max_retries=1), transport=httpx.MockTransport(handler))
    [result] = backend.complete([conv("x")], GREEDY)
    assert result.text is None and "cannot reach model server" in result.error


def test_concurrency_is_bounded_and_order_kept():
    lock = threading.Lock()
    active = peak = 0

    def handler(request):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.02)
        with lock:
            active -= 1
        return answer(json.loads(request.content)["messages"][0]["content"].upper())

    backend = OpenAIBackend(entry(max_concurrency=3), transport=httpx.MockTransport(handler))
    results = backend.complete([conv(f"r{i}") for i in range(12)], GREEDY)
    assert [r.text for r in results] == [f"R{i}" for i in range(12)]
    assert 1 < peak <= 3
    backend.close()


@pytest.mark.parametrize("bad", [{"kind": "openai", "base_url": "http://x"}, {"kind": "gguf"}])
def test_incomplete_entries_are_refused(bad):
    with pytest.raises(ValueError):
        ModelEntry(name="x", **bad)
