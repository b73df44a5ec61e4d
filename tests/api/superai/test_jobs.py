"""The super.AI surface (`/v1`) in-process on SQLite and PostgreSQL with the Iris example model
hosted as an app: jobs from inline inputs and from inputsFileUrl, job objects by id and uuid,
responses, listing, parking, cancel/restart/review, tags, batches, exports, callbacks, expiry,
budgets, the keys of every answer in wire order, and every bad input answered `{"message": ...}`
with nothing stored."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path

import pytest

from helpers import add_failing_version, wait_until
from jobport.services import auth
from receivers import FileServer, Receiver

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VIRGINICA = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}



class SuperAI:
    """An org with the Iris model hosted as a super.AI project (app)."""

    def __init__(self, server, model, **app_settings) -> None:
        self.client, self.model = server.client, model
        self.ctx = server.ctx
        _, self.key = auth.create_key(self.ctx, f"sai-{uuid.uuid4().hex[:8]}")
        self.native = {"Authorization": f"Bearer {self.key}"}
        r = self.client.post("/v0.5/files", headers=self.native,
                             files={"file": ("iris.onnx", Path(model.path).read_bytes(), "application/octet-stream")})
        assert r.status_code == 200, r.text
        r = self.client.post("/v0.5/apps", headers=self.native, json={
            "name": "iris", "pipeline_key": "tabular-model", "config": model.config,
            "references": {"worker.model": [{"file_id": "iris.onnx"}]}, **app_settings})
        assert r.status_code == 201, r.text
        self.app_id = r.json()["id"]

    def call(self, method: str, path: str, **kw):
        return self.client.request(method, "/v1/" + path, headers={"API-KEY": self.key}, **kw)

    def create(self, **body):
        return self.call("POST", f"apps/{self.app_id}/jobs", json=body)

    def job(self, ref) -> dict:
        r = self.call("GET", f"jobs/{ref}")
        assert r.status_code == 200, r.text
        return r.json()

    def wait(self, ref, statuses=("COMPLETED", "FAILED", "CANCELED", "EXPIRED"), timeout=60) -> dict:
        return wait_until(lambda: (j := self.job(ref))["status"] in statuses and j, timeout=timeout)

    def job_total(self) -> int:
        return self.call("GET", f"apps/{self.app_id}/jobs").json()["total"]


@pytest.fixture
def sai(server, example_model) -> SuperAI:
    return SuperAI(server, example_model)


def test_create_one_job_fetch_by_id_and_uuid_and_read_the_response(sai):
    r = sai.create(inputs=[SETOSA], metadata={"id": "ext-1"}, tags=["a"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["message"] and uuid.UUID(body["batchId"]) and uuid.UUID(body["uuid"])
    job = sai.wait(body["uuid"])
    assert job["status"] == "COMPLETED" and job["id"].isdigit() and job["uuid"] == body["uuid"]
    assert job["input"] == SETOSA and job["metadata"] == {"id": "ext-1"} and job["tags"] == ["a"]
    assert job["appId"] == sai.app_id and job["batchId"] == body["batchId"] and job["jobType"] == "DEFAULT"
    assert job["created"].endswith("+00:00") and job["completed"] and job["correct"] is None
    assert sai.job(job["id"])["uuid"] == job["uuid"]  # numeric id works too
    response = sai.call("GET", f"jobs/{job['id']}/response").json()
    assert response["response"]["label"] == "setosa" and response["status"] == "COMPLETED"
    assert abs(response["response"]["probability_setosa"] - 1) < 0.2


def test_many_inputs_are_one_batch_without_uuid(sai):
    r = sai.create(inputs=[SETOSA, VIRGINICA, SETOSA])
    body = r.json()
    assert "uuid" not in body and body["jobCount"] == 3
    batch = sai.call("GET", f"apps/{sai.app_id}/batches/{body['batchId']}").json()
    assert batch["batchId"] == body["batchId"] and len(batch["jobIds"]) == 3
    for job_id in batch["jobIds"]:
        sai.wait(job_id)
    batch = sai.call("GET", f"apps/{sai.app_id}/batches/{body['batchId']}").json()
    assert batch["state"] == "COMPLETED" and batch["counts"] == {"COMPLETED": 3}
    labels = [sai.call("GET", f"jobs/{i}/response").json()["response"]["label"] for i in batch["jobIds"]]
    assert labels == ["setosa", "virginica", "setosa"]
    unprocessed = sai.call("GET", f"apps/{sai.app_id}/batches").json()["batches"]
    assert body["batchId"] not in [b["batchId"] for b in unprocessed]


def test_list_paging_sorting_and_filters(sai):
    body = sai.create(inputs=[SETOSA] * 5).json()
    batch = sai.call("GET", f"apps/{sai.app_id}/batches/{body['batchId']}").json()
    for job_id in batch["jobIds"]:
        sai.wait(job_id)
    page = sai.call("GET", f"apps/{sai.app_id}/jobs", params={"page": 1, "size": 2, "sortBy": "id",
                                                                 "orderBy": "desc"}).json()
    assert page["total"] == 5 and page["pages"] == 3 and page["pageNumber"] == 1 and page["pageSize"] == 2
    ids = [int(j) for j in batch["jobIds"]]
    assert [int(j["id"]) for j in page["jobs"]] == sorted(ids, reverse=True)[2:4]
    assert "response" not in page["jobs"][0]
    done = sai.call("GET", f"apps/{sai.app_id}/jobs", params={"statusIn": ["COMPLETED"], "size": 100}).json()
    assert done["total"] == 5
    none = sai.call("GET", f"apps/{sai.app_id}/jobs", params={"statusIn": ["FAILED", "CANCELED"]}).json()
    assert none["total"] == 0
    future = sai.call("GET", f"apps/{sai.app_id}/jobs", params={"createdStartDate": "2999-01-01T00:00:00Z"}).json()
    assert future["total"] == 0
    r = sai.call("GET", f"apps/{sai.app_id}/jobs", params={"size": 100_000})
    assert r.status_code == 400 and "size" in r.json()["message"]


JOB_KEYS = ["id", "uuid", "created", "completed", "callbackUrl", "appId", "status", "input", "metadata", "tags",
            "correct", "jobType", "batchId"]
BATCH_KEYS = ["batchId", "appId", "created", "jobCount", "state", "counts", "error"]


def test_answers_keep_their_keys_in_wire_order(sai):
    one = sai.create(inputs=[SETOSA]).json()
    assert list(one) == ["message", "batchId", "jobCount", "uuid"]
    many = sai.create(inputs=[SETOSA, VIRGINICA]).json()
    assert list(many) == ["message", "batchId", "jobCount"] and many["jobCount"] == 2
    assert list(sai.wait(one["uuid"])) == JOB_KEYS
    response = sai.call("GET", f"jobs/{one['uuid']}/response").json()
    assert list(response) == ["id", "uuid", "status", "response"]  # `error` only for a job that has one
    page = sai.call("GET", f"apps/{sai.app_id}/jobs").json()
    assert list(page) == ["jobs", "total", "pageSize", "pageNumber", "pages"]
    assert [list(j) for j in page["jobs"]] == [JOB_KEYS] * 3
    batch = sai.call("GET", f"apps/{sai.app_id}/batches/{many['batchId']}").json()
    assert list(batch) == BATCH_KEYS + ["jobIds", "jobs"]
    assert [list(j) for j in batch["jobs"]] == [["id", "uuid", "status"]] * 2
    listed = sai.call("GET", f"apps/{sai.app_id}/batches", params={"all": True}).json()
    assert list(listed) == ["batches"] and [list(b) for b in listed["batches"]] == [BATCH_KEYS] * 2

    add_failing_version(sai.client, sai.native, sai.app_id, sai.model.config)  # jobs made from now on fail
    failed = sai.create(inputs=[SETOSA]).json()
    assert sai.wait(failed["uuid"])["status"] == "FAILED"
    response = sai.call("GET", f"jobs/{failed['uuid']}/response").json()
    assert list(response) == ["id", "uuid", "status", "response", "error"]
    assert response["response"] is None and response["error"]["message"]
    restarted = sai.call("POST", f"jobs/{failed['uuid']}/restart").json()
    assert list(restarted) == JOB_KEYS and restarted["completed"] is None


def test_queue_request_bodies(sai):
    parked = sai.create(inputs=[SETOSA], pending=True).json()
    path = f"apps/{sai.app_id}/jobs/queue"
    r = sai.call("POST", path, content=b"{not json")
    assert r.status_code == 400 and r.json() == {"message": "request body is not valid JSON.", "field": "body"}
    r = sai.call("POST", path, json={"jobIds": "1"})
    assert r.status_code == 400 and r.json()["field"] == "jobIds"
    assert sai.call("POST", path, json={"jobIds": []}).json() == {"message": "0 jobs queued", "queued": 0}
    assert sai.job(parked["uuid"])["status"] == "PENDING"
    assert sai.call("POST", path, json={"jobIds": [int(sai.job(parked["uuid"])["id"])]}).json()["queued"] == 1
    assert sai.wait(parked["uuid"])["status"] == "COMPLETED"


def test_parked_jobs_wait_until_queued_and_cancel_rules(sai):
    body = sai.create(inputs=[SETOSA, VIRGINICA], pending=True).json()
    ids = sai.call("GET", f"apps/{sai.app_id}/batches/{body['batchId']}").json()["jobIds"]
    # a job queued after the parked ones runs to the end; the parked ones were passed over
    witness = sai.create(inputs=[SETOSA]).json()
    assert sai.wait(witness["uuid"])["status"] == "COMPLETED"
    assert {sai.job(i)["status"] for i in ids} == {"PENDING"}
    r = sai.call("POST", f"jobs/{ids[0]}/cancel")
    assert r.status_code == 400 and "SCHEDULED, IN_PROGRESS or SUSPENDED" in r.json()["message"]
    queued = sai.call("POST", f"apps/{sai.app_id}/jobs/queue", json={"jobIds": [ids[0]]}).json()
    assert queued["queued"] == 1
    assert sai.wait(ids[0])["status"] == "COMPLETED" and sai.job(ids[1])["status"] == "PENDING"
    r = sai.call("POST", f"jobs/{ids[0]}/cancel")
    assert r.status_code == 400 and "COMPLETED" in r.json()["message"]

    parked = sai.create(inputs=[SETOSA], addToQueue=False).json()
    assert sai.job(parked["uuid"])["status"] == "PENDING"
    sai.call("POST", f"apps/{sai.app_id}/jobs/queue")  # all parked jobs of the app
    assert sai.wait(parked["uuid"])["status"] == "COMPLETED" and sai.wait(ids[1])["status"] == "COMPLETED"


def test_cancel_then_restart(sai):
    # a budget of 0 suspends the org's new jobs: a SUSPENDED job can be cancelled before it runs
    sai.client.put("/v0.5/usage/budget", headers=sai.native, json={"budget_units": 0})
    created = sai.create(inputs=[SETOSA]).json()
    assert sai.wait(created["uuid"], statuses=("SUSPENDED",), timeout=30)["status"] == "SUSPENDED"
    cancelled = sai.call("POST", f"jobs/{created['uuid']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELED"
    assert cancelled.json()["completed"]
    sai.client.put("/v0.5/usage/budget", headers=sai.native, json={"budget_units": None})
    restarted = sai.call("POST", f"jobs/{created['uuid']}/restart")
    assert restarted.status_code == 200 and restarted.json()["status"] in ("SCHEDULED", "IN_PROGRESS", "COMPLETED")
    assert sai.wait(created["uuid"])["status"] == "COMPLETED"
    r = sai.call("POST", f"jobs/{created['uuid']}/restart")
    assert r.status_code == 400 and "FAILED, CANCELED or EXPIRED" in r.json()["message"]


def test_review_tags_and_export(sai):
    created = sai.create(inputs=[SETOSA], tags=["first"]).json()
    job = sai.wait(created["uuid"])
    r = sai.call("PATCH", f"jobs/{job['id']}/review", json={})
    assert r.status_code == 400 and "response" in r.json()["message"]
    r = sai.call("PATCH", f"jobs/{job['id']}/review", json={"response": {"label": "versicolor"}, "correct": False})
    assert r.status_code == 200
    reviewed = sai.job(job["id"])
    assert reviewed["status"] == "REVIEWED" and reviewed["correct"] is False
    assert sai.call("GET", f"jobs/{job['id']}/response").json()["response"] == {"label": "versicolor"}
    listed = sai.call("GET", f"apps/{sai.app_id}/jobs", params={"statusIn": "REVIEWED"}).json()
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]

    assert sai.call("PUT", f"apps/{sai.app_id}/jobs/tags", params={"idSearch": job["id"]},
                    json={"tags": ["second"]}).json()["updated"] == 1
    assert sai.job(job["id"])["tags"] == ["first", "second"]
    assert sai.call("DELETE", f"apps/{sai.app_id}/jobs/tags", params={"idSearch": job["uuid"]},
                    json={"tags": ["first"]}).json()["updated"] == 1
    assert sai.job(job["id"])["tags"] == ["second"]
    tagged = sai.call("GET", f"apps/{sai.app_id}/jobs", params={"tags": ["second"]}).json()
    assert tagged["total"] == 1

    op = sai.call("POST", f"apps/{sai.app_id}/job_responses").json()["operationId"]
    status = sai.call("GET", f"operations/{sai.app_id}/{op}").json()
    assert status["id"] == op and status["status"] == "COMPLETED"
    url = sai.call("POST", f"operations/{sai.app_id}/{op}/download-url",
                   params={"secondsTtl": 60}).json()["downloadUrl"]
    archive = zipfile.ZipFile(io.BytesIO(sai.client.get(url).content))
    jobs = json.load(archive.open(archive.namelist()[0]))
    assert [j["id"] for j in jobs] == [job["id"]] and jobs[0]["response"] == {"label": "versicolor"}


@pytest.fixture
def file_server():
    files = FileServer()
    yield files
    files.close()


def test_inputs_file_url(sai, server, file_server):
    file_server.files = {"/inputs.json": json.dumps([SETOSA, VIRGINICA]).encode(),
                     "/big.json": b"[" + b" " * (5 << 20) + b"]", "/object.json": b'{"a": 1}'}
    url = file_server.url + "/inputs.json"
    r = sai.create(inputsFileUrl=url)
    assert r.status_code == 400 and "refused" in r.json()["message"]  # loopback refused by default
    server.ctx.settings.fetch.allow_private_networks = True
    try:
        body = sai.create(inputsFileUrl=url).json()
        assert body["jobCount"] == 2
        too_big = sai.create(inputsFileUrl=file_server.url + "/big.json")
        assert too_big.status_code == 413 and "message" in too_big.json()
        assert sai.create(inputsFileUrl=file_server.url + "/missing.json").status_code == 400
        assert "array of objects" in sai.create(inputsFileUrl=file_server.url + "/object.json").json()["message"]
    finally:
        server.ctx.settings.fetch.allow_private_networks = False
    assert sai.job_total() == 2


@pytest.mark.parametrize("body, status, words", [
    ({}, 400, "inputs"),
    ({"inputs": [SETOSA], "inputsFileUrl": "https://example.com/a.json"}, 400, "only one"),
    ({"inputs": {"a": 1}}, 400, "array of objects"),
    ({"inputs": [1, 2]}, 400, "array of objects"),
    ({"inputs": []}, 400, "array of objects"),
    ({"inputs": [SETOSA], "callbackUrl": "http://169.254.169.254/"}, 400, "callbackUrl"),
    ({"inputs": [SETOSA], "callbackUrl": "ftp://example.com/"}, 400, "callbackUrl"),
    ({"inputs": [SETOSA], "jobType": "WEIRD"}, 400, "jobType"),
    ({"inputs": [{"x": "y" * 1000}] * 5000}, 413, "larger"),
])
def test_bad_create_requests(sai, body, status, words):
    r = sai.create(**body)
    assert r.status_code == status, r.text
    assert words in r.json()["message"]
    assert sai.job_total() == 0


def test_unknown_app_job_and_other_orgs(sai, server, example_model):
    assert sai.call("POST", f"apps/{uuid.uuid4()}/jobs", json={"inputs": [SETOSA]}).status_code == 404
    assert sai.call("GET", "jobs/999999999").status_code == 404
    mine = sai.create(inputs=[SETOSA]).json()
    other = SuperAI(server, example_model)
    assert other.call("GET", f"jobs/{mine['uuid']}").status_code == 404
    assert other.call("POST", f"apps/{sai.app_id}/jobs", json={"inputs": [SETOSA]}).status_code == 404
    assert sai.client.get(f"/v1/jobs/{mine['uuid']}").status_code == 401


def test_callbacks_job_review_and_batch(server, example_model):
    receiver = Receiver()
    try:
        sai = SuperAI(server, example_model, batch_callback_url=receiver.url + "/batch")
        body = sai.create(inputs=[SETOSA, VIRGINICA], callbackUrl=receiver.url + "/job/").json()
        ids = sai.call("GET", f"apps/{sai.app_id}/batches/{body['batchId']}").json()["jobIds"]
        for job_id in ids:
            sai.wait(job_id)
        wait_until(lambda: len(receiver.received) >= 3, timeout=30)
        jobs = [json.loads(r["body"]) for r in receiver.received if r["path"] == "/hook/job/"]
        assert sorted(str(j["id"]) for j in jobs) == sorted(ids)
        assert all(j["state"] == "COMPLETED" and j["action"] == "RESOLVED" and j["uuid"] for j in jobs)
        [batch] = [json.loads(r["body"]) for r in receiver.received if r["path"] == "/hook/batch"]
        assert batch == {"version": "2", "entityType": "batch", "entityId": body["batchId"], "state": "COMPLETED",
                         "appId": sai.app_id}
        sai.call("PATCH", f"jobs/{ids[0]}/review", json={"correct": True})
        wait_until(lambda: any(json.loads(r["body"]).get("action") == "ACCEPTED" for r in receiver.received),
                   timeout=30)
        assert all("webhook-signature" in {k.lower() for k in r["headers"]} for r in receiver.received)
    finally:
        receiver.close()


def test_completion_window_expires_waiting_jobs(server, example_model):
    sai = SuperAI(server, example_model, completion_window_seconds=1)
    parked = sai.create(inputs=[SETOSA], pending=True).json()
    job = sai.wait(parked["uuid"], statuses=("EXPIRED",), timeout=30)
    assert job["completed"]
    restarted = sai.call("POST", f"jobs/{parked['uuid']}/restart")
    assert restarted.status_code == 200
    assert sai.wait(parked["uuid"])["status"] == "COMPLETED"  # a restart drops the stale deadline


def test_budget_suspends_and_resumes(sai):
    assert sai.client.put("/v0.5/usage/budget", headers=sai.native, json={"budget_units": 0}).status_code == 200
    body = sai.create(inputs=[SETOSA]).json()
    assert sai.wait(body["uuid"], statuses=("SUSPENDED",), timeout=30)["status"] == "SUSPENDED"
    assert sai.client.put("/v0.5/usage/budget", headers=sai.native, json={"budget_units": None}).status_code == 200
    assert sai.wait(body["uuid"])["status"] == "COMPLETED"
    usage = sai.client.get("/v0.5/usage", headers=sai.native).json()
    assert usage["budget_units"] is None and usage["by_app"][0]["surface"] == "superai"


def test_responses_of_chunked_jobs_are_kept_in_their_rows_and_download_through_signed_links(sai):
    """Records created together run in one chunk; each small response is stored in its output row
    (no blob of its own) and still reads the same on /v1 and through the native outputs' links."""
    body = sai.create(inputs=[SETOSA, VIRGINICA, SETOSA]).json()
    wait_until(lambda: sai.call("GET", f"apps/{sai.app_id}/batches/{body['batchId']}").json()["state"] == "COMPLETED",
               timeout=60)
    jobs = [sai.call("GET", f"jobs/{j['uuid']}/response").json()
            for j in sai.call("GET", f"apps/{sai.app_id}/jobs").json()["jobs"]]
    assert len(jobs) == 3
    listed = sai.client.get("/v0.5/batch/jobs", headers=sai.native, params={"limit": 100}).json()["jobs"]
    for job in jobs:
        assert job["response"]["label"] in ("setosa", "virginica")
    downloaded = []
    for entry in listed:
        outputs = sai.client.get(f"/v0.5/batch/jobs/{entry['id']}/outputs", headers=sai.native).json()["outputs"]
        (output,) = outputs
        link = sai.client.get(output["data"]["ref"])
        assert link.status_code == 200, link.text
        downloaded.append(json.loads(link.text))
        assert not sai.ctx.blobs.exists(_stored_key(sai, entry["id"]))  # no blob: the row holds it
    assert sorted(d["label"] for d in downloaded) == sorted(j["response"]["label"] for j in jobs)


