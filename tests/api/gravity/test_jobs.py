"""The Gravity surface (`/api/v1/jobs`) in-process on SQLite and PostgreSQL, with a real ONNX model
hosted as an app: the vendor's request shapes, envelope, mapping, defaults, billing, rename,
result links, usage, and every bad input answered 400 in the envelope with nothing stored."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers import make_settings
from jobport.server import create_app
from jobport.services import auth

IRIS_CSV = (b"sepal_length,sepal_width,petal_length,petal_width\n"
            b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n5.9,3.0,4.2,1.5\n")
EXPECTED = ["setosa", "virginica", "versicolor"]
CSV_MIME = "text/csv; header=present"



class Gravity:
    """One org with the example model hosted as an app, and a key bound to it."""

    def __init__(self, server, model, pricing=(1000, 20)) -> None:
        self.client: TestClient = server.client
        self.ctx = server.ctx
        self.org_name = f"gravity-{uuid.uuid4().hex[:8]}"
        org_id, self.admin_key = auth.create_key(self.ctx, self.org_name)
        admin = {"Authorization": f"Bearer {self.admin_key}"}
        r = self.client.post("/v0.5/files", headers=admin,
                             files={"file": ("iris.onnx", Path(model.path).read_bytes(), "application/octet-stream")})
        assert r.status_code == 200, r.text
        r = self.client.post("/v0.5/apps", headers=admin, json={
            "name": "iris", "pipeline_key": "tabular-model", "config": model.config,
            "references": {"worker.model": [{"file_id": "iris.onnx"}]},
            "pricing": {"records_per_group": pricing[0], "units_per_group": pricing[1]}})
        assert r.status_code == 201, r.text
        self.app = r.json()
        _, self.key = auth.create_key(self.ctx, self.org_name, app=self.app["id"])
        self.admin = admin

    @property
    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.key}

    def post(self, data: dict | str | None, file: tuple | None, as_json_part: bool = False, key: str | None = None):
        files = {}
        form = {}
        if data is not None:
            text = data if isinstance(data, str) else json.dumps(data)
            if as_json_part:
                files["data"] = (None, text, "application/json; charset=utf-8")
            else:
                form["data"] = text
        if file is not None:
            files["file"] = file
        return self.client.post("/api/v1/jobs", headers={"x-api-key": key or self.key}, data=form, files=files)

    def result_rows(self, job_id: str) -> tuple[str, str]:
        link = self.client.get(f"/api/v1/jobs/result-link/{job_id}", headers=self.headers).json()
        assert link["isError"] is False, link
        resp = self.client.get(link["data"])  # no auth header
        assert resp.status_code == 200
        return link["data"], resp.text

    def job_count(self) -> int:
        return self.client.get("/v0.5/batch/jobs", headers=self.admin).json()["total"]


@pytest.fixture
def gravity(server, example_model) -> Gravity:
    return Gravity(server, example_model)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_vendor_example_flow(gravity):
    cfg = {"version": None, "mimeType": CSV_MIME, "name": None, "mapping": None, "outputMapping": None,
           "data": None, "groupId": None, "isGrouped": False, "versionId": None, "containerId": None}
    r = gravity.post(cfg, ("example.csv", IRIS_CSV))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["isError"] is False and body["errorMessage"] is None
    job = body["data"]
    assert uuid.UUID(job["id"]) and job["status"] == "success"
    assert job["name"] == "example.csv" and job["inputFileName"] == "example.csv" and job["inputMime"] == CSV_MIME
    assert (job["recordCount"], job["recordGroupCount"], job["billedUsage"]) == (3, 1, 20)
    assert job["processingTimeMS"] >= 0 and job["versionNumber"] == "1.0.0"
    assert job["createdDateUtc"].endswith("Z") and job["lastUpdatedUtc"].endswith("Z")

    got = gravity.client.get(f"/api/v1/jobs/{job['id']}", headers=gravity.headers).json()
    assert got["isError"] is False and got["data"]["id"] == job["id"] and got["data"]["status"] == "success"

    link, text = gravity.result_rows(job["id"])
    assert f"data_{job['id'].replace('-', '')[:8]}.csv" in link
    rows = csv_rows(text)
    assert [r["label"] for r in rows] == EXPECTED
    assert rows[0]["sepal_length"] == "5.1"  # inputs are carried into the output
    assert abs(sum(float(rows[0][f"probability_{s}"]) for s in ("setosa", "versicolor", "virginica")) - 1) < 1e-4
    assert gravity.client.get(link + "x").status_code == 403  # tampered link


def test_data_as_json_part_and_job_name(gravity):
    r = gravity.post({"mimeType": "text/csv", "jobName": "from-csharp"}, ("input.dat", IRIS_CSV, "text/csv"),
                     as_json_part=True)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["name"] == "from-csharp" and r.json()["data"]["status"] == "success"


def test_mapping_defaults_and_output_mapping(gravity):
    source = b"sl,sw,pl,pw,id\n5.1,3.5,1.4,0.2,a\n6.7,3.0,5.2,,b\n"
    mapping = [{"source": "sl", "destination": "sepal_length", "defaultValue": None},
               {"source": "sw", "destination": "sepal_width"},
               {"source": "pl", "destination": "petal_length"},
               {"source": "pw", "destination": "petal_width", "defaultValue": 2.3}]
    output_mapping = [{"source": "id", "destination": "Id"}, {"source": "label", "destination": "Species"},
                      {"source": "missing_field", "destination": "Note", "defaultValue": "n/a"}]
    r = gravity.post({"mimeType": CSV_MIME, "mapping": mapping, "outputMapping": output_mapping},
                     ("renamed.csv", source))
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "success", r.json()
    _, text = gravity.result_rows(r.json()["data"]["id"])
    rows = csv_rows(text)
    assert list(rows[0]) == ["Id", "Species", "Note"]
    assert rows == [{"Id": "a", "Species": "setosa", "Note": "n/a"}, {"Id": "b", "Species": "virginica", "Note": "n/a"}]


def test_headerless_csv_and_json_array(gravity):
    headerless = b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"
    r = gravity.post({"mimeType": "text/csv; header=absent"}, ("noheader.csv", headerless))
    assert r.json()["data"]["status"] == "success", r.json()
    _, text = gravity.result_rows(r.json()["data"]["id"])
    assert [row["label"] for row in csv_rows(text)] == ["setosa", "virginica"]

    records = [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2, "ref": 1},
               {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3, "ref": 2}]
    r = gravity.post({"mimeType": "application/json"}, ("records.json", json.dumps(records).encode()))
    job = r.json()["data"]
    assert job["status"] == "success" and job["recordCount"] == 2
    link, text = gravity.result_rows(job["id"])
    assert f"data_{job['id'].replace('-', '')[:8]}.json" in link
    out = json.loads(text)
    assert [o["label"] for o in out] == ["setosa", "virginica"] and [o["ref"] for o in out] == [1, 2]


def test_billing_is_set_at_creation_and_rename_keeps_it(server, example_model):
    g = Gravity(server, example_model, pricing=(2, 7))  # 7 units per started group of 2 records
    five = IRIS_CSV + b"5.0,3.4,1.5,0.2\n6.3,2.9,5.6,1.8\n"
    job = g.post({"mimeType": CSV_MIME}, ("five.csv", five)).json()["data"]
    assert (job["recordCount"], job["recordGroupCount"], job["billedUsage"]) == (5, 3, 21)
    r = g.client.put(f"/api/v1/jobs/{job['id']}", headers=g.headers, json={"name": "renamed"})
    assert r.status_code == 200 and r.json()["data"]["name"] == "renamed"
    assert r.json()["data"]["billedUsage"] == 21 and r.json()["data"]["lastUpdatedUtc"] >= job["lastUpdatedUtc"]
    again = g.client.get(f"/api/v1/jobs/{job['id']}", headers=g.headers).json()["data"]
    assert again["name"] == "renamed" and again["billedUsage"] == 21 and again["recordGroupCount"] == 3

    second = g.post({"mimeType": CSV_MIME}, ("three.csv", IRIS_CSV)).json()["data"]
    latest = g.client.get("/api/v1/jobs/latest", headers=g.headers).json()
    assert latest["isError"] is False and [j["id"] for j in latest["data"]] == [second["id"], job["id"]]

    usage = g.client.get("/v0.5/usage", headers=g.admin).json()
    assert usage["totals"]["billed_units"] == 21 + 14 and usage["totals"]["records"] == 8
    assert usage["by_app"][0]["app_name"] == "iris" and usage["by_app"][0]["surface"] == "gravity"
    assert [e["job_id"] for e in usage["entries"]] and usage["total"] == 2


def test_versions_null_latest_and_inactive(gravity, example_model):
    app_id = gravity.app["id"]
    r = gravity.client.post(f"/v0.5/apps/{app_id}/versions", headers=gravity.admin, json={
        "version": "1.1.0", "config": example_model.config, "references": {"worker.model": [{"file_id": "iris.onnx"}]},
        "pricing": {"records_per_group": 1, "units_per_group": 1}})
    assert r.status_code == 201, r.text
    job = gravity.post({"mimeType": CSV_MIME, "version": None}, ("a.csv", IRIS_CSV)).json()["data"]
    assert job["versionNumber"] == "1.1.0" and job["billedUsage"] == 3
    job = gravity.post({"mimeType": CSV_MIME, "version": "1.0.0"}, ("a.csv", IRIS_CSV)).json()["data"]
    assert job["versionNumber"] == "1.0.0" and job["billedUsage"] == 20

    deactivated = gravity.client.post(f"/v0.5/apps/{app_id}/versions/1.0.0/deactivate", headers=gravity.admin)
    assert deactivated.status_code == 200
    before = gravity.job_count()
    for version in ("1.0.0", "9.9.9"):
        r = gravity.post({"mimeType": CSV_MIME, "version": version}, ("a.csv", IRIS_CSV))
        assert r.status_code == 400 and r.json()["isError"] is True and version in r.json()["errorMessage"]
    assert gravity.job_count() == before


@pytest.mark.parametrize("case, message", [
    ("no_file", "file"),
    ("no_data", "data"),
    ("data_not_json", "not valid JSON"),
    ("no_mime", "mimeType"),
    ("bad_mime", "application/pdf"),
    ("header_lacks_column", "petal_width"),
    ("bad_row", "line 3"),
    ("json_not_array", "array"),
    ("missing_source", "pw"),
])
def test_bad_input_is_400_in_the_envelope_and_nothing_is_stored(gravity, case, message):
    good = {"mimeType": CSV_MIME}
    posts = {
        "no_file": lambda: gravity.post(good, None),
        "no_data": lambda: gravity.post(None, ("a.csv", IRIS_CSV)),
        "data_not_json": lambda: gravity.post("{mimeType: csv", ("a.csv", IRIS_CSV)),
        "no_mime": lambda: gravity.post({"name": "x"}, ("a.dat", IRIS_CSV, "application/octet-stream")),
        "bad_mime": lambda: gravity.post({"mimeType": "application/pdf"}, ("a.pdf", b"%PDF-1.4")),
        "header_lacks_column": lambda: gravity.post(good, ("a.csv", b"sepal_length,sepal_width,petal_length\n1,2,3\n")),
        "bad_row": lambda: gravity.post(good, ("a.csv", IRIS_CSV.replace(b"6.7,3.0", b"6.7,abc"))),
        "json_not_array": lambda: gravity.post({"mimeType": "application/json"}, ("a.json", b'{"sepal_length": 1}')),
        "missing_source": lambda: gravity.post({"mimeType": CSV_MIME, "mapping": [
            {"source": "pw", "destination": "petal_width"}]}, ("a.csv", IRIS_CSV)),
    }
    jobs_dir = gravity.ctx.settings.blob_root / "jobs"
    before = set(jobs_dir.glob("*/inputs/*")) if jobs_dir.exists() else set()
    r = posts[case]()
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["isError"] is True and body["data"] is None and message in body["errorMessage"], body
    assert gravity.job_count() == 0
    after = set(jobs_dir.glob("*/inputs/*")) if jobs_dir.exists() else set()
    assert after <= before  # the posted file was removed again


def test_auth_and_ownership(server, gravity, example_model):
    assert gravity.client.get("/api/v1/jobs/latest").status_code == 401
    r = gravity.client.get("/api/v1/jobs/latest", headers={"x-api-key": "nope"})
    assert r.status_code == 401 and r.json()["isError"] is True
    r = gravity.post({"mimeType": CSV_MIME}, ("a.csv", IRIS_CSV), key=gravity.admin_key)
    assert r.status_code == 400 and "not bound to an app" in r.json()["errorMessage"]

    mine = gravity.post({"mimeType": CSV_MIME}, ("a.csv", IRIS_CSV)).json()["data"]
    other = Gravity(server, example_model)
    for method, path in (("GET", f"/api/v1/jobs/{mine['id']}"), ("PUT", f"/api/v1/jobs/{mine['id']}"),
                         ("GET", f"/api/v1/jobs/result-link/{mine['id']}")):
        r = other.client.request(method, path, headers=other.headers, json={"name": "stolen"})
        assert r.status_code == 404 and r.json()["isError"] is True
    assert gravity.client.get(f"/api/v1/jobs/{mine['id']}", headers=gravity.headers).json()["data"]["name"] == "a.csv"
    r = gravity.client.put(f"/api/v1/jobs/{mine['id']}", headers=gravity.headers, json={})
    assert r.status_code == 400 and "name" in r.json()["errorMessage"]


def test_file_over_the_limit_is_413_in_the_envelope(gravity):
    big = b"sepal_length,sepal_width,petal_length,petal_width\n" + b"5.1,3.5,1.4,0.2\n" * 200_000  # > 2 MB test limit
    r = gravity.post({"mimeType": CSV_MIME}, ("big.csv", big))
    assert r.status_code == 413 and r.json()["isError"] is True
    assert gravity.job_count() == 0


def test_unfinished_job_answers_incomplete_and_has_no_result_link(tmp_path, example_model):
    settings = make_settings(home=tmp_path, admin_key="idle-admin", gravity_wait_seconds=0.2, example_app=False)
    with TestClient(create_app(settings, run_scheduler=False)) as client:
        class Idle:
            pass
        idle = Idle()
        idle.client, idle.ctx = client, client.app.state.ctx
        g = Gravity(idle, example_model)
        job = g.post({"mimeType": CSV_MIME}, ("a.csv", IRIS_CSV)).json()["data"]
        assert job["status"] == "incomplete" and job["processingTimeMS"] == 0
        r = client.get(f"/api/v1/jobs/result-link/{job['id']}", headers=g.headers)
        assert r.status_code == 400 and r.json()["isError"] is True and "not finished" in r.json()["errorMessage"]


def test_callback_url_extension_posts_the_gravity_job(gravity):
    from receivers import Receiver

    receiver = Receiver()
    try:
        r = gravity.post({"mimeType": CSV_MIME, "callbackUrl": receiver.url}, ("cb.csv", IRIS_CSV))
        job = r.json()["data"]
        assert job["status"] == "success"
        deadline = time.monotonic() + 30
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
        body = json.loads(receiver.received[0]["body"])
        assert body["type"] == "job.completed"
        assert body["data"]["id"] == job["id"] and body["data"]["status"] == "success"
    finally:
        receiver.close()
    r = gravity.post({"mimeType": CSV_MIME, "callbackUrl": "http://169.254.169.254/"}, ("cb.csv", IRIS_CSV))
    assert r.status_code == 400 and "callbackUrl" in r.json()["errorMessage"]


def test_a_language_model_app_bills_one_record_per_line(server):
    _, admin_key = auth.create_key(server.ctx, org := f"llm-{uuid.uuid4().hex[:8]}")
    admin = {"Authorization": f"Bearer {admin_key}"}
    r = server.client.post("/v0.5/apps", headers=admin, json={
        "name": "describe", "pipeline_key": "activity-detection",
        "config": {"generation": {"do_sample": False, "max_new_tokens": 16}}})
    assert r.status_code == 201, r.text
    _, key = auth.create_key(server.ctx, org, app=r.json()["id"])
    lines = b'{"prompt": "What is 2+2?"}\n{"prompt": "Name a colour."}\nnot json\n'
    r = server.client.post("/api/v1/jobs", headers={"x-api-key": key},
                           data={"data": json.dumps({"mimeType": "application/x-ndjson"})},
                           files={"file": ("prompts.jsonl", lines)})
    job = r.json()["data"]
    assert job["status"] == "success" and job["recordCount"] == 3 and job["billedUsage"] == 3
    link = server.client.get(f"/api/v1/jobs/result-link/{job['id']}", headers={"x-api-key": key}).json()["data"]
    rows = [json.loads(line) for line in server.client.get(link).text.splitlines()]
    assert [row["line_index"] for row in rows] == [0, 1, 2] and "4" in rows[0]["prediction"]
    assert rows[2]["prediction"] is None and "parse error" in rows[2]["error"]


def test_csharp_client_null_mime_type_takes_the_file_part_content_type(gravity):
    # The official C# client: `data` as a JSON part with mimeType null; the type only on the file part
    cfg = {"version": None, "mimeType": None, "jobName": "from-csharp", "mapping": None, "outputMapping": None}
    r = gravity.post(cfg, ("input.dat", IRIS_CSV, CSV_MIME), as_json_part=True)
    assert r.status_code == 200, r.text
    job = r.json()["data"]
    assert job["status"] == "success" and job["inputMime"] == CSV_MIME and job["name"] == "from-csharp"
    _, text = gravity.result_rows(job["id"])
    assert [row["label"] for row in csv_rows(text)] == EXPECTED


@pytest.mark.parametrize("filename, content, mime", [
    ("records.csv", IRIS_CSV, "text/csv"),
    ("records.json", json.dumps([{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4,
                                  "petal_width": 0.2}]).encode(), "application/json"),
])
def test_untyped_file_part_without_mime_type_goes_by_the_extension(gravity, filename, content, mime):
    r = gravity.post({"mimeType": None}, (filename, content, "application/octet-stream"))
    assert r.status_code == 200, r.text
    job = r.json()["data"]
    assert job["status"] == "success" and job["inputMime"] == mime and job["recordCount"] >= 1


def test_no_mime_type_anywhere_is_400_naming_mime_type(gravity):
    untyped = gravity.post({"mimeType": None}, ("input.dat", IRIS_CSV, "application/octet-stream"))
    # a file part with no Content-Type header at all
    raw = (b'--B\r\nContent-Disposition: form-data; name="data"\r\n\r\n{"mimeType": null}\r\n'
           b'--B\r\nContent-Disposition: form-data; name="file"; filename="input.dat"\r\n\r\n' + IRIS_CSV +
           b"\r\n--B--\r\n")
    headerless = gravity.client.post("/api/v1/jobs", content=raw, headers={
        **gravity.headers, "Content-Type": "multipart/form-data; boundary=B"})
    for r in (untyped, headerless):
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["isError"] is True and "data.mimeType is required" in body["errorMessage"]
        assert "Content-Type" in body["errorMessage"]  # says how to fix it
    assert gravity.job_count() == 0
