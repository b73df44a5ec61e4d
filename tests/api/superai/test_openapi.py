"""The super.AI surface in `/openapi.json`: every `/v1` operation answers a named `SuperAI...` model
for its 2xx (not a free-form object), sends no 422, documents its errors in `{"message"}` form
(404 on every route addressing an app, a job, a batch or an operation), and names the limits that
bound it by their setting."""

from __future__ import annotations

import pytest

from jobport.api.surfaces import SUPERAI, surface_for_path

REF = "#/components/schemas/"


@pytest.fixture(scope="module")
def schema(server) -> dict:
    r = server.client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def _operations(schema: dict):
    for path, operations in schema["paths"].items():
        if surface_for_path(path) is SUPERAI:  # /v1/files and /v1/batches are the OpenAI surface's
            for method, operation in operations.items():
                yield f"{method.upper()} {path}", path, operation


def _resolved(schema: dict, ref_holder: dict) -> dict:
    ref = ref_holder.get("$ref", "")
    assert ref.startswith(REF), ref_holder
    return schema["components"]["schemas"][ref.removeprefix(REF)]


def test_every_v1_operation_answers_a_named_model(schema):
    seen = 0
    for name, _, operation in _operations(schema):
        successes = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
        assert successes, name
        for status, response in successes.items():
            body = response.get("content", {}).get("application/json", {}).get("schema")
            assert body, f"{name} {status}: no content schema"
            assert body.get("$ref", "").removeprefix(REF).startswith("SuperAI"), f"{name} {status}: {body}"
            assert _resolved(schema, body).get("properties"), f"{name} {status}: a model without fields"
        assert "422" not in operation["responses"], name
        seen += 1
    assert seen == 15


def test_errors_are_documented_in_the_surface_error_body(schema):
    for name, path, operation in _operations(schema):
        responses = operation["responses"]
        assert {"400", "401"} <= set(responses), name
        if "{" in path:
            assert "404" in responses, name
        for status, response in responses.items():
            if status[0] in "45":
                error = response["content"]["application/json"]["schema"]
                assert error == {"$ref": REF + "SuperAIError"}, f"{name} {status}"
    by_name = {name: op for name, _, op in _operations(schema)}
    assert "413" in by_name["POST /v1/apps/{app_id}/jobs"]["responses"]
    assert "409" in by_name["POST /v1/jobs/{job_id}/cancel"]["responses"]
    assert "409" in by_name["POST /v1/jobs/{job_id}/restart"]["responses"]


def test_request_bodies_and_limits_are_documented(schema):
    by_name = {name: op for name, _, op in _operations(schema)}
    create = by_name["POST /v1/apps/{app_id}/jobs"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert {"inputs", "inputsFileUrl", "callbackUrl", "pending", "addToQueue", "jobType"} <= set(body["properties"])
    assert "superai_inputs_max_bytes" in create["description"]
    assert "superai_max_jobs_per_request" in create["description"]
    assert "superai_page_max" in by_name["GET /v1/apps/{app_id}/jobs"]["description"]
    download = by_name["POST /v1/operations/{app_id}/{operation_id}/download-url"]
    assert "signed_url_ttl_seconds" in download["description"]
    queue = by_name["POST /v1/apps/{app_id}/jobs/queue"]["requestBody"]
    assert queue["required"] is False and "jobIds" in queue["content"]["application/json"]["schema"]["properties"]


def test_job_model_fields_are_in_wire_order(schema):
    job = schema["components"]["schemas"]["SuperAIJob"]
    assert list(job["properties"]) == ["id", "uuid", "created", "completed", "callbackUrl", "appId", "status",
                                       "input", "metadata", "tags", "correct", "jobType", "batchId"]
