"""Shared fixtures: a migrated app per database backend (SQLite always; PostgreSQL at
JOBPORT_TEST_DATABASE_URL, or at the local default when that answers and the variable is unset;
`JOBPORT_TEST_DATABASE_URL=off` skips the tier), and API clients of fresh orgs."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from helpers import make_settings
from jobport.server import create_app
from jobport.services import auth

LOCAL_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _postgres_url() -> str | None:
    """The PostgreSQL tier's server: the variable, else the local default if it answers at once
    (so `make test` on a machine with PostgreSQL never skips that tier silently)."""
    configured = os.environ.get("JOBPORT_TEST_DATABASE_URL")
    if configured:
        return None if configured == "off" else configured
    import psycopg

    try:
        psycopg.connect(LOCAL_PG_URL, connect_timeout=2).close()
    except psycopg.Error:
        return None
    os.environ["JOBPORT_TEST_DATABASE_URL"] = LOCAL_PG_URL  # for the tests that read it themselves
    return LOCAL_PG_URL


PG_URL = _postgres_url()
BACKENDS = ["sqlite", "postgresql"]


def _fresh_pg_database() -> Iterator[str]:
    if not PG_URL:
        pytest.skip(f"no PostgreSQL: JOBPORT_TEST_DATABASE_URL is unset or off and {LOCAL_PG_URL} does not answer")
    import psycopg

    base = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"jobport_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    root, _, _ = base.rpartition("/")
    try:
        yield f"{root}/{name}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def example_model(tmp_path_factory):
    """The example Iris model (scikit-learn, exported to ONNX) with its tabular-model config, made once."""
    from jobport.pipelines.builtin.tabular.example import build_example_model

    return build_example_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    yield from _fresh_pg_database()


@pytest.fixture(scope="module")
def module_pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test module (the scale tier's deployments)."""
    yield from _fresh_pg_database()


@pytest.fixture
def own_pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test (its own scheduler lock, heartbeats, queue)."""
    yield from _fresh_pg_database()


@dataclass
class Api:
    """A TestClient bound to one org's API key."""

    client: TestClient
    key: str
    org_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def request(self, method: str, url: str, **kwargs):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, **kw):
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw):
        return self.request("POST", url, **kw)

    def delete(self, url: str, **kw):
        return self.request("DELETE", url, **kw)


@dataclass
class Server:
    client: TestClient
    backend: str

    @property
    def ctx(self):
        return self.client.app.state.ctx

    def new_org(self) -> Api:
        org_id, key = auth.create_key(self.ctx, f"org-{uuid.uuid4().hex[:8]}")
        return Api(self.client, key, org_id)


@pytest.fixture(scope="session", params=BACKENDS)
def server(request, tmp_path_factory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp(f"home-{request.param}")
    database_url = request.getfixturevalue("pg_database") if request.param == "postgresql" else None
    settings = make_settings(home=home, database_url=database_url, admin_key="test-admin-key", workers=2,
                        max_upload_bytes=2 * 1024 * 1024,
                        # callbacks: reach receivers on 127.0.0.1, retry within a second or two
                        callback_allow_private_networks=True, callback_initial_backoff_seconds=0.3,
                        callback_max_backoff_seconds=1.0)
    with TestClient(create_app(settings)) as client:
        yield Server(client, request.param)


@pytest.fixture
def api(server: Server) -> Api:
    return server.new_org()
