"""Fuzzing tier: schemathesis sends requests generated from the server's own OpenAPI document
(every operation of the three surfaces, valid and invalid data alike) to a real `jobport serve`,
on SQLite and on PostgreSQL. No answer may be a 5xx, and every answer whose status the document
declares must match the declared schema (errors included: each surface's error body). Bounded:
`MAX_EXAMPLES` requests per operation, the same ones on every run (derandomized)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from conftest import BACKENDS
from helpers import make_settings
from jobport.server import create_app
from jobport.testing.embedded import EmbeddedServer

MAX_EXAMPLES = 10  # x ~77 operations x 2 databases: 1.5 to 4 minutes on 2 cores, as busy as they are


def _openapi() -> dict:
    """The document the server publishes at /openapi.json (built without starting the server)."""
    with tempfile.TemporaryDirectory(prefix="jobport-openapi-") as home:
        settings = make_settings(home=home, executor="inline", example_app=False)
        return create_app(settings, run_scheduler=False).openapi()


schema = schemathesis.openapi.from_dict(_openapi())


@pytest.fixture(scope="module", params=BACKENDS)
def live(request) -> Iterator[EmbeddedServer]:
    """A real server (with the example app on its default org, so lists and lookups find rows)."""
    env = {}
    if request.param == "postgresql":
        env["JOBPORT_DATABASE_URL"] = request.getfixturevalue("module_pg_database")
    with EmbeddedServer(workers=1, env=env) as server:
        yield server


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error_and_answers_conform(case, live):
    case.call_and_validate(base_url=live.url, headers={"Authorization": f"Bearer {live.key}"}, timeout=30,
                           checks=[not_a_server_error, response_schema_conformance])
