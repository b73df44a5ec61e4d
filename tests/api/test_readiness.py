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


def test_readyz_is_503_naming_the_database_when_it_cannot_be_reached(tmp_path):
    from sqlalchemy import create_engine

    settings = make_settings(home=tmp_path, executor="inline", blob_store="memory", example_app=False)
    with TestClient(create_app(settings, run_scheduler=False)) as client:
        ctx = client.app.state.ctx
        reachable, ctx.db = ctx.db, create_engine(f"sqlite:///{tmp_path}/missing/dir/jobport.db")
        try:
            down = client.get("/readyz")
            alive = client.get("/healthz")
        finally:
            ctx.db = reachable
        back = client.get("/readyz")
    assert down.status_code == 503, down.text
    body = down.json()
    checks = {c["name"]: c for c in body["checks"]}
    assert body["status"] == "waiting" and not checks["database"]["ok"]
    assert "unreachable" in checks["database"]["detail"]
    assert [w for w in body["waiting_for"] if w.startswith("database: unreachable")]
    assert alive.status_code == 200 and alive.json()["status"] == "ok"  # liveness asks no dependency
    assert back.status_code == 200


def test_readyz_is_503_while_the_process_drains(tmp_path):
    settings = make_settings(home=tmp_path, executor="inline", blob_store="memory", example_app=False)
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        client.app.state.ctx.draining.set()  # what SIGTERM does (see the next test)
        r = client.get("/readyz")
        alive = client.get("/healthz")
    assert r.status_code == 503
    checks = {c["name"]: c for c in r.json()["checks"]}
    assert checks["draining"] == {"name": "draining", "ok": False, "required": True,
                                  "detail": "shutting down (SIGTERM): send new requests to another replica"}
    assert [w for w in r.json()["waiting_for"] if w.startswith("draining:")]
    assert checks["database"]["ok"] and alive.status_code == 200


def test_sigterm_turns_readyz_503_for_the_drain_time_then_the_server_stops(tmp_path):
    import signal

    import httpx

    from helpers import wait_until
    from jobport.testing.embedded import EmbeddedServer

    server = EmbeddedServer(home=tmp_path, env={"JOBPORT_HTTP_DRAIN_SECONDS": "120", "JOBPORT_EXECUTOR": "inline",
                                                "JOBPORT_BLOB_STORE": "memory", "JOBPORT_EXAMPLE_APP": "false"})
    with server:
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        server.process.send_signal(signal.SIGTERM)
        draining = wait_until(lambda: (r := httpx.get(f"{server.url}/readyz")).status_code == 503 and r,
                              what="readiness to turn 503 after SIGTERM")
        serving = httpx.get(f"{server.url}/healthz")  # still serving while it drains
        assert server.process.poll() is None
        server.process.send_signal(signal.SIGTERM)  # a second SIGTERM ends the drain at once
        assert server.process.wait(timeout=60) == 0
    checks = {c["name"]: c for c in draining.json()["checks"]}
    assert checks["draining"]["ok"] is False and serving.status_code == 200
