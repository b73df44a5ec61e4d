"""Callbacks on the Archetype surface, in process: a job with a `callback_url` finishes and a real
receiver on 127.0.0.1 gets one signed POST (verified with the org's secret) carrying the job as
GET /v0.5/batch/jobs/{id} shows it; failures are retried and logged per attempt; replay, secret
rotation, filters and org isolation of /v0.5/callbacks."""

from __future__ import annotations

import json
import uuid

import pytest
from standardwebhooks import Webhook

from helpers import machine_csv, machine_job_body, upload, wait_for, wait_until
from receivers import Receiver


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


SEED = int(uuid.uuid4().int % 100000)


def _job_body(api, callback_url: str) -> dict:
    upload(api, "idle_shots.csv", machine_csv("idle", 120, seed=SEED))
    upload(api, "run_shots.csv", machine_csv("run", 120, seed=SEED + 1))
    upload(api, "line.csv", machine_csv("run", 60, seed=3))
    body = machine_job_body(["line.csv"], {"idle_shots.csv": "idle", "run_shots.csv": "run"}, name="cb")
    return {**body, "callback_url": callback_url}


def _run_job(api, callback_url: str) -> dict:
    r = api.post("/v0.5/batch/jobs", json=_job_body(api, callback_url))
    assert r.status_code == 201, r.text
    return wait_for(api, r.json()["id"])


def _deliveries(api, **params) -> list[dict]:
    r = api.get("/v0.5/callbacks", params=params)
    assert r.status_code == 200, r.text
    return r.json()["callbacks"]


def _settled(api, job_id: str) -> list[dict]:
    """The job's deliveries once none is pending any more."""
    def done():
        rows = _deliveries(api, job_id=job_id)
        return rows if rows and all(d["status"] != "pending" for d in rows) else None
    return wait_until(done, timeout=30)


def test_finished_job_calls_back_once_signed_with_the_job_as_read(api, receiver):
    job = _run_job(api, receiver.url)
    assert job["status"] == "COMPLETED", job
    (delivery,) = _settled(api, job["id"])
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1
    assert delivery["last_status_code"] == 200 and delivery["event_type"] == "job.completed"
    assert delivery["id"].startswith("cbk_") and delivery["webhook_id"].startswith("msg_")

    (got,) = receiver.for_job(job["id"])
    secret = api.get("/v0.5/callbacks/secret").json()["secret"]
    assert secret.startswith("whsec_")
    payload = Webhook(secret).verify(got["body"], got["headers"])
    assert got["headers"]["webhook-id"] == delivery["webhook_id"]
    assert got["headers"]["user-agent"] == "jobport-webhooks/1"
    assert got["headers"]["content-type"] == "application/json"
    assert payload["type"] == "job.completed"
    current = api.get(f"/v0.5/batch/jobs/{job['id']}").json()
    assert payload["data"] == current  # rendered after the move: the job as a client reads it
    assert payload["data"]["input_progress"]["completed"] == 1

    detail = api.get(f"/v0.5/callbacks/{delivery['id']}").json()
    assert detail["payload"] == payload
    assert [(a["attempt"], a["status_code"], a["error"]) for a in detail["attempt_log"]] == [(1, 200, None)]
    assert detail["attempt_log"][0]["duration_ms"] >= 0


def test_a_failing_receiver_is_retried_and_every_attempt_logged(api):
    receiver = Receiver(statuses=(500, 503, 204))
    try:
        job = _run_job(api, receiver.url)
        (delivery,) = _settled(api, job["id"])
        assert delivery["status"] == "delivered" and delivery["attempts"] == 3
        log = api.get(f"/v0.5/callbacks/{delivery['id']}").json()["attempt_log"]
        assert [a["status_code"] for a in log] == [500, 503, 204]
        assert log[0]["error"].startswith("HTTP 500") and log[2]["error"] is None
        got = receiver.for_job(job["id"])
        assert len(got) == 3 and len({g["headers"]["webhook-id"] for g in got}) == 1
        secret = api.get("/v0.5/callbacks/secret").json()["secret"]
        for g in got:
            Webhook(secret).verify(g["body"], g["headers"])
    finally:
        receiver.close()


