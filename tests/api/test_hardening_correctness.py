"""Defects found by outside testing (issue 12: D6–D9), each reproduced through the API: super.AI
inputs that do not fit the app are a 400 at creation (nothing billed), a job that cannot load ends
with no input left pending and with the real reason in its error, an app whose model does not load
is refused at creation without showing server paths, and the SQLite file is private to its owner."""

from __future__ import annotations

import csv
import io
import json
import stat
import uuid
from pathlib import Path

import pytest

from helpers import host_iris_app, machine_csv, machine_job_body, upload, wait_for
from jobport.services import auth

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}



def _org(server) -> tuple[str, dict[str, str]]:
    _, key = auth.create_key(server.ctx, f"hard-{uuid.uuid4().hex[:8]}")
    return key, {"Authorization": f"Bearer {key}"}


def _iris_app(server, model) -> tuple[str, str, dict[str, str]]:
    key, native = _org(server)
    return host_iris_app(server.client, key, model), key, native


@pytest.mark.parametrize(("inputs", "where", "words"), [
    ([{}], "inputs[0]", "sepal_length"),
    ([SETOSA, {**SETOSA, "petal_width": "wide"}], "inputs[1]", "not a number"),
    ([SETOSA, SETOSA, {"petal": 1}], "inputs[2]", "missing"),
])
def test_superai_inputs_that_do_not_fit_the_app_are_a_400_and_nothing_is_billed(server, example_model, inputs,
                                                                                  where, words):
    app_id, key, native = _iris_app(server, example_model)
    sai = {"API-KEY": key}
    usage_before = server.client.get("/v0.5/usage", headers=native).json()
    r = server.client.post(f"/v1/apps/{app_id}/jobs", headers=sai, json={"inputs": inputs})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["field"] == where and body["message"].startswith(where) and words in body["message"]
    assert ".." not in body["message"]
    assert server.client.get(f"/v1/apps/{app_id}/jobs", headers=sai).json()["total"] == 0
    assert server.client.get("/v0.5/usage", headers=native).json() == usage_before
    good = server.client.post(f"/v1/apps/{app_id}/jobs", headers=sai, json={"inputs": [SETOSA]})
    assert good.status_code == 200, good.text


def test_an_app_whose_model_does_not_load_is_refused_without_server_paths(server, example_model):
    _, native = _org(server)
    junk = b"not an onnx graph " * 11  # ~200 bytes named like a model
    r = server.client.post("/v0.5/files", headers=native,
                           files={"file": ("model.onnx", junk, "application/octet-stream")})
    assert r.status_code == 200, r.text
    r = server.client.post("/v0.5/apps", headers=native, json={
        "name": "broken", "pipeline_key": "tabular-model", "config": example_model.config,
        "references": {"worker.model": [{"file_id": "model.onnx"}]}})
    assert r.status_code == 400, r.text
    error = r.json()["errors"][0]
    assert error["field"] == "references.worker.model[0].file_id"
    assert "model.onnx" in error["message"] and "ONNX" in error["message"]
    assert str(server.ctx.settings.home) not in r.text and "/tmp" not in r.text
    assert server.client.get("/v0.5/apps", headers=native).json()["apps"] == []


def test_an_app_whose_outputs_the_model_lacks_is_refused(server, example_model):
    _, native = _org(server)
    model = Path(example_model.path).read_bytes()
    r = server.client.post("/v0.5/files", headers=native,
                           files={"file": ("iris.onnx", model, "application/octet-stream")})
    assert r.status_code == 200
    outputs = [*example_model.config["outputs"], {"name": "dosage", "type": "number"}]
    config = {**example_model.config, "outputs": outputs}
    r = server.client.post("/v0.5/apps", headers=native, json={
        "name": "too-many-outputs", "pipeline_key": "tabular-model", "config": config,
        "references": {"worker.model": [{"file_id": "iris.onnx"}]}})
    assert r.status_code == 400, r.text
    assert "output" in r.json()["errors"][0]["message"]


