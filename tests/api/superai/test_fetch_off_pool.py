"""super.AI creates from `inputsFileUrl` fetch off the request thread pool: an org's slow fetches
(a local file server that holds every GET until the test releases it) never stall another org's
requests, and beyond `fetch_max_per_org` fetches in flight the org gets a 429 in super.AI's format
that names the limit, its usage and when to retry."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from helpers import host_iris_app, wait_until
from jobport.services import auth

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
SLOW_CREATES = 45  # more than the 40 threads of the request thread pool


class HangingFileServer:
    """Answers every GET with a one-record JSON array, but only once `release` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.arrived = 0
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                with lock:
                    server.arrived += 1
                server.release.wait(60)
                body = json.dumps([SETOSA]).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/inputs.json"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()



@pytest.fixture
def hanging() -> Iterator[HangingFileServer]:
    files = HangingFileServer()
    yield files
    files.close()


@contextmanager
def fetch_settings(server, **values) -> Iterator[None]:
    """Loopback allowed (the test's file server) and the given fetch settings, restored after."""
    fetch = server.ctx.settings.fetch
    before = {name: getattr(fetch, name) for name in ("allow_private_networks", "timeout_seconds", *values)}
    fetch.allow_private_networks, fetch.timeout_seconds = True, 30.0
    for name, value in values.items():
        setattr(fetch, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(fetch, name, value)


def iris_app(server, model) -> tuple[str, str]:
    """A new org with the Iris model as a super.AI app: (key, app id)."""
    _, key = auth.create_key(server.ctx, f"fetch-{uuid.uuid4().hex[:8]}")
    return key, host_iris_app(server.client, key, model)


def slow_creates(server, key: str, app_id: str, url: str, pool: ThreadPoolExecutor) -> list:
    return [pool.submit(server.client.post, f"/v1/apps/{app_id}/jobs", headers={"API-KEY": key},
                        json={"inputsFileUrl": url}) for _ in range(SLOW_CREATES)]


def test_slow_fetches_of_one_org_never_stall_another_org(server, example_model, hanging):
    key_a, app_a = iris_app(server, example_model)
    _, key_b = auth.create_key(server.ctx, f"fetch-b-{uuid.uuid4().hex[:8]}")
    with fetch_settings(server, max_per_org=SLOW_CREATES, max_concurrent=32), \
            ThreadPoolExecutor(SLOW_CREATES + 1) as pool:
        creates = slow_creates(server, key_a, app_a, hanging.url, pool)
        wait_until(lambda: hanging.arrived >= 32, timeout=30, what="32 fetches hanging")
        listing = pool.submit(server.client.get, "/v0.5/batch/jobs", headers={"Authorization": f"Bearer {key_b}"})
        answer = listing.result(timeout=20)  # answered while org A's fetches still hang
        assert not hanging.release.is_set() and hanging.arrived == 32  # the fetch threads' cap holds the rest
        assert answer.status_code == 200, answer.text
        hanging.release.set()
        bodies = [create.result(timeout=60) for create in creates]
    assert [r.status_code for r in bodies] == [200] * SLOW_CREATES
    assert sum(r.json()["jobCount"] for r in bodies) == SLOW_CREATES


def test_fetches_beyond_the_org_cap_are_429_in_superai_format(server, example_model, hanging):
    key, app_id = iris_app(server, example_model)
    with fetch_settings(server, max_per_org=4), ThreadPoolExecutor(SLOW_CREATES) as pool:
        creates = slow_creates(server, key, app_id, hanging.url, pool)
        wait_until(lambda: sum(c.done() for c in creates) == SLOW_CREATES - 4, timeout=20,
                   what="every create beyond the cap answered")
        assert hanging.arrived == 4 and not hanging.release.is_set()
        refused = [c.result() for c in creates if c.done()]
        waiting = [c for c in creates if not c.done()]
        hanging.release.set()
        admitted = [c.result(timeout=60) for c in waiting]
    assert {r.status_code for r in refused} == {429}
    body = refused[0].json()
    assert "fetch_max_per_org" in body["message"] and "inline" in body["message"]
    assert body["limit"]["limit"] == "fetch_max_per_org" and body["limit"]["allowed"] == 4
    assert body["limit"]["used"] == 4 and body["limit"]["resets_at"].endswith("Z")
    assert int(refused[0].headers["Retry-After"]) == 30  # the fetch timeout: the latest a slot frees up
    assert len(admitted) == 4 and all(r.status_code == 200 for r in admitted)
    total = server.client.get(f"/v1/apps/{app_id}/jobs", headers={"API-KEY": key}).json()["total"]
    assert total == 4  # a refused create stored nothing