def _stored_key(sai, job_id: str) -> str:
    from sqlalchemy import select

    from jobport.store.tables import JobOutput

    with sai.ctx.sessions() as session:
        output = session.scalars(select(JobOutput).where(JobOutput.job_id == job_id)).one()
        assert output.content is not None and output.num_bytes == len(output.content)
        return output.blob_key


def test_status_in_selects_exactly_the_jobs_of_each_status(sai):
    body = sai.create(inputs=[SETOSA, VIRGINICA]).json()
    ids = sai.call("GET", f"apps/{sai.app_id}/batches/{body['batchId']}").json()["jobIds"]
    for job_id in ids:
        sai.wait(job_id)
    reviewed, plain = ids
    assert sai.call("PATCH", f"jobs/{reviewed}/review", json={"correct": True}).status_code == 200

    def listed(*words):
        page = sai.call("GET", f"apps/{sai.app_id}/jobs", params={"statusIn": list(words), "size": 100}).json()
        assert page["total"] == len(page["jobs"])
        return sorted(j["id"] for j in page["jobs"])

    assert listed("COMPLETED") == [plain]
    assert listed("REVIEWED") == [reviewed]
    assert listed("REVIEWED", "FAILED") == [reviewed]
    assert listed("COMPLETED", "CANCELED") == [plain]
    assert listed("COMPLETED", "REVIEWED") == sorted(ids)
    assert listed("COMPLETED,REVIEWED") == sorted(ids)  # comma-separated, as the SDK may send it

    op = sai.call("POST", f"apps/{sai.app_id}/job_responses", params={"statusIn": "COMPLETED"}).json()["operationId"]
    url = sai.call("POST", f"operations/{sai.app_id}/{op}/download-url",
                   params={"secondsTtl": 60}).json()["downloadUrl"]
    archive = zipfile.ZipFile(io.BytesIO(sai.client.get(url).content))
    assert [j["id"] for j in json.load(archive.open(archive.namelist()[0]))] == [plain]


