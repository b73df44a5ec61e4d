"""`/readyz`: what a process still waits for; `/healthz` stays a bare liveness answer."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from helpers import make_settings
from jobport.server import create_app


def test_readyz_lists_the_checks_of_the_embedded_server(server):
    r = server.client.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready" and body["waiting_for"] == []
    checks = {c["name"]: c for c in body["checks"]}
    assert checks["database"]["ok"] and checks["migrations"]["ok"] and checks["blob_store"]["ok"]
    assert checks["scheduler"]["ok"] and checks["scheduler"]["required"]


def test_an_api_only_process_is_ready_without_a_scheduler(tmp_path):
    settings = make_settings(home=tmp_path, executor="inline", blob_store="memory", example_app=False)
    with TestClient(create_app(settings, run_scheduler=False)) as client:
        r = client.get("/readyz")
    assert r.status_code == 200
    scheduler = next(c for c in r.json()["checks"] if c["name"] == "scheduler")
    assert scheduler["required"] is False and not scheduler["ok"]
    assert "no active scheduler" in scheduler["detail"]


def test_healthz_names_the_role(server):
    body = server.client.get("/healthz").json()
    assert body["role"] == "all" and body["scheduler"] in {"running", "standby", "off", "remote"}


def test_the_embedded_server_is_ready_once_its_scheduler_runs(tmp_path):
    settings = make_settings(home=tmp_path, executor="inline", blob_store="memory", example_app=False)
    with TestClient(create_app(settings)) as client:
        body = client.get("/readyz").json()
    checks = {c["name"]: c for c in body["checks"]}
    assert body["status"] == "ready" and checks["scheduler"] == {
        "name": "scheduler", "ok": True, "required": True, "detail": "active"}


@pytest.mark.parametrize("role", ["api", "scheduler"])
def test_replica_roles_refuse_sqlite_naming_the_setting(tmp_path, role):
    with pytest.raises(ValueError, match="JOBPORT_DATABASE_URL=postgresql"):
        make_settings(home=tmp_path, role=role)


def test_a_scheduler_process_serves_only_the_probes(own_pg_database, tmp_path):
    settings = make_settings(home=tmp_path, role="scheduler", database_url=own_pg_database, executor="inline",
                             blob_store="memory", example_app=False)
    with TestClient(create_app(settings)) as client:
        health = client.get("/healthz").json()
        assert health["role"] == "scheduler" and health["surfaces"] == {}
        assert client.get("/v0.5/batch/jobs").status_code == 404
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text


def test_a_database_outage_is_a_503_in_each_surfaces_format(tmp_path):
    from sqlalchemy import create_engine

    settings = make_settings(home=tmp_path, executor="inline", blob_store="memory", example_app=False,
                             admin_key="outage-admin-key")
    with TestClient(create_app(settings, run_scheduler=False)) as client:
        ctx = client.app.state.ctx
        ctx.sessions.configure(bind=create_engine(f"sqlite:///{tmp_path}/missing/dir/jobport.db"))
        archetype = client.get("/v0.5/batch/jobs", headers={"Authorization": "Bearer outage-admin-key"})
        superai = client.get("/v1/apps/x/jobs", headers={"API-KEY": "outage-admin-key"})
    assert archetype.status_code == 503 and archetype.json()["errors"][0]["code"] == "database_unavailable"
    assert superai.status_code == 503 and "database is unavailable" in superai.text
    assert archetype.headers["retry-after"] == "5"
