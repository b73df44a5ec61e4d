"""The OpenAI Batch API surface in-process (TestClient, SQLite and PostgreSQL): files, batches run to
the end on the real models (embeddings on MiniLM, a tiny chat batch on SmolLM2), validation
failures reported as OpenAI reports them, per-line errors in the error file, cancel, lists with
`after`, errors in OpenAI's format, and paths shared with the super.AI surface under `/v1`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import wait_until

FINAL = {"completed", "failed", "expired", "cancelled"}


def jsonl(lines: list[dict]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def embedding_line(custom_id: str, text, **extra) -> dict:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/embeddings",
            "body": {"model": "all-MiniLM-L6-v2", "input": text, **extra}}


def chat_line(custom_id: str, text: str, **extra) -> dict:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": text}],
                     "max_tokens": 3, "temperature": 0, **extra}}


def upload(api, content: bytes, purpose: str = "batch", name: str = "requests.jsonl") -> dict:
    r = api.post("/v1/files", files={"file": (name, content, "application/jsonl")}, data={"purpose": purpose})
    assert r.status_code == 200, r.text
    return r.json()


def create_batch(api, file_id: str, endpoint: str, **extra) -> dict:
    r = api.post("/v1/batches", json={"input_file_id": file_id, "endpoint": endpoint, "completion_window": "24h",
                                      **extra})
    assert r.status_code == 200, r.text
    return r.json()


def finished(api, batch_id: str) -> dict:
    return wait_until(lambda: (b := api.get(f"/v1/batches/{batch_id}").json())["status"] in FINAL and b,
                      timeout=120, what=f"batch {batch_id} to end")


def lines_of(api, file_id: str | None) -> list[dict]:
    if file_id is None:
        return []
    r = api.get(f"/v1/files/{file_id}/content")
    assert r.status_code == 200, r.text
    return [json.loads(line) for line in r.content.splitlines() if line.strip()]


def test_file_objects_upload_list_retrieve_content_delete(api):
    content = jsonl([embedding_line("a", "hello")])
    first = upload(api, content)
    assert first["id"].startswith("file-") and first["object"] == "file"
    assert (first["bytes"], first["filename"], first["purpose"]) == (len(content), "requests.jsonl", "batch")
    second = upload(api, content, name="second.jsonl")
    page = api.get("/v1/files", params={"limit": 1}).json()
    assert [f["id"] for f in page["data"]] == [second["id"]] and page["has_more"] is True
    rest = api.get("/v1/files", params={"after": second["id"]}).json()
    assert [f["id"] for f in rest["data"]] == [first["id"]] and rest["has_more"] is False
    oldest_first = api.get("/v1/files", params={"order": "asc", "purpose": "batch"}).json()
    assert [f["id"] for f in oldest_first["data"]] == [first["id"], second["id"]]
    assert api.get(f"/v1/files/{first['id']}").json() == first
    assert api.get(f"/v1/files/{first['id']}/content").content == content
    r = api.delete(f"/v1/files/{first['id']}")
    assert r.json() == {"id": first["id"], "object": "file", "deleted": True}
    missing = api.get(f"/v1/files/{first['id']}")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "invalid_request_error"
    assert first["id"] in missing.json()["error"]["message"]


def test_upload_refusals_name_the_field(api):
    r = api.post("/v1/files", files={"file": ("a.jsonl", b"{}\n", "application/jsonl")}, data={"purpose": "fine-tune"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "purpose"
    r = api.post("/v1/files", files={"file": ("a.jsonl", b"{}\n", "application/jsonl")})
    assert r.status_code == 400 and r.json()["error"]["code"] == "missing_required_parameter"
    r = api.post("/v1/files", files={"file": ("a.jsonl", b"", "application/jsonl")}, data={"purpose": "batch"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "file"
    assert api.get("/v1/files", params={"purpose": "batch"}).json()["data"] == []


def test_embeddings_batch_completes_with_unit_vectors_that_rank_similar_sentences_first(api):
    texts = ["A cat sits on the mat.", "A kitten is sitting on a rug.", "Stock markets fell sharply today."]
    lines = [embedding_line("texts", texts), embedding_line("one", "hello world", encoding_format="base64"),
             embedding_line("bad-model", "x", model="text-embedding-3-small")]
    lines[2]["body"]["model"] = "text-embedding-3-small"
    batch = create_batch(api, upload(api, jsonl(lines))["id"], "/v1/embeddings", metadata={"run": "t1"})
    assert batch["status"] == "in_progress" and batch["request_counts"]["total"] == 3
    done = finished(api, batch["id"])
    assert done["status"] == "completed", done
    assert done["request_counts"] == {"total": 3, "completed": 2, "failed": 1}
    assert done["metadata"] == {"run": "t1"}
    assert done["created_at"] <= done["in_progress_at"] <= done["finalizing_at"] <= done["completed_at"]
    output = {line["custom_id"]: line for line in lines_of(api, done["output_file_id"])}
    errors = {line["custom_id"]: line for line in lines_of(api, done["error_file_id"])}
    assert set(output) == {"texts", "one"} and set(errors) == {"bad-model"}
    body = output["texts"]["response"]["body"]
    assert output["texts"]["id"].startswith("batch_req_") and output["texts"]["error"] is None
    vectors = np.array([item["embedding"] for item in body["data"]])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similar, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert similar > unrelated + 0.2
    assert body["usage"]["prompt_tokens"] > 10
    decoded = np.frombuffer(__import__("base64").b64decode(output["one"]["response"]["body"]["data"][0]["embedding"]),
                            dtype="<f4")
    assert decoded.shape == (384,) and abs(np.linalg.norm(decoded) - 1) < 1e-4
    assert errors["bad-model"]["error"]["code"] == "model_not_found"
    assert errors["bad-model"]["response"]["status_code"] == 404


def test_chat_batch_on_smollm2_answers_chat_completions_and_bad_bodies_go_to_the_error_file(api):
    lines = [chat_line("hi", "Say hello."), chat_line("seeded", "Name a color.", temperature=0.7, seed=3),
             chat_line("n2", "Hi", n=2), chat_line("tools", "Hi", tools=[]),
             chat_line("nomodel", "Hi", model="gpt-9")]
    batch = create_batch(api, upload(api, jsonl(lines))["id"], "/v1/chat/completions")
    done = finished(api, batch["id"])
    assert done["status"] == "completed", done
    assert done["request_counts"] == {"total": 5, "completed": 2, "failed": 3}
    output = {line["custom_id"]: line for line in lines_of(api, done["output_file_id"])}
    errors = {line["custom_id"]: line for line in lines_of(api, done["error_file_id"])}
    assert set(output) == {"hi", "seeded"} and set(errors) == {"n2", "tools", "nomodel"}
    completion = output["hi"]["response"]["body"]
    assert completion["object"] == "chat.completion" and completion["model"] == "smollm2-135m-instruct"
    choice = completion["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"]
    assert choice["finish_reason"] in ("stop", "length")
    usage = completion["usage"]
    assert 1 <= usage["completion_tokens"] <= 3 and usage["prompt_tokens"] > 3
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert errors["n2"]["error"]["code"] == "invalid_value" and errors["n2"]["response"]["status_code"] == 400
    assert errors["tools"]["error"]["code"] == "unknown_parameter"
    assert errors["nomodel"]["error"]["code"] == "model_not_found"
    assert done["usage"]["output_tokens"] >= 2


@pytest.mark.parametrize(("content", "code", "line"), [
    (b'{"custom_id": "a", "method": "POST", "url": "/v1/embeddings", "body": {}}\nnot json\n', "invalid_json_line", 2),
    (jsonl([embedding_line("a", "x"), embedding_line("a", "y")]), "duplicate_custom_id", 2),
    (jsonl([{**embedding_line("a", "x"), "url": "/v1/chat/completions"}]), "mismatched_endpoint", 1),
    (jsonl([{**embedding_line("a", "x"), "method": "GET"}]), "invalid_method", 1),
    (b"\n\n", "empty_file", None),
])
def test_a_file_that_fails_validation_gives_a_failed_batch_naming_the_line(api, content, code, line):
    batch = create_batch(api, upload(api, content)["id"], "/v1/embeddings")
    assert batch["status"] == "failed" and batch["failed_at"] and batch["in_progress_at"] is None
    assert batch["errors"]["data"][0]["code"] == code and batch["errors"]["data"][0]["line"] == line
    assert batch["output_file_id"] is None and batch["error_file_id"] is None
    assert api.get(f"/v1/batches/{batch['id']}").json()["status"] == "failed"


def test_too_many_requests_is_a_failed_batch_naming_the_setting(server, api, monkeypatch):
    monkeypatch.setattr(server.ctx.settings.openai, "max_requests_per_batch", 2)
    content = jsonl([embedding_line(str(i), "x") for i in range(3)])
    batch = create_batch(api, upload(api, content)["id"], "/v1/embeddings")
    assert batch["status"] == "failed"
    assert "JOBPORT_OPENAI_MAX_REQUESTS_PER_BATCH" in batch["errors"]["data"][0]["message"]


@pytest.mark.parametrize(("body", "status", "param"), [
    ({"input_file_id": "file-missing", "endpoint": "/v1/embeddings", "completion_window": "24h"}, 404, "input_file_id"),
    ({"endpoint": "/v1/embeddings", "completion_window": "24h"}, 400, "input_file_id"),
    ({"input_file_id": "FILE", "endpoint": "/v1/responses", "completion_window": "24h"}, 400, "endpoint"),
    ({"input_file_id": "FILE", "endpoint": "/v1/embeddings", "completion_window": "48h"}, 400, "completion_window"),
])
def test_create_refusals_are_openai_errors(api, body, status, param):
    file_id = upload(api, jsonl([embedding_line("a", "x")]))["id"]
    body = {k: (file_id if v == "FILE" else v) for k, v in body.items()}
    r = api.post("/v1/batches", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["param"] == param and error["message"] and set(error) == {"message", "type", "param", "code"}
    assert api.get("/v1/batches").json()["data"] == []


def test_cancel_keeps_finished_lines_and_writes_every_custom_id_once(server, api):
    lines = [chat_line(f"c{i}", f"Count to {i}.", max_tokens=16) for i in range(48)]
    batch = create_batch(api, upload(api, jsonl(lines))["id"], "/v1/chat/completions")
    wait_until(lambda: api.get(f"/v1/batches/{batch['id']}").json()["request_counts"]["completed"] > 0,
               timeout=120, what="first chunk")
    r = api.post(f"/v1/batches/{batch['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelling" and r.json()["cancelling_at"]
    done = finished(api, batch["id"])
    assert done["status"] == "cancelled" and done["cancelled_at"]
    output, errors = lines_of(api, done["output_file_id"]), lines_of(api, done["error_file_id"])
    ids = [line["custom_id"] for line in output + errors]
    assert sorted(ids) == sorted(line["custom_id"] for line in lines)
    assert output and all(line["response"]["status_code"] == 200 for line in output)
    assert {line["error"]["code"] for line in errors} == {"batch_cancelled"}
    assert done["request_counts"]["completed"] == len(output)
    again = api.post(f"/v1/batches/{batch['id']}/cancel")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


def test_a_completed_batch_cannot_be_cancelled_and_lists_page_with_after(api):
    ids = []
    for i in range(3):
        ids.append(create_batch(api, upload(api, jsonl([embedding_line("a", f"text {i}")]))["id"],
                                "/v1/embeddings")["id"])
    done = finished(api, ids[0])
    r = api.post(f"/v1/batches/{done['id']}/cancel")
    assert r.status_code == 409 and r.json()["error"]["code"] == "batch_not_cancellable"
    page = api.get("/v1/batches", params={"limit": 2}).json()
    assert [b["id"] for b in page["data"]] == [ids[2], ids[1]] and page["has_more"] is True
    assert page["first_id"] == ids[2] and page["last_id"] == ids[1]
    rest = api.get("/v1/batches", params={"after": ids[1], "limit": 2}).json()
    assert [b["id"] for b in rest["data"]] == [ids[0]] and rest["has_more"] is False
    r = api.get("/v1/batches", params={"after": "batch_nope"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "after"


def test_expired_batch_keeps_finished_lines(api):
    lines = [chat_line(f"e{i}", "Tell me a long story.", max_tokens=24) for i in range(64)]
    batch = create_batch(api, upload(api, jsonl(lines))["id"], "/v1/chat/completions", completion_window="3s")
    done = finished(api, batch["id"])
    assert done["status"] == "expired" and done["expired_at"] and done["expires_at"]
    output, errors = lines_of(api, done["output_file_id"]), lines_of(api, done["error_file_id"])
    assert sorted(line["custom_id"] for line in output + errors) == sorted(line["custom_id"] for line in lines)
    assert any(line["error"]["code"] == "batch_expired" for line in errors)


def test_errors_and_auth_follow_openai_and_super_ai_paths_keep_theirs(server, api):
    r = server.client.get("/v1/batches")
    assert r.status_code == 401 and set(r.json()["error"]) == {"message", "type", "param", "code"}
    r = api.get("/v1/batches/batch_nope")
    assert r.status_code == 404 and r.json()["error"]["param"] == "batch_id"
    r = api.get("/v1/files/nope/unknown")
    assert r.status_code == 404 and "error" in r.json() and "message" in r.json()["error"]
    r = api.get("/v1/jobs/123456789")  # a super.AI path: its own error body
    assert r.status_code == 404 and set(r.json()) == {"message"}
    r = api.post("/v1/batches", json={"input_file_id": "x", "endpoint": "/v1/embeddings", "completion_window": "24h",
                                      "bogus": 1})
    assert r.status_code == 400 and r.json()["error"]["param"] == "bogus"


def test_batch_webhooks_are_signed_openai_events(api):
    from standardwebhooks.webhooks import Webhook

    from receivers import Receiver

    receiver = Receiver()
    try:
        secret = api.get("/v0.5/callbacks/secret").json()["secret"]
        completed = create_batch(api, upload(api, jsonl([embedding_line("a", "x")]))["id"], "/v1/embeddings",
                                 callback_url=receiver.url)
        cancelled = create_batch(api, upload(api, jsonl([chat_line(f"c{i}", "Hi", max_tokens=16)
                                                         for i in range(64)]))["id"],
                                 "/v1/chat/completions", callback_url=receiver.url)
        assert api.post(f"/v1/batches/{cancelled['id']}/cancel").status_code == 200
        for batch, event in ((completed, "batch.completed"), (cancelled, "batch.cancelled")):
            got = wait_until(lambda b=batch: receiver.for_job(b["id"]), timeout=60, what=f"{event} webhook")
            payload = Webhook(secret).verify(got[0]["body"], got[0]["headers"])  # raises unless signed right
            assert payload["type"] == event and payload["object"] == "event"
            assert payload["id"].startswith("evt_") and isinstance(payload["created_at"], int)
            assert payload["data"] == {"id": batch["id"]}
        r = api.post("/v1/batches", json={"input_file_id": completed["input_file_id"], "endpoint": "/v1/embeddings",
                                          "completion_window": "24h", "callback_url": "http://169.254.169.254/x"})
        assert r.status_code == 400 and r.json()["error"]["param"] == "callback_url"
    finally:
        receiver.close()


def test_usage_is_billed_per_request_and_the_batch_is_a_native_job(api):
    batch = create_batch(api, upload(api, jsonl([embedding_line(str(i), "x") for i in range(3)]))["id"],
                         "/v1/embeddings")
    finished(api, batch["id"])
    jobs = api.get("/v0.5/batch/jobs", params={"limit": 100}).json()["jobs"]
    job = next(j for j in jobs if j["name"] == f"OpenAI batch {batch['id']}")
    assert job["status"] == "COMPLETED" and job["pipeline_key"] == "openai-batch"
    usage = api.get("/v0.5/usage").json()
    entry = next(e for e in usage["entries"] if e["job_id"] == job["id"])
    assert (entry["surface"], entry["records"], entry["billed_units"]) == ("openai", 3, 3)


def test_openai_paths_answer_in_openai_format_and_other_v1_paths_in_super_ais():
    from jobport.api.surfaces import surface_for_path

    assert surface_for_path("/v1/files").name == "openai"
    assert surface_for_path("/v1/batches/batch_1/cancel").name == "openai"
    assert surface_for_path("/v1/apps/a/jobs").name == "superai"
    assert surface_for_path("/v1/filesystem").name == "superai"
    assert surface_for_path("/api/v1/jobs").name == "gravity"


def test_a_batch_whose_job_was_deleted_is_failed_not_stuck(api):
    batch = create_batch(api, upload(api, jsonl([chat_line(f"d{i}", "Hi", max_tokens=16) for i in range(32)]))["id"],
                         "/v1/chat/completions")
    job = next(j for j in api.get("/v0.5/batch/jobs", params={"limit": 100}).json()["jobs"]
               if j["name"] == f"OpenAI batch {batch['id']}")
    assert api.post(f"/v0.5/batch/jobs/{job['id']}/cancel").status_code == 200
    assert api.delete(f"/v0.5/batch/jobs/{job['id']}").status_code in (200, 204)
    gone = api.get(f"/v1/batches/{batch['id']}").json()
    assert gone["status"] == "failed" and gone["errors"]["data"][0]["code"] == "job_deleted"
