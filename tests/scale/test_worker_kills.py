"""Workers SIGKILLed back to back while single-record jobs flow (embedded server, local executor):
the server writes to the dead workers' pipes and must take that as an error, never die of it
(SIGPIPE), put back what it could not send, respawn its workers and end every job: completed with
its one answer, or failed only where its worker died on every attempt."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time

from helpers import VIRGINICA_FLOWER, example_app_id, wait_until
from jobport.testing.embedded import EmbeddedServer

JOBS, KILLS = 300, 8


def _jobs(server: EmbeddedServer, app_id: str) -> list[dict]:
    with server.client() as http:
        return http.get(f"/v1/apps/{app_id}/jobs", params={"size": 1000}).json()["jobs"]


def _ended(server: EmbeddedServer, app_id: str) -> bool:
    return all(job["status"] in ("COMPLETED", "FAILED") for job in _jobs(server, app_id))


def test_the_server_outlives_workers_killed_back_to_back(tmp_path):
    random.seed(5)
    server = EmbeddedServer(home=tmp_path / "home", workers=2, key="kill-workers-key")
    server.start()
    try:
        app_id = example_app_id(server)
        with server.client() as http:
            for _ in range(JOBS // 100):
                http.post(f"/v1/apps/{app_id}/jobs", json={"inputs": [VIRGINICA_FLOWER] * 100}).raise_for_status()
        killed, deadline = 0, time.monotonic() + 60
        while killed < KILLS and time.monotonic() < deadline:
            pids = server.worker_pids()  # empty while both workers are being replaced
            if pids:
                with contextlib.suppress(ProcessLookupError):  # it may have been reaped meanwhile
                    os.kill(random.choice(pids), signal.SIGKILL)
                    killed += 1
            time.sleep(random.uniform(0.05, 0.4) if pids else 0.05)
            assert server.process is not None and server.process.poll() is None, \
                f"the server died (status {server.process.returncode}) after {killed} worker kills"
        wait_until(lambda: _ended(server, app_id), 120, 0.5, "every job ended")
        with server.client() as http:
            responses = [http.get(f"/v1/jobs/{job['id']}/response").json() for job in _jobs(server, app_id)]
    finally:
        server.stop()
    assert killed == KILLS
    assert len({r["id"] for r in responses}) == JOBS
    completed = [r for r in responses if r["status"] == "COMPLETED"]
    assert all(r["response"]["label"] == "virginica" for r in completed)
    failed = [r for r in responses if r["status"] == "FAILED"]
    assert len(completed) >= JOBS - 20, f"{len(failed)} failed"
    assert all("worker process exited" in str(r) for r in failed), failed[:1]
