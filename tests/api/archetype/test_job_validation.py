"""Bad input on job creation: each case is a 4xx naming the field, and nothing is stored."""

import pytest

from helpers import machine_csv, machine_job_body, upload


@pytest.fixture
def ready(api):
    upload(api, "idle.csv", machine_csv("idle", 120, seed=1))
    upload(api, "run.csv", machine_csv("run", 120, seed=2))
    upload(api, "x.csv", machine_csv("run", 60, seed=3))
    return api, machine_job_body(["x.csv"], {"idle.csv": "idle", "run.csv": "run"})


def _error(r, status=400):
    assert r.status_code == status, r.text
    errors = r.json()["errors"]
    assert errors and all(e["error_uid"].startswith("err-") and e["message"] for e in errors)
    return errors


def _assert_nothing_stored(api):
    assert api.get("/v0.5/batch/jobs").json()["total"] == 0


def test_unknown_pipeline(ready):
    api, body = ready
    errors = _error(api.post("/v0.5/batch/jobs", json={**body, "pipeline_key": "nope"}))
    assert errors[0]["field"] == "pipeline_key"
    assert "machine-state-classification" in errors[0]["suggestion"]
    _assert_nothing_stored(api)


def test_unknown_version(ready):
    api, body = ready
    errors = _error(api.post("/v0.5/batch/jobs", json={**body, "pipeline_version": "9.9.9"}))
    assert errors[0]["field"] == "pipeline_version" and "1.1.1" in errors[0]["suggestion"]


def test_missing_required_port(ready):
    api, body = ready
    del body["inputs"]["worker.inference"]
    errors = _error(api.post("/v0.5/batch/jobs", json=body))
    assert errors[0]["field"] == "inputs.worker.inference"
    _assert_nothing_stored(api)


def test_unknown_port(ready):
    api, body = ready
    body["inputs"]["worker.bogus"] = [{"file_id": "x.csv"}]
    errors = _error(api.post("/v0.5/batch/jobs", json=body))
    assert errors[0]["field"] == "inputs.worker.bogus"
    assert "worker.inference" in errors[0]["suggestion"]


def test_file_not_uploaded(ready):
    api, body = ready
    body["inputs"]["worker.inference"].append({"file_id": "ghost.csv"})
    errors = _error(api.post("/v0.5/batch/jobs", json=body))
    assert errors[0]["field"] == "inputs.worker.inference[1].file_id"
    assert errors[0]["code"] == "file_not_found"
    assert "ghost.csv" in errors[0]["message"]
    _assert_nothing_stored(api)


def test_nshot_without_class(ready):
    api, body = ready
    body["inputs"]["worker.n_shots"][1]["metadata"] = {}
    errors = _error(api.post("/v0.5/batch/jobs", json=body))
    assert errors[0]["field"] == "inputs.worker.n_shots[1].metadata.class"


def test_fewer_than_two_classes(ready):
    api, body = ready
    for item in body["inputs"]["worker.n_shots"]:
        item["metadata"] = {"class": "same"}
    errors = _error(api.post("/v0.5/batch/jobs", json=body))
    assert errors[0]["field"] == "inputs.worker.n_shots"
    assert "class" in errors[0]["message"]


@pytest.mark.parametrize("config, field", [
    ({"reader_config": {"window_size": 1}}, "parameters.worker.config.reader_config.window_size"),
    ({"reader_config": {"window_size": "big"}}, "parameters.worker.config.reader_config.window_size"),
    ({"classifier_config": {"n_neighbors": 2}}, "parameters.worker.config.classifier_config.n_neighbors"),
    ({"classifier_config": {"metric": "chebyshev"}}, "parameters.worker.config.classifier_config.metric"),
    ({"surprise": 1}, "parameters.worker.config.surprise"),
])
def test_config_not_matching_schema(ready, config, field):
    api, body = ready
    cfg = body["parameters"]["worker"]["config"]
    for key, value in config.items():
        if isinstance(value, dict):
            cfg.setdefault(key, {}).update(value)
        else:
            cfg[key] = value
    errors = _error(api.post("/v0.5/batch/jobs", json=body))
    assert field in [e["field"] for e in errors], errors
    _assert_nothing_stored(api)


def test_nshot_column_missing_named_at_create(ready):
    api, body = ready
    body["parameters"]["worker"]["config"]["reader_config"]["data_columns"] = ["a", "zzz"]
    errors = _error(api.post("/v0.5/batch/jobs", json=body))
    assert any("zzz" in e["message"] for e in errors)


def test_too_few_nshot_windows_for_n_neighbors(ready):
    api, body = ready
    body["parameters"]["worker"]["config"]["classifier_config"] = {"n_neighbors": 500}
    errors = _error(api.post("/v0.5/batch/jobs", json=body))
    assert errors[0]["field"] == "parameters.worker.config.classifier_config.n_neighbors"


def test_body_not_json(ready):
    api, _ = ready
    r = api.post("/v0.5/batch/jobs", content=b"{not json", headers={"Content-Type": "application/json"})
    errors = _error(r)
    assert errors[0]["code"] == "invalid_json"


def test_missing_required_fields(ready):
    api, _ = ready
    errors = _error(api.post("/v0.5/batch/jobs", json={"pipeline_key": "machine-state-classification"}))
    fields = {e["field"] for e in errors}
    assert {"name", "pipeline_type"} <= fields


def test_bad_pipeline_type(ready):
    api, body = ready
    errors = _error(api.post("/v0.5/batch/jobs", json={**body, "pipeline_type": "streaming"}))
    assert errors[0]["field"] == "pipeline_type"


def test_parallelism_over_limit(server, ready):
    api, body = ready
    body["parameters"]["worker"]["parallelism"] = server.ctx.settings.limits.max_parallelism + 1
    errors = _error(api.post("/v0.5/batch/jobs", json=body))
    assert errors[0]["field"] == "parameters.worker.parallelism"


def test_unknown_component(ready):
    api, body = ready
    body["parameters"]["reader"] = {"parallelism": 1}
    errors = _error(api.post("/v0.5/batch/jobs", json=body))
    assert errors[0]["field"] == "parameters.reader"


def test_limit_over_maximum_is_400(ready):
    api, _ = ready
    errors = _error(api.get("/v0.5/batch/jobs", params={"limit": 100000}))
    assert errors[0]["field"] == "limit"


def test_json_body_over_limit_is_413(server, ready):
    api, body = ready
    body["metadata"] = {"blob": "x" * (server.ctx.settings.limits.max_json_body_bytes + 1)}
    r = api.post("/v0.5/batch/jobs", json=body)
    assert r.status_code == 413
    _assert_nothing_stored(api)


def test_unknown_job_is_404(ready):
    api, _ = ready
    r = api.get("/v0.5/batch/jobs/job_01h455vb4pex5vsknk084sn02q")
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "not_found"


def test_omega_alias_warns(ready):
    api, body = ready
    body["parameters"]["worker"]["config"]["model_type"] = "omega_1_4_base"
    job = api.post("/v0.5/batch/jobs", json=body).json()
    warns = api.get(f"/v0.5/batch/jobs/{job['id']}/events", params={"level": "WARN"}).json()["events"]
    assert any("alias" in e["message"] for e in warns), warns


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "ftp://example.com/hook",
                                 "http://metadata.google.internal/"])
def test_callback_url_refused_by_the_ssrf_guard(ready, url):
    api, body = ready
    r = api.post("/v0.5/batch/jobs", json={**body, "callback_url": url})
    errors = _error(r)
    assert errors[0]["field"] == "callback_url"
    _assert_nothing_stored(api)
