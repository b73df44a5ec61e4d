"""Request ids and logs (issue 14 part 3): every response carries `X-Request-ID` (the caller's valid
one, else a generated one), errors included; the records made while a request is served, and its
one access line, carry that id, the route template and the caller's org."""

from __future__ import annotations

import re

import pytest
import structlog
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from helpers import make_settings
from jobport import log
from jobport.server import create_app

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def records():
    """The event dicts of every structlog record, as the configured processors made them (taken
    just before rendering; loggers cached on first use share the same processor list)."""
    log.configure()
    processors = structlog.get_config()["processors"]
    seen: list[dict] = []

    def keep(_logger, _method, event_dict):
        seen.append(dict(event_dict))
        return event_dict

    processors.insert(len(processors) - 1, keep)
    try:
        yield seen
    finally:
        processors.remove(keep)


def access_lines(records: list[dict], request_id: str) -> list[dict]:
    return [r for r in records if r.get("event") == "request" and r.get("request_id") == request_id]


def test_a_valid_request_id_is_echoed_and_logged_with_route_and_org(api, records):
    r = api.get("/v0.5/batch/jobs", headers={"X-Request-ID": "trace-42.a:b/c"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "trace-42.a:b/c"
    [line] = access_lines(records, "trace-42.a:b/c")
    assert line["route"] == "/v0.5/batch/jobs" and line["org_id"] == api.org_id
    assert line["method"] == "GET" and line["status"] == 200 and line["path"] == "/v0.5/batch/jobs"
    assert line["duration_ms"] >= 0


@pytest.mark.parametrize("incoming", ["x" * 129, "two words", "semi;colon", ""])
def test_an_invalid_request_id_is_replaced_by_a_generated_one(api, records, incoming):
    r = api.get("/v0.5/batch/jobs", headers={"X-Request-ID": incoming})
    assert GENERATED.fullmatch(r.headers["x-request-id"])
    assert access_lines(records, r.headers["x-request-id"])


def test_errors_carry_a_request_id_too(server, records):
    unknown = server.client.get("/no/such/path", headers={"X-Request-ID": "req-404"})
    assert unknown.status_code == 404 and unknown.headers["x-request-id"] == "req-404"
    [line] = access_lines(records, "req-404")
    assert line["status"] == 404 and "route" not in line and "org_id" not in line
    no_key = server.client.get("/v0.5/batch/jobs/job_x")
    assert no_key.status_code == 401 and GENERATED.fullmatch(no_key.headers["x-request-id"])
    [line] = access_lines(records, no_key.headers["x-request-id"])
    assert line["route"] == "/v0.5/batch/jobs/{job_id}" and line["status"] == 401
    ids = {server.client.get("/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3  # one per request


def test_records_made_while_serving_carry_the_request_fields(tmp_path, records):
    settings = make_settings(home=tmp_path, executor="inline", blob_store="memory", example_app=False,
                             admin_key="logging-admin-key", http_key_cache_seconds=0)
    with TestClient(create_app(settings, run_scheduler=False)) as client:
        client.app.state.ctx.sessions.configure(bind=create_engine(f"sqlite:///{tmp_path}/missing/dir/x.db"))
        r = client.get("/v0.5/batch/jobs", headers={"Authorization": "Bearer logging-admin-key",
                                                    "X-Request-ID": "outage-1"})
    assert r.status_code == 503 and r.headers["x-request-id"] == "outage-1"
    [outage] = [x for x in records if x.get("event") == "database unavailable"]
    assert outage["request_id"] == "outage-1" and outage["route"] == "/v0.5/batch/jobs"
    assert [x for x in records if x.get("event") == "request" and x.get("request_id") == "outage-1"]


def test_the_log_format_setting_picks_json_or_console(monkeypatch, tmp_path):
    from jobport.config import Settings

    monkeypatch.setenv("JOBPORT_LOG_FORMAT", "json")
    assert Settings(home=tmp_path).log.format == "json"
    monkeypatch.setenv("JOBPORT_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="json"):
        Settings(home=tmp_path)
