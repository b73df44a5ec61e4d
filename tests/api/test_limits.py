"""Limits with explanations, on SQLite and PostgreSQL: per-key and per-org request rates (set
through per-org overrides), the 429 each surface answers in its own error format with Retry-After,
the limit, its usage and when it resets; the job and input quotas of creates (nothing stored when
refused); `GET /v0.5/usage/limits`; and the request body read timeout against a live server."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn

from helpers import machine_csv, machine_job_body, make_settings
from jobport.domain.errors import Invalid
from jobport.server import create_app
from jobport.services import auth, limits
from jobport.testing.embedded import free_port

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@dataclass
class Org:
    name: str
    keys: list[str]


def new_org(server, keys: int = 1, **overrides) -> Org:
    name = f"lim-{uuid.uuid4().hex[:8]}"
    made = [auth.create_key(server.ctx, name)[1] for _ in range(keys)]
    if overrides:
        limits.set_org_limits(server.ctx, name, overrides)
    return Org(name, made)


def native(server, key: str, path: str = "/v0.5/batch/jobs"):
    return server.client.get(path, headers={"Authorization": f"Bearer {key}"})


def test_a_key_over_its_rate_gets_429_with_the_limit_and_retry_after(server):
    org = new_org(server, keys=2, key_requests_per_second=0.01, key_request_burst=3)
    assert [native(server, org.keys[0]).status_code for _ in range(3)] == [200, 200, 200]
    r = native(server, org.keys[0])
    assert r.status_code == 429
    error = r.json()["errors"][0]
    assert error["code"] == "rate_limited" and "quota_key_requests_per_second" in error["message"]
    assert "Retry after" in error["suggestion"]
    limit = r.json()["limit"]
    assert limit["limit"] == "quota_key_requests_per_second" and limit["scope"] == "key"
    assert limit["allowed"] == 3 and limit["used"] == pytest.approx(3, abs=0.01) and limit["resets_at"].endswith("Z")
    assert int(r.headers["Retry-After"]) >= 90  # one token back at 0.01/s takes ~100 s
    assert r.headers["RateLimit-Limit"] == "3"
    assert native(server, org.keys[1]).status_code == 200  # the org's other key has its own bucket


def test_the_keys_of_an_org_share_the_org_rate(server):
    org = new_org(server, keys=2, org_requests_per_second=0.01, org_request_burst=4)
    assert [native(server, key).status_code for key in org.keys * 2] == [200] * 4
    r = native(server, org.keys[1])
    assert r.status_code == 429 and r.json()["limit"]["limit"] == "quota_org_requests_per_second"
    assert r.json()["limit"]["scope"] == "org"
    other = new_org(server)
    assert native(server, other.keys[0]).status_code == 200  # another org is not slowed down


def test_each_surface_answers_429_in_its_own_format(server):
    org = new_org(server, key_requests_per_second=0.01, key_request_burst=1)
    assert native(server, org.keys[0]).status_code == 200
    superai = server.client.get("/v1/jobs/1", headers={"API-KEY": org.keys[0]})
    assert superai.status_code == 429 and "quota_key_requests_per_second" in superai.json()["message"]
    assert superai.json()["limit"]["allowed"] == 1 and "Retry-After" in superai.headers
    gravity = server.client.get("/api/v1/jobs/latest", headers={"x-api-key": org.keys[0]})
    body = gravity.json()
    assert gravity.status_code == 429 and body["isError"] is True and body["data"] is None
    assert "quota_key_requests_per_second" in body["errorMessage"] and "Retry-After" in gravity.headers


def test_an_unknown_key_is_401_not_429(server):
    r = server.client.get("/v0.5/batch/jobs", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


def test_usage_limits_shows_every_limit_and_its_usage(server):
    org = new_org(server, concurrent_jobs=7, key_requests_per_second=0.01, key_request_burst=50)
    native(server, org.keys[0])
    r = native(server, org.keys[0], "/v0.5/usage/limits")
    assert r.status_code == 200, r.text
    shown = {item["limit"]: item for item in r.json()["limits"]}
    assert set(shown) == {"quota_key_requests_per_second", "quota_org_requests_per_second",
                          "quota_concurrent_jobs", "quota_queued_inputs", "fetch_max_per_org"}
    assert shown["quota_key_requests_per_second"]["allowed"] == 50
    assert shown["quota_key_requests_per_second"]["used"] == pytest.approx(2, abs=0.1)  # this request counted
    assert shown["quota_concurrent_jobs"] == {"limit": "quota_concurrent_jobs", "scope": "org",
                                             "unit": "queued or running jobs", "allowed": 7, "used": 0,
                                             "remaining": 7, "resets_at": None}
    assert shown["fetch_max_per_org"]["allowed"] == server.ctx.settings.fetch.max_per_org



def iris_app(server, key: str, model) -> str:
    headers = {"Authorization": f"Bearer {key}"}
    r = server.client.post("/v0.5/files", headers=headers,
                           files={"file": ("iris.onnx", model.path.read_bytes(), "application/octet-stream")})
    assert r.status_code == 200, r.text
    r = server.client.post("/v0.5/apps", headers=headers, json={
        "name": "iris", "pipeline_key": "tabular-model", "config": model.config,
        "references": {"worker.model": [{"file_id": "iris.onnx"}]}})
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.mark.parametrize("quota, name, unit", [
    ({"concurrent_jobs": 2}, "quota_concurrent_jobs", "queued or running jobs"),
    ({"queued_inputs": 2}, "quota_queued_inputs", "pending inputs of queued or running jobs"),
])
def test_a_create_past_a_quota_is_429_and_stores_nothing(server, example_model, quota, name, unit):
    org = new_org(server, **quota)
    key = org.keys[0]
    app_id = iris_app(server, key, example_model)
    r = server.client.post(f"/v1/apps/{app_id}/jobs", headers={"API-KEY": key}, json={"inputs": [SETOSA] * 3})
    assert r.status_code == 429, r.text
    assert name in r.json()["message"] and "would add 3" in r.json()["message"]
    assert r.json()["limit"] == {"limit": name, "scope": "org", "unit": unit, "allowed": 2, "used": 0,
                                 "remaining": 2, "resets_at": None}
    assert r.headers["Retry-After"] == str(limits.QUOTA_RETRY_SECONDS)
    listed = server.client.get(f"/v1/apps/{app_id}/jobs", headers={"API-KEY": key}).json()
    assert listed["total"] == 0
    parked = server.client.post(f"/v1/apps/{app_id}/jobs", headers={"API-KEY": key},
                                json={"inputs": [SETOSA] * 3, "pending": True})
    assert parked.status_code == 200, parked.text  # parked jobs wait outside the queue: no quota
    fits = server.client.post(f"/v1/apps/{app_id}/jobs", headers={"API-KEY": key}, json={"inputs": [SETOSA] * 2})
    assert fits.status_code == 200, fits.text


def test_unknown_per_org_limit_is_refused(server):
    org = new_org(server)
    with pytest.raises(Invalid, match="not a per-org limit: speed"):
        limits.set_org_limits(server.ctx, org.name, {"speed": 1})


# ---- the body read timeout, on a live server ------------------------------------------------------

@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[int]:
    """A uvicorn server in a thread (no scheduler) whose body read timeout is 1 s; yields its port."""
    settings = make_settings(home=tmp_path_factory.mktemp("live"), admin_key="live-key", example_app=False,
                             http_body_read_timeout_seconds=1.0)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, run_scheduler=False), host="127.0.0.1", port=port,
                                           log_config=None, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the live server did not start"
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(10)


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (the socket's timeout fails the test)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_body_that_never_finishes_is_408_and_the_connection_closed(live):
    with socket.create_connection(("127.0.0.1", live), timeout=15) as sock:
        sock.sendall(b"POST /v0.5/batch/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer live-key\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        started = time.monotonic()
        answer = _read_all(sock)  # returns only once the server closed the connection
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"request_timeout" in answer and b"no data for 1 s" in answer
    assert time.monotonic() - started < 10


def test_a_body_sent_in_slow_parts_within_the_timeout_is_read(live):
    body = b'{"name": "x"}'
    with socket.create_connection(("127.0.0.1", live), timeout=15) as sock:
        sock.sendall(b"POST /v0.5/batch/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer live-key\r\n"
                     b"Content-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        for part in (body[:5], body[5:]):
            time.sleep(0.5)
            sock.sendall(part)
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]  # read whole, then refused for its content


def test_an_archetype_job_past_the_input_quota_is_429_in_archetype_format(server):
    org = new_org(server, queued_inputs=1)
    headers = {"Authorization": f"Bearer {org.keys[0]}"}
    shots = {"idle.csv": "idle", "run.csv": "run"}
    for name, state in {**shots, "a.csv": "run", "b.csv": "idle"}.items():
        r = server.client.post("/v0.5/files", headers=headers,
                               files={"file": (name, machine_csv(state, 64), "text/csv")})
        assert r.status_code == 200, r.text
    r = server.client.post("/v0.5/batch/jobs", headers=headers, json=machine_job_body(["a.csv", "b.csv"], shots))
    assert r.status_code == 429, r.text
    error = r.json()["errors"][0]
    assert error["code"] == "quota_exceeded" and "quota_queued_inputs" in error["message"]
    assert r.json()["limit"]["allowed"] == 1 and r.headers["Retry-After"] == str(limits.QUOTA_RETRY_SECONDS)
    assert native(server, org.keys[0]).json()["total"] == 0
    one = server.client.post("/v0.5/batch/jobs", headers=headers, json=machine_job_body(["a.csv"], shots))
    assert one.status_code in (200, 201), one.text
