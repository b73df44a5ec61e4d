"""Native app routes (`/v0.5/apps`) with the Iris example model: create (201), versions (201,
immutable), activate/deactivate, settings, listing, conflicts and 404s; the usage budget (setting it
wakes the scheduler) and the usage report; the model catalogue and its 503 when the admin's file is
broken."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def modeller(api, example_model):
    r = api.post("/v0.5/files", files={"file": ("iris.onnx", Path(example_model.path).read_bytes(),
                                                 "application/octet-stream")})
    assert r.status_code == 200, r.text
    return api


def _app_body(model, name: str = "iris", **extra) -> dict:
    return {"name": name, "pipeline_key": "tabular-model", "config": model.config,
            "references": {"worker.model": [{"file_id": "iris.onnx"}]}, **extra}


def test_create_app_answers_201_with_the_app_and_its_first_version(modeller, example_model):
    r = modeller.post("/v0.5/apps", json=_app_body(example_model, description="Iris species"))
    assert r.status_code == 201, r.text
    app = r.json()
    assert list(app) == ["id", "name", "description", "pipeline_key", "latest_version", "batch_callback_url",
                         "completion_window_seconds", "versions", "created_at", "updated_at"]
    assert (app["name"], app["description"], app["latest_version"]) == ("iris", "Iris species", "1.0.0")
    (version,) = app["versions"]
    assert list(version) == ["version", "pipeline_version", "active", "config", "references", "pricing",
                             "created_at", "deactivated_at"]
    assert version["references"] == [{"port_name": "worker.model", "file_id": "iris.onnx",
                                       "sha256": example_model.sha256,
                                       "num_bytes": Path(example_model.path).stat().st_size}]
    assert version["active"] is True and version["deactivated_at"] is None
    assert modeller.get(f"/v0.5/apps/{app['id']}").json() == app
    assert modeller.get("/v0.5/apps/iris").json() == app

    again = modeller.post("/v0.5/apps", json=_app_body(example_model))
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "app_exists"


def test_versions_settings_listing_and_missing_apps(modeller, example_model):
    assert modeller.post("/v0.5/apps", json=_app_body(example_model)).status_code == 201
    body = {"version": "2.0.0", "config": example_model.config,
            "references": {"worker.model": [{"file_id": "iris.onnx"}]}}
    r = modeller.post("/v0.5/apps/iris/versions", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == "2.0.0"
    assert modeller.post("/v0.5/apps/iris/versions", json=body).status_code == 409
    assert modeller.get("/v0.5/apps/iris").json()["latest_version"] == "2.0.0"

    off = modeller.post("/v0.5/apps/iris/versions/2.0.0/deactivate").json()
    assert off["active"] is False and off["deactivated_at"]
    assert modeller.get("/v0.5/apps/iris").json()["latest_version"] == "1.0.0"
    on = modeller.post("/v0.5/apps/iris/versions/2.0.0/activate").json()
    assert on["active"] is True and on["deactivated_at"] is None
    assert modeller.post("/v0.5/apps/iris/versions/9.9.9/activate").status_code == 404

    patched = modeller.request("PATCH", "/v0.5/apps/iris", json={"completion_window_seconds": 600})
    assert patched.status_code == 200 and patched.json()["completion_window_seconds"] == 600

    listing = modeller.get("/v0.5/apps", params={"limit": 5}).json()
    assert (listing["total"], listing["offset"], listing["limit"]) == (1, 0, 5)
    assert [a["name"] for a in listing["apps"]] == ["iris"]
    for method, path in [("GET", "/v0.5/apps/nope"), ("PATCH", "/v0.5/apps/nope"),
                         ("POST", "/v0.5/apps/nope/versions/1.0.0/activate")]:
        r = modeller.request(method, path, json={} if method == "PATCH" else None)
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "not_found", path


def test_setting_the_budget_wakes_the_scheduler_and_shows_in_the_report(server, api, monkeypatch):
    wakes = []
    monkeypatch.setattr(server.ctx, "wake_scheduler", lambda: wakes.append(1))
    r = api.request("PUT", "/v0.5/usage/budget", json={"budget_units": 250})
    assert r.status_code == 200 and r.json() == {"org_id": api.org_id, "budget_units": 250}
    assert wakes == [1]
    report = api.get("/v0.5/usage").json()
    assert report["budget_units"] == 250
    assert report["totals"] == {"jobs": 0, "records": 0, "record_groups": 0, "billed_units": 0, "billed_usd": 0.0}
    assert (report["by_app"], report["entries"], report["total"]) == ([], [], 0)

    assert api.request("PUT", "/v0.5/usage/budget", json={"budget_units": None}).json()["budget_units"] is None
    assert api.request("PUT", "/v0.5/usage/budget", json={"budget_units": -1}).status_code == 400
    assert wakes == [1, 1]


def test_model_catalogue_lists_the_builtin_model_and_is_503_when_the_file_is_broken(server, api, tmp_path,
                                                                                   monkeypatch):
    listing = api.get("/v0.5/models").json()
    assert listing["total"] == len(listing["models"]) >= 1
    builtin = next(m for m in listing["models"] if m["name"] == "smollm2-135m-instruct")
    assert builtin["kind"] == "gguf" and builtin["context_tokens"] == 8192
    assert "path" not in builtin and "package" not in builtin

    broken = tmp_path / "models.toml"
    broken.write_text("[models.x\n")
    monkeypatch.setattr(server.ctx, "settings", server.ctx.settings.model_copy(update={"models_file": broken}))
    r = api.get("/v0.5/models")
    assert r.status_code == 503
    assert r.json()["errors"][0]["code"] == "model_catalogue_invalid"
