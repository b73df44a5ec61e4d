"""Chaos with callbacks (issue 12 part 7): a few hundred single-record super.AI jobs with a
callback URL on the embedded server (local executor, SQLite) while the whole server is SIGKILLed
five times and a worker twice. Every job completes with exactly one response, and every job is
called back with a body whose signature verifies with the org's webhook secret."""

from __future__ import annotations

import json
import os
import random
import signal
import time

from standardwebhooks import Webhook

from helpers import VIRGINICA_FLOWER, example_app_id, wait_until
from jobport.testing.embedded import EmbeddedServer
from receivers import Receiver

JOBS, PER_REQUEST = 300, 100
SERVER_KILLS, WORKER_KILLS = 5, 2
SPEEDY_CALLBACKS = {"JOBPORT_CALLBACK_ALLOW_PRIVATE_NETWORKS": "true",
                    "JOBPORT_CALLBACK_INITIAL_BACKOFF_SECONDS": "0.5",
                    "JOBPORT_CALLBACK_MAX_BACKOFF_SECONDS": "2", "JOBPORT_CALLBACK_MAX_ATTEMPTS": "50"}


def _create_jobs(server: EmbeddedServer, app_id: str, callback_url: str) -> list[str]:
    batches = []
    with server.client() as http:
        for _ in range(JOBS // PER_REQUEST):
            body = {"inputs": [VIRGINICA_FLOWER] * PER_REQUEST, "callbackUrl": callback_url}
            r = http.post(f"/v1/apps/{app_id}/jobs", json=body)
            r.raise_for_status()
            batches.append(r.json()["batchId"])
        ids: list[str] = []
        for batch in batches:
            ids += http.get(f"/v1/apps/{app_id}/batches/{batch}").json()["jobIds"]
    return ids


def _statuses(server: EmbeddedServer, app_id: str) -> dict[str, int]:
    with server.client() as http:
        page = http.get(f"/v1/apps/{app_id}/jobs", params={"size": 1000}).json()
    found: dict[str, int] = {}
    for job in page["jobs"]:
        found[job["status"]] = found.get(job["status"], 0) + 1
    return found


def _chaos(server: EmbeddedServer, app_id: str) -> list[tuple[str, int]]:
    """Kill in a random order (the first kill hits the server at once); (victim, jobs completed
    at that moment) per kill done before every job completed."""
    plan = ["server"] * (SERVER_KILLS - 1) + ["worker"] * WORKER_KILLS
    random.shuffle(plan)
    kills: list[tuple[str, int]] = []
    deadline = time.monotonic() + 120
    for victim in ["server", *plan]:
        done = _statuses(server, app_id).get("COMPLETED", 0)
        if done == JOBS or time.monotonic() > deadline:
            break
        if victim == "server":
            server.kill()
            server.start()
        elif pids := server.worker_pids():
            os.kill(random.choice(pids), signal.SIGKILL)
        kills.append((victim, done))
        time.sleep(random.uniform(0.1, 0.6))
    return kills


def test_record_jobs_survive_crashes_and_each_is_called_back_signed(tmp_path):
    random.seed(11)
    receiver = Receiver()
    server = EmbeddedServer(home=tmp_path / "home", workers=2, key="chaos-cb-key", env=SPEEDY_CALLBACKS)
    server.start()
    try:
        app_id = example_app_id(server)
        job_ids = _create_jobs(server, app_id, receiver.url)
        assert len(job_ids) == JOBS
        kills = _chaos(server, app_id)
        wait_until(lambda: _statuses(server, app_id).get("COMPLETED", 0) == JOBS, 300, 0.5, "every job completed")
        with server.client() as http:
            secret = http.get("/v0.5/callbacks/secret").json()["secret"]
            responses = [http.get(f"/v1/jobs/{job}/response").json() for job in job_ids]

        def called_back() -> bool:
            with receiver.lock:
                seen = {json.loads(r["body"])["id"] for r in receiver.received}
            return seen >= {int(job) for job in job_ids}

        wait_until(called_back, 120, 0.5, "a callback for every job")
    finally:
        server.stop()
        receiver.close()

    print("kills (victim, jobs completed then):", kills)
    assert kills and kills[0][0] == "server" and kills[0][1] < JOBS, kills
    assert _statuses_from(responses) == {"COMPLETED": JOBS}
    assert all(r["response"]["label"] == "virginica" for r in responses)
    with receiver.lock:
        received = list(receiver.received)
    by_job: dict[int, list[dict]] = {}
    for got in received:
        body = Webhook(secret).verify(got["body"], got["headers"])  # raises on a bad signature
        by_job.setdefault(body["id"], []).append(body)
    assert set(by_job) == {int(job) for job in job_ids}
    assert all(any(b["state"] == "COMPLETED" for b in bodies) for bodies in by_job.values())


def _statuses_from(responses: list[dict]) -> dict[str, int]:
    found: dict[str, int] = {}
    for r in responses:
        found[r["status"]] = found.get(r["status"], 0) + 1
    return found
