"""jobport scaled out, as `docs/deploy.md` describes it: two `--role api` replicas and two
`--role scheduler` processes on one PostgreSQL database, files and outputs in an S3 server (moto on
loopback), work on Ray actors of a two-node loopback Ray cluster. Clients talk to either replica.

(a) a multi-input machine-state job and 500 super.AI jobs complete; outputs are in S3 and their
    links (presigned S3 URLs) download; (b) the Ray worker node is SIGKILLed mid-job: the job
    completes, every input exactly once; (c) the active scheduler is SIGKILLed: the standby takes
    over within 10 s, the jobs complete, nothing is doubled; (d) a cancel sent to the other replica
    stops the Ray-running input within 1 s.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest

from helpers import machine_csv, machine_job_body, wait_until
from jobport.testing.embedded import EmbeddedServer
from jobport.testing.raycluster import HEAD_IP
from jobport.testing.s3server import S3Server

ADMIN_KEY = "scale-admin-key"
SECRET_KEY = "scale-secret-key-shared-by-every-replica-0123456789"
SHOTS = {"idle.csv": "idle", "run.csv": "run"}
ENDED = {"COMPLETED", "FAILED", "CANCELLED"}
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@dataclass
class Deployment:
    apis: list[EmbeddedServer]
    schedulers: list[EmbeddedServer]
    s3: S3Server

    def http(self, replica: int) -> httpx.Client:
        return self.apis[replica].client()

    def active_scheduler(self) -> EmbeddedServer | None:
        for server in self.schedulers:
            if server.process is not None and server.process.poll() is None:
                try:
                    if server.health()["scheduler"] == "running":
                        return server
                except httpx.HTTPError:
                    continue
        return None

    def stop(self) -> None:
        for server in [*self.apis, *self.schedulers]:
            server.stop()


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, module_pg_database, s3, ray_cluster) -> Iterator[Deployment]:
    env = {"JOBPORT_DATABASE_URL": module_pg_database, "JOBPORT_SECRET_KEY": SECRET_KEY, **s3.env(prefix="scale"),
           "JOBPORT_EXECUTOR": "ray", "JOBPORT_RAY_ADDRESS": ray_cluster.address,
           "JOBPORT_RAY_NODE_IP_ADDRESS": HEAD_IP, **ray_cluster.driver_env, "JOBPORT_LEASE_SECONDS": "10"}
    home = tmp_path_factory.mktemp("replicas")

    def server(name: str, role: str) -> EmbeddedServer:
        return EmbeddedServer(home=home / name, key=ADMIN_KEY, env=env, role=role)

    found = Deployment([server("api-1", "api"), server("api-2", "api")],
                       [server("scheduler-1", "scheduler"), server("scheduler-2", "scheduler")], s3)
    try:
        for process in [*found.schedulers, *found.apis]:
            process.start(timeout=120)
        wait_until(found.active_scheduler, 60, 0.2, "an active scheduler")
        yield found
    finally:
        found.stop()


def _upload_machine_inputs(http: httpx.Client, prefix: str, count: int, rows: int) -> list[str]:
    for name, state in SHOTS.items():
        data = machine_csv(state, 300, seed=1 if state == "idle" else 2)
        http.post("/v0.5/files", files={"file": (name, data, "text/csv")}).raise_for_status()
    names = []
    for i in range(count):
        name = f"{prefix}{i}.csv"
        data = machine_csv("idle" if i % 2 else "run", rows, seed=50 + i)
        http.post("/v0.5/files", files={"file": (name, data, "text/csv")}).raise_for_status()
        names.append(name)
    return names


def _machine_job(http: httpx.Client, names: list[str], step: int = 2, parallelism: int = 2) -> str:
    body = machine_job_body(names, SHOTS, reader_config={"window_size": 16, "step_size": step},
                            flush_every_n_iteration=10, parallelism=parallelism)
    response = http.post("/v0.5/batch/jobs", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _wait_ended(http: httpx.Client, job_id: str, timeout: float = 240) -> dict:
    return wait_until(lambda: (j := http.get(f"/v0.5/batch/jobs/{job_id}").json())["status"] in ENDED and j,
                      timeout, 0.2, f"job {job_id} to end")


def _check_each_input_once(http: httpx.Client, job_id: str, rows: int, step: int) -> list[dict]:
    """Every input succeeded once and its windows appear exactly once across its output parts."""
    inputs = http.get(f"/v0.5/batch/jobs/{job_id}/inputs", params={"port_name": "worker.inference"}).json()["inputs"]
    events = http.get(f"/v0.5/batch/jobs/{job_id}/events", params={"limit": 1000}).json()["events"]
    successes = sorted(e["input_id"] for e in events if e["event_type"] == "inference.success")
    assert successes == sorted(r["id"] for r in inputs), "each input succeeds exactly once"
    outputs = http.get(f"/v0.5/batch/jobs/{job_id}/outputs", params={"limit": 1000}).json()["outputs"]
    expected = (rows - 16) // step + 1
    for row in inputs:
        stamps: list[int] = []
        for part in (o for o in outputs if o["input_id"] == row["id"]):
            text = httpx.get(part["data"]["ref"], timeout=30).raise_for_status().text
            stamps += [int(r["timestamp"]) for r in csv.DictReader(io.StringIO(text))]
        assert len(stamps) == expected and len(set(stamps)) == expected, (row["id"], len(stamps), expected)
    return outputs


def test_a_machine_state_job_and_500_superai_jobs_complete_with_outputs_in_s3(deployment):
    rows = 2000
    with deployment.http(0) as first, deployment.http(1) as second:
        names = _upload_machine_inputs(first, "a", 4, rows)
        job_id = _machine_job(second, names)  # created through the other replica
        app_id = first.get("/v0.5/apps/iris-classifier").json()["id"]
        created = second.post(f"/v1/apps/{app_id}/jobs", json={"inputs": [SETOSA] * 500})
        assert created.status_code == 200, created.text

        job = _wait_ended(first, job_id)
        assert job["status"] == "COMPLETED", job
        outputs = _check_each_input_once(second, job_id, rows, 2)
        assert all(o["data"]["ref"].startswith(deployment.s3.endpoint_url) for o in outputs), "presigned S3 links"

        def superai_done() -> int:
            page = first.get(f"/v1/apps/{app_id}/jobs", params={"statusIn": "COMPLETED", "size": 1}).json()
            return page["total"] >= 500

        wait_until(superai_done, 240, 0.5, "500 super.AI jobs to complete")
        one = first.get(f"/v1/apps/{app_id}/jobs", params={"size": 1}).json()["jobs"][0]
        assert first.get(f"/v1/jobs/{one['id']}/response").json()["response"]["label"] == "setosa"
    listed = deployment.s3.client().list_objects_v2(Bucket=deployment.s3.bucket, Prefix="scale/")
    assert listed["KeyCount"] > 0, "files and outputs live in the bucket"


def test_losing_the_ray_worker_node_mid_job_loses_nothing(deployment, ray_cluster):
    rows, step = 6000, 1
    with deployment.http(0) as http:
        names = _upload_machine_inputs(http, "b", 4, rows)
        job_id = _machine_job(http, names, step=step, parallelism=2)
        wait_until(lambda: http.get(f"/v0.5/batch/jobs/{job_id}").json()["input_progress"]["processing"] >= 1,
                   120, 0.1, "an input running")
        ray_cluster.kill_node("B")
        try:
            job = _wait_ended(http, job_id, timeout=300)
            assert job["status"] == "COMPLETED", job
            assert job["input_progress"]["failed"] == 0
            _check_each_input_once(http, job_id, rows, step)
        finally:
            ray_cluster.restart_node("B")


def test_the_standby_scheduler_takes_over_within_ten_seconds(deployment):
    rows, step = 6000, 1
    with deployment.http(1) as http:
        names = _upload_machine_inputs(http, "c", 4, rows)
        job_id = _machine_job(http, names, step=step)
        wait_until(lambda: http.get(f"/v0.5/batch/jobs/{job_id}").json()["input_progress"]["processing"] >= 1,
                   120, 0.1, "an input running")
        active = deployment.active_scheduler()
        assert active is not None
        active.kill()
        killed_at = time.monotonic()
        successor = wait_until(deployment.active_scheduler, 30, 0.1, "a standby to take over")
        took = time.monotonic() - killed_at
        assert successor is not active and took < 10, f"takeover took {took:.1f} s"
        job = _wait_ended(http, job_id, timeout=300)
        assert job["status"] == "COMPLETED" and job["input_progress"]["failed"] == 0, job
        _check_each_input_once(http, job_id, rows, step)
    active.start(timeout=120)  # back as the standby


def test_a_cancel_sent_to_the_other_replica_stops_ray_work_within_a_second(deployment):
    with deployment.http(0) as first, deployment.http(1) as second:
        names = _upload_machine_inputs(first, "d", 1, 60_000)
        job_id = _machine_job(first, names, step=1, parallelism=1)

        def running_input() -> str | None:
            rows = first.get(f"/v0.5/batch/jobs/{job_id}/inputs", params={"port_name": "worker.inference"})
            busy = [r["id"] for r in rows.json()["inputs"] if r["status"] == "processing"]
            return busy[0] if busy else None

        input_id = wait_until(running_input, 120, 0.05, "the input running on Ray")
        wait_until(lambda: first.get(f"/v0.5/batch/jobs/{job_id}/outputs").json()["total"] >= 1, 120, 0.05,
                   "the first output part (the worker is mid-input)")
        sent = datetime.now().astimezone()
        assert second.post(f"/v0.5/batch/jobs/{job_id}/cancel").status_code == 200

        def stopped() -> dict | None:
            events = first.get(f"/v0.5/batch/jobs/{job_id}/events", params={"event_type": "input.cancelled"})
            found = [e for e in events.json()["events"] if e["input_id"] == input_id]
            return found[0] if found else None

        event = wait_until(stopped, 10, 0.05, "the running input to be stopped")
        took = (datetime.fromisoformat(event["created_at"].replace("Z", "+00:00")) - sent).total_seconds()
        assert took < 1.0, f"the running input stopped {took:.2f} s after the cancel"
        assert first.get(f"/v0.5/batch/jobs/{job_id}").json()["status"] == "CANCELLED"
