"""Gravity AI's own example flow, unmodified but for the base URL, against a real `jobport serve`:
`requests` with `x-api-key`, `data=json.dumps(cfg)` as a form field, `files={'file': ...}`, then
poll the job and download the result link without auth. The key is the one the server made for
its example app on first start; a second key is made with `jobport keys create --app`."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import time

import requests

from jobport.testing.embedded import JOBPORT

IRIS = ("sepal_length,sepal_width,petal_length,petal_width\n"
        "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n5.9,3.0,4.2,1.5\n")


def post_job(base: str, key: str, path, cfg: dict) -> dict:
    """Gravity's Python SDK `postJob`, paraphrased from the vendor's docs."""
    with open(path, "rb") as f:
        r = requests.post(base + "api/v1/jobs", headers={"x-api-key": key}, data={"data": json.dumps(cfg)},
                          files={"file": f})
    assert r.status_code == 200, r.text
    result = r.json()
    assert not result["isError"], result["errorMessage"]
    return result["data"]


def poll(base: str, key: str, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = requests.get(base + f"api/v1/jobs/{job_id}", headers={"x-api-key": key})
        job = r.json()["data"]
        if job["status"] in ("success", "error", "fail") or time.monotonic() > deadline:
            return job
        time.sleep(0.5)


def test_gravity_example_flow_against_a_real_server(live_server, tmp_path):
    base = live_server.url + "/"
    key = (live_server.home / "example-app.key").read_text().strip()
    data = tmp_path / "example.csv"
    data.write_text(IRIS)
    cfg = {"version": None, "mimeType": "text/csv; header=present", "jobName": "JobNameExample",
           "mapping": None, "outputMapping": None, "data": None, "groupId": None, "isGrouped": False,
           "versionId": None, "containerId": None}
    job = post_job(base, key, data, cfg)
    assert job["name"] == "JobNameExample" and job["inputFileName"] == "example.csv"
    assert (job["recordCount"], job["recordGroupCount"], job["billedUsage"]) == (3, 1, 20)
    job = poll(base, key, job["id"])
    assert job["status"] == "success", job

    link = requests.get(base + f"api/v1/jobs/result-link/{job['id']}", headers={"x-api-key": key}).json()
    assert link["isError"] is False
    result = requests.get(link["data"])  # a plain GET, as the SDK downloads the presigned URL
    assert result.status_code == 200
    rows = list(csv.DictReader(io.StringIO(result.text)))
    assert [r["label"] for r in rows] == ["setosa", "virginica", "versicolor"]

    # a second key for the same app, made by the admin CLI, sees the job; an org-wide key cannot post
    made = subprocess.run([JOBPORT, "keys", "create", "--org", "default", "--app", "iris-classifier"],
                          env=live_server.env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    other_key = made.stdout.strip()
    latest = requests.get(base + "api/v1/jobs/latest", headers={"x-api-key": other_key}).json()
    assert [j["id"] for j in latest["data"]] == [job["id"]]
    r = requests.post(base + "api/v1/jobs", headers={"x-api-key": live_server.key},
                      data={"data": json.dumps(cfg)}, files={"file": open(data, "rb")})
    assert r.status_code == 400 and r.json()["isError"] and "not bound to an app" in r.json()["errorMessage"]

    usage = subprocess.run([JOBPORT, "usage", "--json"], env=live_server.env, capture_output=True, text=True,
                           timeout=60)
    assert usage.returncode == 0, usage.stderr
    assert json.loads(usage.stdout)["totals"]["billed_units"] == 20
    apps = subprocess.run([JOBPORT, "apps", "list", "--json"], env=live_server.env, capture_output=True, text=True,
                          timeout=60)
    assert [a["name"] for a in json.loads(apps.stdout)] == ["iris-classifier"]


def test_mapping_defaults_billing_and_rename_against_a_real_server(live_server, tmp_path):
    base = live_server.url + "/"
    key = (live_server.home / "example-app.key").read_text().strip()
    data = tmp_path / "renamed.csv"
    data.write_text("sl,sw,pl,pw,ref\n5.1,3.5,1.4,0.2,a\n6.7,3.0,5.2,,b\n")
    cfg = {"mimeType": "text/csv; header=present", "name": "mapped",
           "mapping": [{"source": "sl", "destination": "sepal_length", "defaultValue": None},
                       {"source": "sw", "destination": "sepal_width", "defaultValue": None},
                       {"source": "pl", "destination": "petal_length", "defaultValue": None},
                       {"source": "pw", "destination": "petal_width", "defaultValue": 2.3}],
           "outputMapping": [{"source": "ref", "destination": "Ref", "defaultValue": None},
                             {"source": "label", "destination": "Species", "defaultValue": None},
                             {"source": "note", "destination": "Note", "defaultValue": "none"}]}
    job = post_job(base, key, data, cfg)
    assert (job["recordCount"], job["recordGroupCount"], job["billedUsage"]) == (2, 1, 20)
    job = poll(base, key, job["id"])
    assert job["status"] == "success", job
    link = requests.get(base + f"api/v1/jobs/result-link/{job['id']}", headers={"x-api-key": key}).json()["data"]
    assert f"data_{job['id'].replace('-', '')[:8]}.csv" in link
    rows = list(csv.DictReader(io.StringIO(requests.get(link).text)))
    assert rows == [{"Ref": "a", "Species": "setosa", "Note": "none"},
                    {"Ref": "b", "Species": "virginica", "Note": "none"}]

    renamed = requests.put(base + f"api/v1/jobs/{job['id']}", headers={"x-api-key": key}, json={"name": "final"}).json()
    assert renamed["isError"] is False and renamed["data"]["name"] == "final" and renamed["data"]["billedUsage"] == 20
    again = requests.get(base + f"api/v1/jobs/{job['id']}", headers={"x-api-key": key}).json()["data"]
    assert again["name"] == "final" and again["billedUsage"] == 20 and again["recordCount"] == 2

    missing = tmp_path / "missing.csv"
    missing.write_text("sl,sw\n5.1,3.5\n")  # pw has a default, pl has none
    r = requests.post(base + "api/v1/jobs", headers={"x-api-key": key}, data={"data": json.dumps(cfg)},
                      files={"file": open(missing, "rb")})
    assert r.status_code == 400 and r.json()["isError"] and "'pl'" in r.json()["errorMessage"]
