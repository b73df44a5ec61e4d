"""The official `openai` Python client against a real `jobport serve` (base_url `.../v1`): upload,
create, poll `retrieve` until `completed`, download the output and error files, cancel mid-run, list
with `after`, a file that fails validation; chat lines on the embedded SmolLM2 and on an
OpenAI-compatible backend (`llama_cpp.server` on loopback, named in the server's model catalogue),
and an embeddings batch on MiniLM."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator

import numpy as np
import pytest
from openai import NotFoundError, OpenAI
from openai.types import Batch, CreateEmbeddingResponse
from openai.types.chat import ChatCompletion

from jobport.testing.embedded import EmbeddedServer
from jobport.testing.llamaserver import llama_server as run_llama_server

FINAL = {"completed", "failed", "expired", "cancelled"}


def jsonl(lines: list[dict]) -> io.BytesIO:
    return io.BytesIO(b"".join(json.dumps(line).encode() + b"\n" for line in lines))


def chat(custom_id: str, text: str, model: str = "smollm2-135m-instruct", **extra) -> dict:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "system", "content": "Answer briefly."},
                                                  {"role": "user", "content": text}],
                     "max_tokens": 4, "temperature": 0, **extra}}


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory) -> Iterator[str]:
    with run_llama_server(tmp_path_factory.mktemp("llama") / "server.log", n_ctx=2048) as url:
        yield url


@pytest.fixture(scope="module")
def client(tmp_path_factory, llama_server) -> Iterator[OpenAI]:
    home = tmp_path_factory.mktemp("home")
    (home / "models.toml").write_text(
        f'[models.llamacpp-server]\nkind = "openai"\nbase_url = "{llama_server}"\nmodel = "smollm2"\n'
        'max_concurrency = 2\ntimeout_seconds = 60\n')
    with EmbeddedServer(home=home, workers=2) as server:
        yield OpenAI(base_url=f"{server.url}/v1", api_key=server.key, max_retries=0)


def run(client: OpenAI, lines: list[dict], endpoint: str, **extra) -> Batch:
    file = client.files.create(file=("requests.jsonl", jsonl(lines)), purpose="batch")
    batch = client.batches.create(input_file_id=file.id, endpoint=endpoint, completion_window="24h", **extra)
    assert batch.status in ("validating", "in_progress") and batch.request_counts.total == len(lines)
    deadline = time.monotonic() + 180
    while batch.status not in FINAL:
        assert time.monotonic() < deadline, batch
        time.sleep(0.3)
        batch = client.batches.retrieve(batch.id)
    return batch


def results(client: OpenAI, file_id: str | None) -> dict[str, dict]:
    if file_id is None:
        return {}
    lines = [json.loads(line) for line in client.files.content(file_id).text.splitlines() if line.strip()]
    return {line["custom_id"]: line for line in lines}


def test_chat_batch_on_embedded_and_remote_models_with_the_official_client(client):
    lines = [chat("local", "What is 2+2?"), chat("remote", "What is 2+2?", model="llamacpp-server"),
             chat("two", "Hi", n=2)]
    batch = run(client, lines, "/v1/chat/completions", metadata={"suite": "e2e"})
    assert batch.status == "completed", batch
    assert batch.request_counts.total == 3 and batch.request_counts.completed == 2 and batch.request_counts.failed == 1
    assert batch.metadata == {"suite": "e2e"} and batch.completed_at and batch.in_progress_at
    output, errors = results(client, batch.output_file_id), results(client, batch.error_file_id)
    assert set(output) == {"local", "remote"} and set(errors) == {"two"}
    for custom_id in ("local", "remote"):
        completion = ChatCompletion.model_validate(output[custom_id]["response"]["body"])
        assert completion.choices[0].message.content
        assert completion.usage is not None and 1 <= completion.usage.completion_tokens <= 4
        assert completion.usage.prompt_tokens > 5
    assert output["remote"]["response"]["body"]["model"] == "llamacpp-server"
    assert errors["two"]["error"]["code"] == "invalid_value"
    output_file = client.files.retrieve(batch.output_file_id)
    assert output_file.purpose == "batch_output" and output_file.bytes > 0


def test_embeddings_batch_on_minilm(client):
    texts = ["The weather is sunny today.", "It is a bright and sunny day.", "He plays the guitar in a band."]
    lines = [{"custom_id": "e", "method": "POST", "url": "/v1/embeddings",
              "body": {"model": "all-MiniLM-L6-v2", "input": texts}}]
    batch = run(client, lines, "/v1/embeddings")
    assert batch.status == "completed" and batch.error_file_id is None
    response = CreateEmbeddingResponse.model_validate(results(client, batch.output_file_id)["e"]["response"]["body"])
    vectors = np.array([item.embedding for item in response.data])
    assert vectors.shape == (3, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert response.usage.prompt_tokens > 10


def test_cancel_mid_run_and_list_with_after(client):
    lines = [chat(f"c{i}", f"Count from {i} to {i + 20}.", max_tokens=24) for i in range(48)]
    file = client.files.create(file=("many.jsonl", jsonl(lines)), purpose="batch")
    batch = client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h")
    deadline = time.monotonic() + 120
    while client.batches.retrieve(batch.id).request_counts.completed == 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert client.batches.cancel(batch.id).status == "cancelling"
    while (batch := client.batches.retrieve(batch.id)).status == "cancelling":
        time.sleep(0.2)
    assert batch.status == "cancelled" and batch.cancelled_at and batch.cancelling_at
    output, errors = results(client, batch.output_file_id), results(client, batch.error_file_id)
    assert output and sorted([*output, *errors]) == sorted(line["custom_id"] for line in lines)
    assert {line["error"]["code"] for line in errors.values()} == {"batch_cancelled"}
    newest = client.batches.list(limit=1)
    assert [b.id for b in newest.data] == [batch.id] and newest.has_more
    older = client.batches.list(after=batch.id, limit=100)
    assert batch.id not in [b.id for b in older.data] and older.data
    assert all(b.created_at <= batch.created_at for b in older.data)


def test_a_file_that_fails_validation_and_missing_objects(client):
    lines = [chat("same", "a"), chat("same", "b"), {**chat("x", "c"), "url": "/v1/embeddings"}]
    file = client.files.create(file=("bad.jsonl", jsonl(lines)), purpose="batch")
    batch = client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.status == "failed" and batch.failed_at and batch.errors is not None
    assert client.batches.retrieve(batch.id).status == "failed"
    assert [(e.code, e.line) for e in batch.errors.data or []] == [("duplicate_custom_id", 2),
                                                                   ("mismatched_endpoint", 3)]
    with pytest.raises(NotFoundError) as raised:
        client.batches.retrieve("batch_missing")
    assert raised.value.status_code == 404 and "batch_missing" in str(raised.value)
    with pytest.raises(NotFoundError):
        client.files.retrieve("file-missing")
