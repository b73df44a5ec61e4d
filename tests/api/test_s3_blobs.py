"""A server whose blobs live in an S3-compatible bucket (moto's S3 server on loopback): uploads go
to the bucket, worker processes read inputs and references from it and write outputs to it, output
and Gravity result links are presigned S3 URLs that download without the server, and a bucket that
is gone answers 503 in each surface's own error body, naming the store, with nothing recorded."""

from __future__ import annotations

import csv
import io
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import Api
from helpers import machine_csv, machine_job_body, make_settings, upload, wait_for
from jobport.server import create_app
from jobport.services import auth
from jobport.testing.s3server import S3Server

IRIS_CSV = (b"sepal_length,sepal_width,petal_length,petal_width\n"
            b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n5.9,3.0,4.2,1.5\n")
GRAVITY_DATA = '{"mimeType": "text/csv; header=present", "version": null}'


@pytest.fixture(scope="module")
def s3():
    with S3Server(bucket="api-blobs") as server:
        yield server


def _serve(s3: S3Server, home, **values) -> TestClient:
    return TestClient(create_app(make_settings(home=home, admin_key=f"admin-{uuid.uuid4().hex}", workers=1,
                                               **s3.settings_values("api", **values))))


@pytest.fixture(scope="module")
def served(s3, tmp_path_factory):
    with _serve(s3, tmp_path_factory.mktemp("s3-home")) as client:  # local executor: a worker process
        yield client


def _org(client: TestClient) -> Api:
    org_id, key = auth.create_key(client.app.state.ctx, f"org-{uuid.uuid4().hex[:8]}")
    return Api(client, key, org_id)


def _bucket_keys(s3: S3Server, bucket: str, prefix: str) -> list[str]:
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def test_uploads_are_stored_in_the_bucket_and_download_whole(s3, served):
    api = _org(served)
    big = b"0123456789abcdef\n" * (6 * 1024 * 1024 // 17 + 1)  # over one 5 MiB part: a multipart upload
    uploaded = upload(api, "notes.txt", big, "text/plain")
    assert _bucket_keys(s3, s3.bucket, f"api/orgs/{api.org_id}/files/") == [
        f"api/orgs/{api.org_id}/files/{uploaded['file_uid']}"]
    r = api.get("/v0.5/files/download/notes.txt")
    assert r.status_code == 200 and r.content == big and r.headers["content-length"] == str(len(big))


def test_a_machine_state_job_runs_from_s3_and_links_its_outputs_presigned(s3, served):
    api = _org(served)
    upload(api, "idle_shots.csv", machine_csv("idle", 200, seed=11))
    upload(api, "run_shots.csv", machine_csv("run", 200, seed=12))
    second_half = machine_csv("run", 100, seed=4, start=100).split(b"\n", 1)[1]
    upload(api, "line.csv", machine_csv("idle", 100, seed=3) + second_half)
    r = api.post("/v0.5/batch/jobs", json=machine_job_body(["line.csv"], {"idle_shots.csv": "idle",
                                                                          "run_shots.csv": "run"}))
    assert r.status_code == 201, r.text
    job = wait_for(api, r.json()["id"])
    assert job["status"] == "COMPLETED", job

    outputs = api.get(f"/v0.5/batch/jobs/{job['id']}/outputs").json()["outputs"]
    assert outputs and all(o["data"]["ref"].startswith(f"{s3.endpoint_url}/{s3.bucket}/api/jobs/") for o in outputs)
    rows = []
    for out in outputs:
        resp = httpx.get(out["data"]["ref"])  # straight from the store, no server involved
        assert resp.status_code == 200
        assert resp.headers["content-disposition"] == f'attachment; filename="{out["data"]["filename"]}"'
        rows += list(csv.DictReader(io.StringIO(resp.text)))
    assert len(rows) == (200 - 16) // 4 + 1 and rows[0]["Prediction"] == "idle" and rows[-1]["Prediction"] == "run"
    assert sum((int(row["timestamp"]) < 100) == (row["Prediction"] == "idle") for row in rows) / len(rows) > 0.9
    assert _bucket_keys(s3, s3.bucket, f"api/jobs/{job['id']}/outputs/")

    inputs = api.get(f"/v0.5/batch/jobs/{job['id']}/inputs").json()["inputs"]
    line = next(i for i in inputs if i["file_id"] == "line.csv")
    assert httpx.get(line["data"]["ref"]).content.startswith(b"timestamp,a,b,c\n")
    assert not (served.app.state.ctx.settings.home / "blobs").exists()  # nothing went to a local directory


def test_the_gravity_example_app_reads_its_model_from_s3_and_links_the_result(s3, served):
    key = (served.app.state.ctx.settings.home / "example-app.key").read_text().strip()
    r = served.post("/api/v1/jobs", headers={"x-api-key": key}, data={"data": GRAVITY_DATA},
                    files={"file": ("iris.csv", IRIS_CSV, "text/csv")})
    assert r.status_code == 200 and r.json()["data"]["status"] == "success", r.text
    link = served.get(f"/api/v1/jobs/result-link/{r.json()['data']['id']}", headers={"x-api-key": key}).json()
    assert link["isError"] is False and link["data"].startswith(f"{s3.endpoint_url}/{s3.bucket}/api/jobs/")
    result = httpx.get(link["data"])
    assert result.status_code == 200
    assert [row["label"] for row in csv.DictReader(io.StringIO(result.text))] == ["setosa", "virginica", "versicolor"]


def test_a_bucket_that_is_gone_answers_503_naming_the_store_and_records_nothing(s3, tmp_path):
    s3.create_bucket("doomed")
    with _serve(s3, tmp_path, blobs_url="s3://doomed/x", executor="inline") as client:
        example_key = (tmp_path / "example-app.key").read_text().strip()  # its model went to the bucket
        doomed = s3.client()
        for key in _bucket_keys(s3, "doomed", ""):
            doomed.delete_object(Bucket="doomed", Key=key)
        doomed.delete_bucket(Bucket="doomed")

        api = _org(client)
        r = api.post("/v0.5/files", files={"file": ("a.csv", b"a,b\n1,2\n", "text/csv")})
        assert r.status_code == 503, r.text
        error = r.json()["errors"][0]
        assert error["code"] == "blob_store_unavailable" and error["error_uid"].startswith("err-")
        assert error["message"].startswith("blob store s3://doomed/x is unavailable: writing orgs/")
        assert "NoSuchBucket" in error["message"] and "JOBPORT_BLOBS_URL" in error["suggestion"]
        assert api.get("/v0.5/files/metadata").json()["data"] == []

        gravity = {"x-api-key": example_key}
        r = client.post("/api/v1/jobs", headers=gravity, data={"data": GRAVITY_DATA},
                        files={"file": ("iris.csv", IRIS_CSV, "text/csv")})
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["isError"] is True and body["data"] is None
        assert body["errorMessage"].startswith("blob store s3://doomed/x is unavailable")
        assert client.get("/api/v1/jobs/latest", headers=gravity).json()["data"] == []
