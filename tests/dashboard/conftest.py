"""Fixtures of the dashboard tests: an app per database backend whose jobs stay queued (no
scheduler: bulk cancel and the filters see the jobs as they were made), on its own SQLite home or
its own PostgreSQL database; browsers (test clients with their own cookie jars) signed in with a
key; and jobs made through the native API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from conftest import Api, Server, _fresh_pg_database
from helpers import make_settings
from jobport.server import create_app

BACKENDS = ["sqlite", "postgresql"]


class UiServer(Server):
    """The shared `Server` test view, plus browsers."""

    def browser(self) -> TestClient:
        """A browser of its own (cookie jar) on the same app; follows no redirects by itself."""
        return TestClient(self.client.app, follow_redirects=False)


@pytest.fixture(scope="session", params=BACKENDS)
def ui(request, tmp_path_factory) -> Iterator[UiServer]:
    database = None
    cleanup = None
    if request.param == "postgresql":
        cleanup = _fresh_pg_database()
        database = next(cleanup)
    settings = make_settings(home=tmp_path_factory.mktemp(f"ui-{request.param}"), database_url=database,
                             admin_key="ui-admin-key", workers=1)
    try:
        with TestClient(create_app(settings, run_scheduler=False)) as client:
            yield UiServer(client, request.param)
    finally:
        if cleanup is not None:
            cleanup.close()


@pytest.fixture
def org(ui: UiServer) -> Api:
    return ui.new_org()
