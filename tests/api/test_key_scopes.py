"""Key scopes (`admin`, `org`, `app`) on every surface, on SQLite and PostgreSQL: an auth matrix
generated from the app's route table (no key, a bad key, another org's key, an app key of another
app, in each of the three header styles), what an app key may and may not do, the admin API for
orgs and keys (created keys shown once, revoked keys refused at once), and migration 0008."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from helpers import wait_until
from jobport.api import deps
from jobport.services import auth
from receivers import Receiver

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
IRIS_CSV = b"sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"
ADMIN_KEY = "test-admin-key"  # the server fixture's JOBPORT_ADMIN_KEY
SURFACE_PREFIXES = ("/v0.5", "/v1", "/api/v1/jobs")
HEADER_STYLES = {
    "bearer": lambda key: {"Authorization": f"Bearer {key}"},
    "api-key": lambda key: {"API-KEY": key},
    "x-api-key": lambda key: {"x-api-key": key},
}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class AppWorld:
    """One app of org A with an app key, a super.AI job (with a delivered callback) and a Gravity job."""

    app_id: str
    key: str
    model_file: str
    sai_uuid: str
    sai_id: str
    batch_id: str
    native_job_id: str
    gravity_uuid: str = ""
    operation_id: int = 0
    delivery_id: str = ""


@dataclass
class World:
    client: object
    org_key: str
    other_org_key: str
    a1: AppWorld
    a2: AppWorld
    a1_key_id: str

    def call(self, method: str, path: str, key: str | None, style: str = "bearer", **kw):
        headers = HEADER_STYLES[style](key) if key is not None else {}
        return self.client.request(method, path, headers={**headers, **kw.pop("headers", {})}, **kw)



@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


def _app(server, org_name: str, org_key: str, model, name: str, receiver: Receiver) -> AppWorld:
    client = server.client
    model_file = f"{name}.onnx"
    r = client.post("/v0.5/files", headers=bearer(org_key),
                    files={"file": (model_file, Path(model.path).read_bytes(), "application/octet-stream")})
    assert r.status_code == 200, r.text
    r = client.post("/v0.5/apps", headers=bearer(org_key), json={
        "name": name, "pipeline_key": "tabular-model", "config": model.config,
        "references": {"worker.model": [{"file_id": model_file}]}})
    assert r.status_code == 201, r.text
    app_id = r.json()["id"]
    _, key = auth.create_key(server.ctx, org_name, app=app_id)
    r = client.post(f"/v1/apps/{app_id}/jobs", headers={"API-KEY": key},
                    json={"inputs": [SETOSA], "callbackUrl": receiver.url})
    assert r.status_code == 200, r.text
    created = r.json()
    job = wait_until(lambda: (j := client.get(f"/v1/jobs/{created['uuid']}", headers={"API-KEY": key}).json())
                     ["status"] == "COMPLETED" and j, what="the super.AI job")
    listed = client.get("/v0.5/batch/jobs", headers=bearer(key)).json()["jobs"]
    return AppWorld(app_id, key, model_file, created["uuid"], job["id"], created["batchId"], listed[0]["id"])


@pytest.fixture(scope="module")
def world(server, example_model, receiver) -> World:
    client = server.client
    org_name = f"scopes-{uuid.uuid4().hex[:8]}"
    _, org_key = auth.create_key(server.ctx, org_name)
    _, other_org_key = auth.create_key(server.ctx, f"other-{uuid.uuid4().hex[:8]}")
    a1 = _app(server, org_name, org_key, example_model, "iris-a1", receiver)
    a2 = _app(server, org_name, org_key, example_model, "iris-a2", receiver)
    r = client.post("/api/v1/jobs", headers={"x-api-key": a1.key}, data={"data": '{"mimeType": "text/csv"}'},
                    files={"file": ("rows.csv", IRIS_CSV, "text/csv")})
    assert r.status_code == 200 and r.json()["isError"] is False, r.text
    a1.gravity_uuid = r.json()["data"]["id"]
    r = client.post(f"/v1/apps/{a1.app_id}/job_responses", headers={"API-KEY": a1.key})
    assert r.status_code == 200, r.text
    a1.operation_id = r.json()["operationId"]
    delivered = wait_until(lambda: client.get("/v0.5/callbacks", headers=bearer(org_key),
                                              params={"job_id": a1.native_job_id, "status": "delivered"}
                                              ).json()["callbacks"], what="A1's callback")
    a1.delivery_id = delivered[0]["id"]
    keys = client.get("/v0.5/admin/keys", headers=bearer(org_key)).json()["keys"]
    a1_key_id = next(k["id"] for k in keys if k["app_id"] == a1.app_id)
    return World(client, org_key, other_org_key, a1, a2, a1_key_id)


# ---- the auth matrix, from the route table ------------------------------------------------------

def _calls(dependant) -> set:
    found = set()
    for dep in dependant.dependencies:
        found.add(dep.call)
        found |= _calls(dep)
    return found


def surface_routes(app) -> list[tuple[str, str, set, bool]]:
    """(method, path, dependency functions, whether it declares a body) of every route of the three surfaces."""
    out = []
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.path_format.startswith(SURFACE_PREFIXES):
            for method in sorted(route.methods - {"HEAD"}):
                out.append((method, route.path_format, _calls(route.dependant), bool(route.dependant.body_params)))
    return out


# A body each route with one accepts, so that only the key decides the answer.
BODIES = {
    ("POST", "/v1/apps/{app_id}/jobs"): {"inputs": [SETOSA]},
    ("PATCH", "/v1/jobs/{job_id}/review"): {"correct": True},
    ("PUT", "/v1/apps/{app_id}/jobs/tags"): {"tags": ["x"]},
    ("DELETE", "/v1/apps/{app_id}/jobs/tags"): {"tags": ["x"]},
    ("PUT", "/api/v1/jobs/{job_id}"): {"name": "renamed"},
    ("PATCH", "/v0.5/apps/{app_id}"): {},
    ("POST", "/v0.5/apps/{app_id}/versions"): {"version": "9.9.9"},
    ("POST", "/v0.5/batch/jobs/{job_id}/publish"): {"app": "published"},
}


def _param_values(w: World, path: str) -> tuple[dict[str, str], bool]:
    """Values for the route's path parameters: ids of A1's objects (the job id as the route's
    surface spells it), and whether every one is such an id (a parameter this matrix has no object
    for gets a made-up id)."""
    job_ids = {"/v1": w.a1.sai_id, "/api/v1/jobs": w.a1.gravity_uuid, "/v0.5": w.a1.native_job_id}
    known = {"job_id": next(v for p, v in job_ids.items() if path.startswith(p)), "app_id": w.a1.app_id,
             "version": "1.0.0", "file_id": w.a1.model_file, "delivery_id": w.a1.delivery_id,
             "batch_id": w.a1.batch_id, "operation_id": str(w.a1.operation_id), "key_id": w.a1_key_id}
    names = [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]
    return {n: known.get(n, "1") for n in names}, all(n in known for n in names)


PUBLIC = ("/v0.5/batch/registry/pipelines", "/v0.5/models")  # catalogues every key reads alike


def _needs(calls: set) -> auth.Scope:
    if deps.admin_principal in calls:
        return auth.Scope.ADMIN
    return auth.Scope.ORG if deps.org_principal in calls else auth.Scope.APP


def test_every_surface_route_needs_a_key(server):
    routes = surface_routes(server.client.app)
    assert len(routes) >= 50
    for method, path, calls, _ in routes:
        assert deps.current_principal in calls, f"{method} {path} answers without an API key"


def test_openapi_documents_the_403_of_scoped_actions(server):
    paths = server.client.get("/openapi.json").json()["paths"]
    assert "403" in paths["/v0.5/apps"]["post"]["responses"]
    assert "scope org" in paths["/v0.5/usage/budget"]["put"]["responses"]["403"]["description"]
    assert "scope admin" in paths["/v0.5/admin/orgs"]["post"]["responses"]["403"]["description"]
    assert "403" not in paths["/v0.5/apps"]["get"]["responses"]
    assert paths["/v0.5/apps"]["post"]["responses"]["403"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ArchetypeError"}


@pytest.mark.parametrize("style", HEADER_STYLES)
def test_auth_matrix(world, style):
    """Per route: 401 without a key or with a bad one; another org's key: 403 where only an admin
    may act, else 404 for A1's objects; an app key of A2: 403 for org-wide actions (naming the
    scope), else 404 for A1's objects. 400 is accepted only where the matrix cannot build a valid
    request: made-up ids of unknown parameters, a body it has no example of."""
    w = world
    for method, path, calls, declares_body in surface_routes(w.client.app):
        values, real_ids = _param_values(w, path)
        url = path.format(**values)
        body = BODIES.get((method, path))
        not_found = {404} if real_ids and (body is not None or not declares_body) else {400, 404}
        has_object = bool(values) and not path.startswith(PUBLIC)
        where = (method, path)
        if style == "bearer":
            r = w.call(method, url, None, json=body)
            assert r.status_code == 401, (where, r.status_code, r.text)
        r = w.call(method, url, "jp_not-a-key", style, json=body)
        assert r.status_code == 401, (where, r.status_code, r.text)
        needs = _needs(calls)
        r = w.call(method, url, w.other_org_key, style, json=body)
        if needs is auth.Scope.ADMIN:
            assert r.status_code == 403, (where, r.status_code, r.text)
        elif has_object:
            assert r.status_code in not_found, (where, r.status_code, r.text)
        r = w.call(method, url, w.a2.key, style, json=body)
        if needs is not auth.Scope.APP:
            assert r.status_code == 403 and "scope" in r.text, (where, r.status_code, r.text)
        elif has_object:
            assert r.status_code in not_found, (where, r.status_code, r.text)
    # nothing the matrix sent changed A1: its job, its only (active) version and its key are there
    assert w.call("GET", f"/v0.5/batch/jobs/{w.a1.native_job_id}", w.a1.key).status_code == 200
    versions = w.call("GET", f"/v0.5/apps/{w.a1.app_id}", w.org_key).json()["versions"]
    assert [(v["version"], v["active"]) for v in versions] == [("1.0.0", True)]


# ---- what an app key may not do ------------------------------------------------------------------

def test_app_key_lists_only_its_apps_jobs_on_v05_and_v1(world):
    w = world
    org_jobs = {j["id"] for j in w.call("GET", "/v0.5/batch/jobs", w.org_key, params={"limit": 1000}).json()["jobs"]}
    listed = w.call("GET", "/v0.5/batch/jobs", w.a2.key, params={"limit": 1000}).json()
    ids = {j["id"] for j in listed["jobs"]}
    assert w.a2.native_job_id in ids and w.a1.native_job_id not in ids and ids < org_jobs
    assert listed["total"] == len(ids)
    found = w.call("GET", "/v0.5/batch/jobs", w.a2.key, params={"q": w.a1.native_job_id}).json()
    assert found["total"] == 0 and found["jobs"] == []
    r = w.call("GET", f"/v1/apps/{w.a1.app_id}/jobs", w.a2.key, "api-key")
    assert r.status_code == 404 and "message" in r.json()
    own = w.call("GET", f"/v1/apps/{w.a2.app_id}/jobs", w.a2.key, "api-key").json()
    assert w.a2.sai_uuid in {j["uuid"] for j in own["jobs"]}
    latest = w.call("GET", "/api/v1/jobs/latest", w.a2.key, "x-api-key").json()["data"]
    assert w.a1.gravity_uuid not in {j["id"] for j in latest}
    assert w.a1.gravity_uuid in {j["id"] for j in w.call("GET", "/api/v1/jobs/latest", w.a1.key).json()["data"]}


def test_app_key_cannot_read_another_apps_outputs_model_files_or_usage(world):
    w = world
    assert w.call("GET", f"/v0.5/batch/jobs/{w.a1.native_job_id}/outputs", w.a2.key).status_code == 404
    assert w.call("GET", f"/v1/jobs/{w.a1.sai_id}/response", w.a2.key, "api-key").status_code == 404
    assert w.call("GET", f"/api/v1/jobs/result-link/{w.a1.gravity_uuid}", w.a2.key, "x-api-key").status_code == 404
    r = w.call("GET", f"/v0.5/files/download/{w.a1.model_file}", w.a2.key)
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "not_found"
    files = w.call("GET", "/v0.5/files/metadata", w.a2.key).json()["data"]
    assert [f["file_id"] for f in files] == [w.a2.model_file]
    assert w.call("GET", "/v0.5/files/info", w.a2.key).json()["num_files"] == 1
    usage = w.call("GET", "/v0.5/usage", w.a2.key).json()
    assert {row["app_id"] for row in usage["by_app"]} == {w.a2.app_id}
    assert {e["app_id"] for e in usage["entries"]} == {w.a2.app_id}
    assert w.call("GET", f"/v0.5/callbacks/{w.a1.delivery_id}", w.a2.key).status_code == 404
    seen = {c["job_id"] for c in w.call("GET", "/v0.5/callbacks", w.a2.key).json()["callbacks"]}
    own_jobs = {j["id"] for j in w.call("GET", "/v0.5/batch/jobs", w.a2.key).json()["jobs"]}
    assert w.a1.native_job_id not in seen and seen <= own_jobs
    apps = w.call("GET", "/v0.5/apps", w.a2.key).json()
    assert apps["total"] == 1 and [a["id"] for a in apps["apps"]] == [w.a2.app_id]


def test_app_key_cannot_create_apps_keys_or_budgets_nor_touch_secrets_or_versions(world):
    w = world
    secret = w.call("GET", "/v0.5/callbacks/secret", w.org_key).json()["secret"]
    budget_before = w.call("GET", "/v0.5/usage", w.org_key).json()["budget_units"]
    refused = [
        ("POST", "/v0.5/apps", {"name": "mine", "pipeline_key": "tabular-model"}),
        ("POST", "/v0.5/admin/keys", {"scope": "org"}),
        ("PUT", "/v0.5/usage/budget", {"budget_units": 5}),
        ("GET", "/v0.5/callbacks/secret", None),
        ("POST", "/v0.5/callbacks/secret/rotate", None),
        ("POST", f"/v0.5/apps/{w.a2.app_id}/versions/1.0.0/deactivate", None),
        ("POST", f"/v0.5/apps/{w.a2.app_id}/versions", {"version": "2.0.0"}),
        ("PATCH", f"/v0.5/apps/{w.a2.app_id}", {"completion_window_seconds": 60}),
        ("POST", "/v0.5/files", None),
        ("DELETE", f"/v0.5/files/delete/{w.a2.model_file}", None),
        ("POST", "/v0.5/batch/jobs", {"pipeline_key": "tabular-model", "inputs": {}}),
    ]
    for method, path, body in refused:
        r = w.call(method, path, w.a2.key, json=body)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        error = r.json()["errors"][0]
        assert error["code"] == "insufficient_scope" and "scope org" in error["message"], error
        assert error["field"] == "scope" and error["suggestion"]
    assert w.call("GET", "/v0.5/callbacks/secret", w.org_key).json()["secret"] == secret
    assert w.call("GET", "/v0.5/usage", w.org_key).json()["budget_units"] == budget_before
    app = w.call("GET", f"/v0.5/apps/{w.a2.app_id}", w.org_key).json()
    assert [(v["version"], v["active"]) for v in app["versions"]] == [("1.0.0", True)]
    assert app["completion_window_seconds"] is None
    assert w.call("GET", "/v0.5/apps", w.org_key).json()["total"] == 2
    assert w.call("GET", f"/v0.5/files/metadata/{w.a2.model_file}", w.org_key).status_code == 200


def test_app_key_does_everything_for_its_own_app(world):
    w, key = world, world.a2.key
    assert w.call("GET", f"/v0.5/apps/{w.a2.app_id}", key).json()["id"] == w.a2.app_id
    job = w.call("GET", f"/v0.5/batch/jobs/{w.a2.native_job_id}", key).json()
    assert job["status"] == "COMPLETED"
    outputs = w.call("GET", f"/v0.5/batch/jobs/{w.a2.native_job_id}/outputs", key).json()["outputs"]
    assert outputs and w.client.get(outputs[0]["data"]["ref"]).status_code == 200
    assert w.call("GET", f"/v0.5/batch/jobs/{w.a2.native_job_id}/events", key).json()["total"] > 0
    r = w.call("GET", f"/v0.5/files/download/{w.a2.model_file}", key)
    assert r.status_code == 200 and r.content
    r = w.call("POST", f"/v1/apps/{w.a2.app_id}/jobs", key, "api-key", json={"inputs": [SETOSA], "pending": True})
    assert r.status_code == 200, r.text
    r = w.call("POST", f"/v1/apps/{w.a2.app_id}/jobs/queue", key, "api-key", json={})
    assert r.status_code == 200 and r.json()["queued"] == 1, r.text
    assert w.call("PATCH", f"/v1/jobs/{w.a2.sai_id}/review", key, "api-key", json={"correct": True}).status_code == 200
    assert w.call("GET", f"/v1/apps/{w.a2.app_id}/batches/{w.a2.batch_id}", key, "api-key").status_code == 200
    r = w.call("POST", "/api/v1/jobs", key, "x-api-key", data={"data": '{"mimeType": "text/csv"}'},
               files={"file": ("rows.csv", IRIS_CSV, "text/csv")})
    assert r.status_code == 200 and r.json()["data"]["status"] == "success", r.text
    assert w.call("GET", "/v0.5/usage", key).json()["totals"]["jobs"] >= 2


# ---- the admin API -------------------------------------------------------------------------------

def test_admin_creates_orgs_and_keys_shown_once_lists_and_revokes(server):
    client = server.client
    admin = bearer(ADMIN_KEY)
    name = f"adm-{uuid.uuid4().hex[:8]}"
    r = client.post("/v0.5/admin/orgs", headers=admin, json={"name": name})
    assert r.status_code == 201, r.text
    org = r.json()
    assert org["id"].startswith("org_") and org["name"] == name
    assert client.post("/v0.5/admin/orgs", headers=admin, json={"name": name}).status_code == 409
    r = client.post("/v0.5/admin/orgs", headers=admin, json={"name": " "})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "name"
    orgs = client.get("/v0.5/admin/orgs", headers=admin, params={"limit": 1000}).json()
    assert name in {o["name"] for o in orgs["orgs"]} and orgs["total"] >= 2

    r = client.post("/v0.5/admin/keys", headers=admin, json={"org": name, "name": "ci"})
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["key"]
    assert created["scope"] == "org" and created["org_id"] == org["id"] and key.startswith(created["prefix"])
    listed = client.get("/v0.5/admin/keys", headers=admin, params={"org": name}).json()
    assert listed["total"] == 1 and listed["keys"][0]["id"] == created["id"]
    assert "key" not in listed["keys"][0] and key not in str(listed)
    assert client.get("/v0.5/batch/jobs", headers=bearer(key)).status_code == 200

    r = client.delete(f"/v0.5/admin/keys/{created['id']}", headers=admin)
    assert r.status_code == 200 and r.json()["revoked_at"]
    r = client.get("/v0.5/batch/jobs", headers=bearer(key))
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "unauthorized"
    assert client.get("/v1/jobs/1", headers={"API-KEY": key}).status_code == 401
    assert client.delete("/v0.5/admin/keys/key_nonexistent", headers=admin).status_code == 404


def test_org_key_manages_only_its_own_orgs_keys(server, api):
    client = server.client
    own = bearer(api.key)
    assert client.post("/v0.5/admin/orgs", headers=own, json={"name": "nope"}).status_code == 403
    assert client.get("/v0.5/admin/orgs", headers=own).status_code == 403
    r = client.post("/v0.5/admin/keys", headers=own, json={"scope": "admin"})
    assert r.status_code == 403 and "scope admin" in r.json()["errors"][0]["message"]
    assert client.post("/v0.5/admin/keys", headers=own, json={"org": "default"}).status_code == 404
    r = client.post("/v0.5/admin/keys", headers=own, json={"scope": "app"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "app"
    r = client.post("/v0.5/admin/keys", headers=own, json={"app": "no-such-app"})
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "app"
    r = client.post("/v0.5/admin/keys", headers=own, json={"scope": "root"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "scope"
    r = client.post("/v0.5/admin/keys", headers=own, json={"name": "second"})
    assert r.status_code == 201 and r.json()["org_id"] == api.org_id
    keys = client.get("/v0.5/admin/keys", headers=own).json()["keys"]
    assert {k["org_id"] for k in keys} == {api.org_id} and len(keys) == 2
    admin_keys = client.get("/v0.5/admin/keys", headers=bearer(ADMIN_KEY), params={"org": "default"}).json()["keys"]
    admin_row = next(k for k in admin_keys if k["scope"] == "admin")
    assert client.delete(f"/v0.5/admin/keys/{admin_row['id']}", headers=own).status_code == 404
    assert client.get("/v0.5/admin/orgs", headers=bearer(ADMIN_KEY)).status_code == 200


# ---- migration 0008 ------------------------------------------------------------------------------

def test_migration_gives_existing_keys_their_scopes(tmp_path):
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from jobport.store.db import MIGRATIONS_DIR

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))

    def upgrade(revision: str) -> None:
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)

    upgrade("0007")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO orgs (id, name, created_at) VALUES "
                             "('org_1', 'default', '2026-01-01'), ('org_2', 'later', '2026-02-01')"))
        conn.execute(sa.text(
            "INSERT INTO api_keys (id, org_id, key_hash, prefix, name, created_at, app_id) VALUES "
            "('k_admin', 'org_1', 'h1', 'p', 'admin', '2026-01-01', NULL), "
            "('k_app', 'org_1', 'h2', 'p', 'gravity', '2026-01-02', 'app-1'), "
            "('k_org', 'org_1', 'h3', 'p', NULL, '2026-01-03', NULL), "
            "('k_named_admin', 'org_2', 'h4', 'p', 'admin', '2026-02-02', NULL)"))
    upgrade("head")
    with engine.connect() as conn:
        scopes = dict(conn.execute(sa.text("SELECT id, scope FROM api_keys")).all())
    assert scopes == {"k_admin": "admin", "k_app": "app", "k_org": "org", "k_named_admin": "org"}


# ---- the CLI -------------------------------------------------------------------------------------

def test_cli_creates_keys_with_a_scope_lists_and_revokes_them(tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from jobport.cli.main import app as cli

    monkeypatch.setenv("JOBPORT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("JOBPORT_DATABASE_URL", raising=False)
    # a handler some earlier test's library left on the root logger would print alembic's lines
    # into the captured stdout, which a real `jobport` process never has
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    runner = CliRunner()
    made = runner.invoke(cli, ["keys", "create", "--org", "ops", "--scope", "admin", "--name", "root"])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("jp_")
    refused = runner.invoke(cli, ["keys", "create", "--org", "ops", "--scope", "app"])
    assert refused.exit_code == 1 and "needs the app" in refused.output
    listed = runner.invoke(cli, ["keys", "list", "--org", "ops", "--json"])
    rows = json.loads(listed.stdout)
    assert [(r["scope"], r["name"], r["revoked_at"]) for r in rows] == [("admin", "root", None)]
    assert key not in listed.stdout
    revoked = runner.invoke(cli, ["keys", "revoke", rows[0]["id"]])
    assert revoked.exit_code == 0, revoked.output
    rows = json.loads(runner.invoke(cli, ["keys", "list", "--json"]).stdout)
    assert rows[0]["revoked_at"] is not None
