"""`GET /v0.5/batch/jobs/{id}/inputs/progress/traces` with the real machine-state pipeline: time
buckets (clamped), cumulative file and item counts that end where the job's inputs and events end,
the ETag and 304 while nothing changed, and 404 for another org's job."""

from __future__ import annotations

import uuid
from datetime import datetime

from helpers import machine_csv, machine_job_body, upload, wait_for


def _job(api) -> str:
    seed = int(uuid.uuid4().int % 100000)
    upload(api, "idle_shots.csv", machine_csv("idle", 200, seed=seed))
    upload(api, "run_shots.csv", machine_csv("run", 200, seed=seed + 1))
    upload(api, "one.csv", machine_csv("run", 120, seed=seed + 2))
    upload(api, "two.csv", machine_csv("idle", 120, seed=seed + 3))
    body = machine_job_body(["one.csv", "two.csv"], {"idle_shots.csv": "idle", "run_shots.csv": "run"})
    r = api.post("/v0.5/batch/jobs", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_traces_count_files_and_items_per_bucket_up_to_the_latest_event(api):
    job_id = _job(api)
    url = f"/v0.5/batch/jobs/{job_id}/inputs/progress/traces"
    early = api.get(url)
    assert early.status_code == 200 and early.headers["etag"].startswith('"')
    assert wait_for(api, job_id)["status"] == "COMPLETED"

    r = api.get(url)
    assert r.status_code == 200, r.text
    assert r.headers["etag"] != early.headers["etag"]  # events were added since
    traces = r.json()
    assert traces["job_id"] == job_id and traces["latest_event_at"].endswith("Z")
    points = traces["points"]
    assert len(points) == 100 and traces["bucket_seconds"] > 0  # the default number of buckets
    times = [datetime.fromisoformat(p["t"]) for p in points]
    assert times == sorted(times) and times[-1] == datetime.fromisoformat(traces["latest_event_at"])
    assert points[-1]["files"] == {"completed": 2, "failed": 0}
    successes = api.get(f"/v0.5/batch/jobs/{job_id}/events", params={"event_type": "inference.success"}).json()
    items = sum(e["payload"]["items"] for e in successes["events"])
    assert items > 0 and points[-1]["items"]["inference"] == {"success": items, "failed": 0}
    completed = [p["files"]["completed"] for p in points]
    assert completed == sorted(completed) and completed[0] <= 2  # cumulative, never down
    assert points[-1]["step"]  # the step of the latest progress entry

    assert len(api.get(url, params={"buckets": 3}).json()["points"]) == 10  # clamped to 10..1000
    assert len(api.get(url, params={"buckets": 5000}).json()["points"]) == 1000


def test_if_none_match_answers_304_until_the_traces_change(server, api):
    job_id = _job(api)
    assert wait_for(api, job_id)["status"] == "COMPLETED"
    url = f"/v0.5/batch/jobs/{job_id}/inputs/progress/traces"
    first = api.get(url, params={"buckets": 20})
    etag = first.headers["etag"]
    same = api.get(url, params={"buckets": 20}, headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == etag
    assert api.get(url, params={"buckets": 20}, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    other_buckets = api.get(url, params={"buckets": 30}, headers={"If-None-Match": etag})
    assert other_buckets.status_code == 200 and len(other_buckets.json()["points"]) == 30
    assert api.get(url, headers={"If-None-Match": '"stale"'}).status_code == 200

    assert server.new_org().get(url).status_code == 404
    missing = api.get("/v0.5/batch/jobs/job_01h0000000000000000000000/inputs/progress/traces")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "not_found"
    assert api.get(url, params={"buckets": "many"}).status_code == 400
