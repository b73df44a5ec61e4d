"""The official `superai` SDK, unmodified but for its base URL, against a real `jobport serve`: the
project is the server's example app (Iris classifier), each input object one job."""

from __future__ import annotations

import time

import httpx
import pytest
from superai import Client

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VIRGINICA = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}


def wait_done(client: Client, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.fetch_job(job_id)
        if job["status"] in ("COMPLETED", "FAILED", "CANCELED", "EXPIRED") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_superai_sdk_against_a_real_server(live_server):
    app_id = httpx.get(f"{live_server.url}/v0.5/apps/iris-classifier",
                       headers={"Authorization": f"Bearer {live_server.key}"}).json()["id"]
    client = Client(api_key=live_server.key, base_url=f"{live_server.url}/v1")

    one = client.create_jobs(app_id, inputs=[SETOSA], metadata={"id": "ext-1"})
    assert one["uuid"] and one["batchId"]
    job = wait_done(client, one["uuid"])
    assert job["status"] == "COMPLETED" and job["input"] == SETOSA and job["metadata"] == {"id": "ext-1"}
    assert client.fetch_job(job["id"])["uuid"] == one["uuid"]
    assert client.get_job_response(job["id"])["response"]["label"] == "setosa"

    many = client.create_jobs(app_id, inputs=[SETOSA, VIRGINICA, SETOSA])
    assert "uuid" not in many
    batch = client.fetch_batch_job(app_id, many["batchId"])
    assert len(batch["jobIds"]) == 3
    for job_id in batch["jobIds"]:
        assert wait_done(client, job_id)["status"] == "COMPLETED"
    assert many["batchId"] not in [b["batchId"] for b in client.fetch_batches_job(app_id)["batches"]]

    parked = client.create_jobs(app_id, inputs=[VIRGINICA], parked=True)
    assert client.fetch_job(parked["uuid"])["status"] == "PENDING"

    page = client.list_jobs(app_id, page=0, size=2, sort_by="id", order_by="desc")
    assert page["total"] == 5 and page["pages"] == 3 and len(page["jobs"]) == 2
    assert len(list(client.get_all_jobs(app_id))) == 5
    assert len(list(client.get_all_jobs(app_id, status_in=["COMPLETED"]))) == 4

    client.review_job(int(job["id"]), response={"label": "setosa", "checked": True}, correct=True)
    reviewed = client.fetch_job(job["id"])
    assert reviewed["status"] == "REVIEWED" and reviewed["correct"] is True
    with pytest.raises(ValueError):
        client.review_job(int(job["id"]))  # the SDK itself refuses an empty review

    exported = client.download_jobs_full_flow(app_id, status_in=["COMPLETED", "REVIEWED"], poll_interval=1)
    by_id = {j["id"]: j for j in exported}
    assert len(exported) == 4 and by_id[job["id"]]["response"] == {"label": "setosa", "checked": True}

    # cancel: only SCHEDULED / IN_PROGRESS / SUSPENDED; a parked or finished job is refused
    from superai.exceptions import SuperAIError

    with pytest.raises(SuperAIError):
        client.cancel_job(job["id"])
    httpx.put(f"{live_server.url}/v0.5/usage/budget", headers={"Authorization": f"Bearer {live_server.key}"},
              json={"budget_units": 0})
    suspended = client.create_jobs(app_id, inputs=[SETOSA])
    assert client.fetch_job(suspended["uuid"])["status"] == "SUSPENDED"
    assert client.cancel_job(suspended["uuid"])["status"] == "CANCELED"