def test_batch_counts_spell_canceled_as_super_ai_jobs_do(sai):
    sai.client.put("/v0.5/usage/budget", headers=sai.native, json={"budget_units": 0})  # jobs wait SUSPENDED
    try:
        body = sai.create(inputs=[SETOSA, VIRGINICA]).json()
        ids = sai.call("GET", f"apps/{sai.app_id}/batches/{body['batchId']}").json()["jobIds"]
        for job_id in ids:
            sai.wait(job_id, statuses=("SUSPENDED",), timeout=30)
            assert sai.call("POST", f"jobs/{job_id}/cancel").json()["status"] == "CANCELED"
    finally:
        sai.client.put("/v0.5/usage/budget", headers=sai.native, json={"budget_units": None})
    batch = sai.call("GET", f"apps/{sai.app_id}/batches/{body['batchId']}").json()
    assert batch["counts"] == {"CANCELED": 2} and batch["state"] == "FAILED"
    listed = sai.call("GET", f"apps/{sai.app_id}/batches", params={"all": "true"}).json()["batches"]
    assert [b["counts"] for b in listed if b["batchId"] == body["batchId"]] == [{"CANCELED": 2}]


def test_each_create_runs_the_latest_active_version_as_it_is_now(sai):
    """The server keeps app versions it looked up; adding or deactivating one applies to the very
    next create."""
    first = sai.create(inputs=[SETOSA]).json()["uuid"]
    assert sai.wait(first)["status"] == "COMPLETED"
    add_failing_version(sai.client, sai.native, sai.app_id, sai.model.config)
    assert sai.wait(sai.create(inputs=[SETOSA]).json()["uuid"])["status"] == "FAILED"  # 2.0.0 at once
    versions = sai.client.get(f"/v0.5/apps/{sai.app_id}", headers=sai.native).json()["versions"]
    labels = [v["version"] for v in versions]
    assert "2.0.0" in labels and len(labels) == 2
    r = sai.client.post(f"/v0.5/apps/{sai.app_id}/versions/2.0.0/deactivate", headers=sai.native)
    assert r.status_code == 200, r.text
    assert sai.wait(sai.create(inputs=[SETOSA]).json()["uuid"])["status"] == "COMPLETED"  # the first again
    (older,) = [label for label in labels if label != "2.0.0"]
    assert sai.client.post(f"/v0.5/apps/{sai.app_id}/versions/{older}/deactivate",
                           headers=sai.native).status_code == 200
    before = sai.job_total()
    r = sai.create(inputs=[SETOSA])
    assert r.status_code == 400 and "no active version" in r.json()["message"]
    assert sai.job_total() == before
    assert sai.client.post(f"/v0.5/apps/{sai.app_id}/versions/{older}/activate",
                           headers=sai.native).status_code == 200
    assert sai.create(inputs=[SETOSA]).status_code == 200