def test_replay_rotation_filters_and_isolation(api, server, receiver):
    job = _run_job(api, receiver.url)
    (delivery,) = _settled(api, job["id"])
    old_secret = api.get("/v0.5/callbacks/secret").json()["secret"]

    rotated = api.post("/v0.5/callbacks/secret/rotate").json()
    assert rotated["secret"] != old_secret and rotated["previous_secret_expires_at"]
    assert api.get("/v0.5/callbacks/secret").json()["secret"] == rotated["secret"]

    r = api.post(f"/v0.5/callbacks/{delivery['id']}/replay")
    assert r.status_code == 201, r.text
    replay = r.json()
    assert replay["replay_of"] == delivery["id"] and replay["webhook_id"] != delivery["webhook_id"]
    assert replay["payload"]["data"]["id"] == job["id"]
    wait_until(lambda: len(receiver.for_job(job["id"])) == 2, timeout=30)
    again = receiver.for_job(job["id"])[1]
    assert again["headers"]["webhook-id"] == replay["webhook_id"]
    Webhook(rotated["secret"]).verify(again["body"], again["headers"])
    Webhook(old_secret).verify(again["body"], again["headers"])  # the old secret co-signs in its grace period

    rows = _deliveries(api, job_id=job["id"])
    assert [d["id"] for d in rows] == [replay["id"], delivery["id"]]  # newest first
    assert {d["id"] for d in _deliveries(api, status="delivered")} >= {delivery["id"]}
    assert _deliveries(api, status="DELIVERED") == _deliveries(api, status="delivered")  # any case
    assert all(d["status"] == "failed" for d in _deliveries(api, status="failed"))

    bad = api.get("/v0.5/callbacks", params={"status": "lost"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "status"
    assert api.get("/v0.5/callbacks", params={"limit": 100000}).status_code == 400

    other = server.new_org()
    for method, path in [("GET", f"/v0.5/callbacks/{delivery['id']}"),
                         ("POST", f"/v0.5/callbacks/{delivery['id']}/replay")]:
        r = other.request(method, path)
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "not_found"
    assert _deliveries(other) == []
    assert other.get("/v0.5/callbacks/secret").json()["secret"] not in {old_secret, rotated["secret"]}
    assert api.client.get("/v0.5/callbacks").status_code == 401


def test_replaying_a_pending_delivery_is_a_conflict(api):
    port_holder = Receiver()
    url = port_holder.url
    port_holder.close()  # nothing listens: the delivery stays pending (retrying)
    job = _run_job(api, url)
    rows = wait_until(lambda: [d for d in _deliveries(api, job_id=job["id"]) if d["attempts"] >= 1], timeout=30)
    assert rows[0]["status"] == "pending"  # 10 attempts take several seconds even with test backoff
    r = api.post(f"/v0.5/callbacks/{rows[0]['id']}/replay")
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "conflict"
    assert "cannot reach" in rows[0]["last_error"]


def test_jobs_without_callback_url_send_nothing(api, receiver):
    body = _job_body(api, receiver.url)
    del body["callback_url"]
    job_id = api.post("/v0.5/batch/jobs", json=body).json()["id"]
    assert wait_for(api, job_id)["status"] == "COMPLETED"
    # the outbox row would have been written with the COMPLETED move, in its transaction
    assert _deliveries(api, job_id=job_id) == []
    # a later job with a callback is delivered to the same receiver: nothing arrived before it
    witness = _run_job(api, receiver.url)
    wait_until(lambda: receiver.for_job(witness["id"]), timeout=30)
    assert [json.loads(r["body"])["data"]["id"] for r in receiver.received] == [witness["id"]]