def test_a_job_whose_n_shot_file_is_ragged_leaves_no_input_pending(api):
    upload(api, "idle.csv", machine_csv("idle", 120, seed=1))
    ragged = machine_csv("run", 120, seed=2).replace(b"\n", b",7,8\n", 3)  # three rows with extra fields
    upload(api, "ragged.csv", ragged)
    upload(api, "line.csv", machine_csv("idle", 80, seed=3))
    r = api.post("/v0.5/batch/jobs", json=machine_job_body(["line.csv"], {"idle.csv": "idle", "ragged.csv": "run"}))
    assert r.status_code == 201, r.text
    job = wait_for(api, r.json()["id"])
    assert job["status"] == "FAILED", job
    inputs = api.get(f"/v0.5/batch/jobs/{job['id']}/inputs").json()
    inference = [i for i in inputs["inputs"] if i["port_name"] == "worker.inference"]
    assert inference and all(i["status"] == "failed" for i in inference), inference
    counts = api.get(f"/v0.5/batch/jobs/{job['id']}/inputs/progress/counts").json()
    assert counts.get("pending", 0) == 0 and counts.get("processing", 0) == 0, counts


def test_the_sqlite_file_is_readable_by_its_owner_only(server):
    url = server.ctx.settings.resolved_database_url
    if not url.startswith("sqlite"):
        pytest.skip("the PostgreSQL backend keeps no local file")
    path = Path(url.split("sqlite:///", 1)[-1])
    assert path.exists()
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            assert stat.S_IMODE(file.stat().st_mode) & 0o077 == 0, (file, oct(file.stat().st_mode))


def test_a_job_whose_every_input_failed_says_why_in_its_own_error(api):
    upload(api, "idle.csv", machine_csv("idle", 120, seed=1))
    upload(api, "run.csv", machine_csv("run", 120, seed=2))
    upload(api, "short.csv", machine_csv("idle", 5, seed=3))  # fewer rows than one window
    r = api.post("/v0.5/batch/jobs", json=machine_job_body(["short.csv"], {"idle.csv": "idle", "run.csv": "run"}))
    assert r.status_code == 201, r.text
    job = wait_for(api, r.json()["id"])
    assert job["status"] == "FAILED", job
    failed = api.get(f"/v0.5/batch/jobs/{job['id']}/inputs").json()["inputs"]
    reason = next(i["error_message"] for i in failed if i["port_name"] == "worker.inference")
    assert reason and reason in str(job), (reason, job)
    assert "see the job events" not in str(job)


def test_the_error_report_lists_each_failed_input_as_jsonl_or_csv(api):
    upload(api, "idle.csv", machine_csv("idle", 120, seed=1))
    upload(api, "run.csv", machine_csv("run", 120, seed=2))
    upload(api, "good.csv", machine_csv("idle", 80, seed=4))
    upload(api, "tiny.csv", machine_csv("idle", 5, seed=3))  # fewer rows than one window: this input fails
    body = machine_job_body(["good.csv", "tiny.csv"], {"idle.csv": "idle", "run.csv": "run"})
    r = api.post("/v0.5/batch/jobs", json=body)
    assert r.status_code == 201, r.text
    job = wait_for(api, r.json()["id"])
    assert job["status"] == "COMPLETED", job  # one input of two failed

    lines = api.get(f"/v0.5/batch/jobs/{job['id']}/errors")
    assert lines.status_code == 200 and lines.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in lines.text.splitlines()]
    assert [(row["file_id"], row["caller_id"], row["port_name"]) for row in rows] == [
        ("tiny.csv", "tiny.csv", "worker.inference")]
    assert rows[0]["code"] != "" and rows[0]["message"] and rows[0]["job_id"] == job["id"]

    as_csv = api.get(f"/v0.5/batch/jobs/{job['id']}/errors", headers={"Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [row["file_id"] for row in table] == ["tiny.csv"] and table[0]["message"] == rows[0]["message"]

    missing = api.get("/v0.5/batch/jobs/job_00000000000000000000000000/errors")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"]
