"""Chaos on the embedded server (local executor, SQLite): nine SIGKILLs of the whole server and
three of single worker processes while a 30-input machine-state job runs. Server crashes are the
infrastructure's fault: they never spend an attempt (`input.preempted`); only a worker killed while
processing an input spends one of that input's attempts (`input.retried`). The job completes, no
input fails, and every input's windows appear exactly once in the outputs."""

from __future__ import annotations

import csv
import io
import os
import random
import signal
import time

import httpx

from helpers import machine_csv, machine_job_body, wait_until
from jobport.testing.embedded import EmbeddedServer

INPUTS = 30
ROWS = 6000
WINDOW, STEP = 16, 2
SERVER_KILLS, WORKER_KILLS = 9, 3
ENDED = {"COMPLETED", "FAILED", "CANCELLED"}


def _submit(http: httpx.Client) -> str:
    for name, state, seed in [("idle.csv", "idle", 1), ("run.csv", "run", 2)]:
        http.post("/v0.5/files", files={"file": (name, machine_csv(state, 300, seed=seed), "text/csv")}
                  ).raise_for_status()
    names = []
    for i in range(INPUTS):
        name = f"in{i:02d}.csv"
        data = machine_csv("idle" if i % 2 else "run", ROWS, seed=100 + i)
        http.post("/v0.5/files", files={"file": (name, data, "text/csv")}).raise_for_status()
        names.append(name)
    body = machine_job_body(names, {"idle.csv": "idle", "run.csv": "run"},
                            reader_config={"window_size": WINDOW, "step_size": STEP}, flush_every_n_iteration=20,
                            parallelism=2)
    response = http.post("/v0.5/batch/jobs", json=body)
    response.raise_for_status()
    return response.json()["id"]


def _job(server: EmbeddedServer, job_id: str) -> dict:
    with server.client() as http:
        return http.get(f"/v0.5/batch/jobs/{job_id}").json()


def _completed(server: EmbeddedServer, job_id: str) -> int:
    return _job(server, job_id)["input_progress"]["completed"]


def _kill_a_worker(server: EmbeddedServer, job_id: str) -> bool:
    """SIGKILL one worker while the job's running inputs are all on their first attempt (so that no
    input is hit twice and the pipeline's retry budget is never the reason an input fails); False
    when that is not the case now."""
    with server.client() as http:
        rows = http.get(f"/v0.5/batch/jobs/{job_id}/inputs",
                        params={"port_name": "worker.inference", "limit": 100}).json()["inputs"]
    running = [r for r in rows if r["status"] == "processing"]
    pids = server.worker_pids()
    if not running or any(r["attempts"] > 1 for r in running) or not pids:
        return False
    os.kill(random.choice(pids), signal.SIGKILL)
    return True


def test_server_crashes_never_fail_inputs(tmp_path):
    random.seed(7)
    server = EmbeddedServer(home=tmp_path / "home", workers=2, key="chaos-admin-key")
    server.start()
    try:
        with server.client() as http:
            job_id = _submit(http)
        plan = ["server"] * SERVER_KILLS + ["worker"] * WORKER_KILLS
        random.shuffle(plan)
        deadline = time.monotonic() + 240
        for victim in plan:
            if _job(server, job_id)["status"] in ENDED or time.monotonic() > deadline:
                break
            time.sleep(random.uniform(0.3, 1.5))  # somewhere inside the next inputs' work
            if victim == "server":
                server.kill()
                server.start()
            else:
                wait_until(lambda: _kill_a_worker(server, job_id) or _job(server, job_id)["status"] in ENDED,
                           30, 0.05, "a busy worker to kill")
        job = wait_until(lambda: (j := _job(server, job_id))["status"] in ENDED and j, 300, 0.2, "the job to end")
        with server.client() as http:
            inputs = http.get(f"/v0.5/batch/jobs/{job_id}/inputs",
                              params={"port_name": "worker.inference", "limit": 100}).json()["inputs"]
            events = http.get(f"/v0.5/batch/jobs/{job_id}/events", params={"limit": 1000}).json()["events"]
            outputs = http.get(f"/v0.5/batch/jobs/{job_id}/outputs", params={"limit": 1000}).json()["outputs"]
            _check_outputs(http, inputs, outputs)
    finally:
        server.stop()

    assert job["status"] == "COMPLETED", job
    assert job["input_progress"] == {"pending": 0, "processing": 0, "completed": INPUTS, "failed": 0}
    retried: dict[str, int] = {}
    for event in events:
        if event["event_type"] == "input.retried":
            retried[event["input_id"]] = retried.get(event["input_id"], 0) + 1
    for row in inputs:
        # an attempt is spent only by a worker crash while processing the input, never by a server crash
        assert row["attempts"] == 1 + retried.get(row["id"], 0), (row, retried)
    assert sum(retried.values()) <= WORKER_KILLS
    assert job["preemption_count"] >= 1
    assert any(e["event_type"] == "input.preempted" for e in events)
    successes = [e["input_id"] for e in events if e["event_type"] == "inference.success"]
    assert sorted(successes) == sorted(r["id"] for r in inputs), "each input succeeds exactly once"


def _check_outputs(http: httpx.Client, inputs: list[dict], outputs: list[dict]) -> None:
    keys = [(o["input_id"], o["data"]["filename"]) for o in outputs]
    assert len(keys) == len(set(keys)), "an output file is listed twice"
    expected = (ROWS - WINDOW) // STEP + 1
    for row in inputs:
        stamps: list[int] = []
        for part in sorted((o for o in outputs if o["input_id"] == row["id"]), key=lambda o: o["data"]["filename"]):
            text = httpx.get(part["data"]["ref"], timeout=30).text
            stamps += [int(r["timestamp"]) for r in csv.DictReader(io.StringIO(text))]
        assert len(stamps) == expected and len(set(stamps)) == expected, (row["id"], len(stamps))
