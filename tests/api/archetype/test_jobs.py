"""Jobs on the Archetype surface with the real machine-state pipeline: create, run, outputs,
inputs, events, progress, idempotency, listing, delete and org isolation."""

import csv
import io
import uuid

import httpx

from helpers import machine_csv, machine_job_body, upload, wait_for


def _setup_files(api, seed=None):
    # distinct shot bytes per call, so each test builds its own warm index
    seed = seed if seed is not None else int(uuid.uuid4().int % 100000)
    upload(api, "idle_shots.csv", machine_csv("idle", 200, seed=seed))
    upload(api, "run_shots.csv", machine_csv("run", 200, seed=seed + 1))
    second_half = machine_csv("run", 100, seed=4, start=100).split(b"\n", 1)[1]
    upload(api, "line.csv", machine_csv("idle", 100, seed=3) + second_half)
    return machine_job_body(["line.csv"], {"idle_shots.csv": "idle", "run_shots.csv": "run"})


def test_create_run_and_download_predictions(api):
    body = _setup_files(api)
    r = api.post("/v0.5/batch/jobs", json=body)
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["id"].startswith("job_")
    assert job["status"] == "PENDING"
    assert job["pipeline_version"] == "1.1.1"
    assert job["retry_count"] == 0 and job["preemption_count"] == 0
    assert job["queue_position"] >= 1 and job["queue_depth"] >= 1
    assert "input_progress" not in job
    config = job["parameters"]["worker"]["config"]
    assert config["classifier_config"]["n_neighbors"] == 5  # default merged in
    assert config["reader_config"]["window_size"] == 16  # user value kept

    done = wait_for(api, job["id"])
    assert done["status"] == "COMPLETED", done
    assert done["input_progress"] == {"pending": 0, "processing": 0, "completed": 1, "failed": 0}
    assert done["started_at"] and done["completed_at"]
    assert done["queue_position"] is None and done["queue_depth"] is None  # no longer queued

    outputs = api.get(f"/v0.5/batch/jobs/{job['id']}/outputs").json()
    assert outputs["total"] >= 1
    first = outputs["outputs"][0]
    assert first["data"]["filename"] == "pred_line_part_0.csv"
    assert first["input_file_id"] == "line.csv"
    assert first["port_name"] == "worker.results"
    rows = []
    for out in outputs["outputs"]:
        resp = api.client.get(out["data"]["ref"])  # no auth header
        assert resp.status_code == 200
        rows += list(csv.DictReader(io.StringIO(resp.text)))
    assert list(rows[0].keys()) == ["timestamp", "Prediction"]
    assert len(rows) == (200 - 16) // 4 + 1
    # window timestamps are the last row of each window; early windows idle, late windows run
    assert rows[0]["timestamp"] == "15"
    assert rows[0]["Prediction"] == "idle"
    assert rows[-1]["Prediction"] == "run"
    correct = sum((int(r["timestamp"]) < 100) == (r["Prediction"] == "idle") for r in rows)
    assert correct / len(rows) > 0.9


def test_inputs_events_progress(api):
    body = _setup_files(api)
    job = api.post("/v0.5/batch/jobs", json=body).json()
    wait_for(api, job["id"])
    inputs = api.get(f"/v0.5/batch/jobs/{job['id']}/inputs").json()
    assert inputs["total"] == 3
    by_port = {}
    for item in inputs["inputs"]:
        by_port.setdefault(item["port_name"], []).append(item)
        assert item["id"].startswith("inp_")
    assert [i["status"] for i in by_port["worker.inference"]] == ["completed"]
    assert {i["status"] for i in by_port["worker.n_shots"]} == {"reference"}
    assert by_port["worker.n_shots"][0]["data"]["metadata"] == {"class": "idle"}
    assert by_port["worker.inference"][0]["data"]["file_attributes"]["num_rows"] == 200

    only_nshots = api.get(f"/v0.5/batch/jobs/{job['id']}/inputs", params={"port_name": "worker.n_shots"}).json()
    assert only_nshots["total"] == 2

    events = api.get(f"/v0.5/batch/jobs/{job['id']}/events", params={"limit": 100}).json()["events"]
    types = [e["event_type"] for e in events]
    for expected in ("job.created", "job.running", "inference.success", "job.completed"):
        assert expected in types, types
    success = next(e for e in events if e["event_type"] == "inference.success")
    assert success["level"] == "SUCCESS"
    assert success["input_id"] == by_port["worker.inference"][0]["id"]

    entries = api.get(f"/v0.5/batch/jobs/{job['id']}/progress").json()["entries"]
    assert entries and entries[-1]["metrics"]["items_processed"] == entries[-1]["metrics"]["items_total"]

    counts = api.get(f"/v0.5/batch/jobs/{job['id']}/inputs/progress/counts").json()
    assert counts == {"job_id": job["id"], "pending": 0, "processing": 0, "completed": 1, "failed": 0}
    items = api.get(f"/v0.5/batch/jobs/{job['id']}/inputs/progress").json()["items"]
    assert len(items) == 1 and items[0]["latest_progress"]["metrics"]["percent_complete"] == 100.0


def test_per_input_failure_does_not_fail_the_job(api):
    body = _setup_files(api)
    upload(api, "nocol.csv", b"timestamp,a,b\n" + b"".join(f"{i},1,2\n".encode() for i in range(50)))
    body["inputs"]["worker.inference"].append({"file_id": "nocol.csv"})
    job = api.post("/v0.5/batch/jobs", json=body).json()
    done = wait_for(api, job["id"])
    assert done["status"] == "COMPLETED"
    assert done["input_progress"]["failed"] == 1 and done["input_progress"]["completed"] == 1
    failed = api.get(f"/v0.5/batch/jobs/{job['id']}/inputs", params={"status": "failed"}).json()["inputs"]
    assert failed[0]["file_id"] == "nocol.csv"
    assert "'c'" in failed[0]["error_message"]
    events = api.get(f"/v0.5/batch/jobs/{job['id']}/events", params={"event_type": "inference.failed"}).json()
    assert events["total"] == 1 and "'c'" in events["events"][0]["message"]


def test_all_inputs_failing_fails_the_job(api):
    body = _setup_files(api)
    upload(api, "short.csv", machine_csv("idle", 5))
    body["inputs"]["worker.inference"] = [{"file_id": "short.csv"}]
    job = api.post("/v0.5/batch/jobs", json=body).json()
    done = wait_for(api, job["id"])
    assert done["status"] == "FAILED"
    assert done["error"]["code"] == "all_inputs_failed"
    failed = api.get(f"/v0.5/batch/jobs/{job['id']}/inputs", params={"status": "failed"}).json()["inputs"]
    assert "window_size" in failed[0]["error_message"]


def test_idempotency_key(api):
    body = _setup_files(api)
    first = api.post("/v0.5/batch/jobs", json=body, headers={"Idempotency-Key": "abc-1"})
    assert first.status_code == 201
    again = api.post("/v0.5/batch/jobs", json=body, headers={"Idempotency-Key": "abc-1"})
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    other = api.post("/v0.5/batch/jobs", json={**body, "name": "different"}, headers={"Idempotency-Key": "abc-1"})
    assert other.status_code == 409
    assert other.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert api.get("/v0.5/batch/jobs").json()["total"] == 1


def test_list_filters_and_paging(api):
    body = _setup_files(api)
    ids = [api.post("/v0.5/batch/jobs", json={**body, "name": f"job-{i}"}).json()["id"] for i in range(3)]
    for job_id in ids:
        wait_for(api, job_id)
    listing = api.get("/v0.5/batch/jobs", params={"limit": 2}).json()
    assert listing["total"] == 3 and listing["limit"] == 2 and listing["offset"] == 0
    assert [j["id"] for j in listing["jobs"]] == ids[::-1][:2]
    assert "input_progress" in listing["jobs"][0]
    assert api.get("/v0.5/batch/jobs", params={"offset": 2}).json()["jobs"][0]["id"] == ids[0]
    assert api.get("/v0.5/batch/jobs", params={"q": "job-1"}).json()["total"] == 1
    assert api.get("/v0.5/batch/jobs", params={"status": "COMPLETED"}).json()["total"] == 3
    assert api.get("/v0.5/batch/jobs", params={"status": "RUNNING"}).json()["total"] == 0
    assert api.get("/v0.5/batch/jobs", params={"pipeline_type": "training"}).json()["total"] == 0
    assert api.get("/v0.5/batch/jobs", params={"status": "EXPIRED"}).status_code == 400  # not an Archetype status
    queues = api.get("/v0.5/batch/jobs/queue").json()["queues"]
    assert {q["pipeline_type"] for q in queues} == {"batch", "training"}


def test_delete_removes_job_and_outputs(server, api):
    body = _setup_files(api)
    job = api.post("/v0.5/batch/jobs", json=body).json()
    wait_for(api, job["id"])
    ref = api.get(f"/v0.5/batch/jobs/{job['id']}/outputs").json()["outputs"][0]["data"]["ref"]
    r = api.delete(f"/v0.5/batch/jobs/{job['id']}")
    assert r.status_code == 200 and r.json() == {"id": job["id"], "deleted": True}
    assert api.get(f"/v0.5/batch/jobs/{job['id']}").status_code == 404
    assert api.client.get(ref).status_code == 404
    assert not (server.ctx.blobs.root / "jobs" / job["id"]).exists()


def test_other_org_sees_404(server, api):
    body = _setup_files(api)
    job = api.post("/v0.5/batch/jobs", json=body).json()
    other = server.new_org()
    for method, path in [("GET", ""), ("POST", "/cancel"), ("POST", "/retry"), ("GET", "/inputs"),
                         ("GET", "/outputs"), ("GET", "/events"), ("GET", "/progress"), ("DELETE", "")]:
        r = other.request(method, f"/v0.5/batch/jobs/{job['id']}{path}")
        assert r.status_code == 404, (method, path, r.status_code)
    assert other.get("/v0.5/batch/jobs").json()["total"] == 0
    # and the other org cannot use this org's files
    r = other.post("/v0.5/batch/jobs", json=body)
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "file_not_found"


def test_tampered_or_expired_links_are_refused(server, api):
    body = _setup_files(api)
    job = api.post("/v0.5/batch/jobs", json=body).json()
    wait_for(api, job["id"])
    ref = api.get(f"/v0.5/batch/jobs/{job['id']}/outputs").json()["outputs"][0]["data"]["ref"]
    tampered = ref.replace("part_0", "part_1")
    assert api.client.get(tampered).status_code == 403
    url = httpx.URL(ref)
    expired = url.copy_set_param("expires", "1000")
    assert api.client.get(str(expired)).status_code == 403


def test_warm_worker_reuses_the_nshot_index_across_jobs(api):
    body = _setup_files(api)
    first = api.post("/v0.5/batch/jobs", json=body).json()
    wait_for(api, first["id"])
    first_events = api.get(f"/v0.5/batch/jobs/{first['id']}/events", params={"limit": 100}).json()["events"]
    first_types = [e["event_type"] for e in first_events]
    second = api.post("/v0.5/batch/jobs", json={**body, "name": "again"}).json()
    assert wait_for(api, second["id"])["status"] == "COMPLETED"
    second_events = api.get(f"/v0.5/batch/jobs/{second['id']}/events", params={"limit": 100}).json()["events"]
    second_types = [e["event_type"] for e in second_events]
    assert "worker.loaded" in first_types
    assert "worker.loaded" not in second_types and "index.built" not in second_types


def test_partial_outputs_are_listed_while_the_input_runs(api):
    upload(api, "idle_shots.csv", machine_csv("idle", 200, seed=1))
    upload(api, "run_shots.csv", machine_csv("run", 200, seed=2))
    upload(api, "long.csv", machine_csv("run", 40000, seed=5))
    body = machine_job_body(["long.csv"], {"idle_shots.csv": "idle", "run_shots.csv": "run"},
                            reader_config={"step_size": 1}, flush_every_n_iteration=2, batch_size=32)
    job = api.post("/v0.5/batch/jobs", json=body).json()

    def partial():
        j = api.get(f"/v0.5/batch/jobs/{job['id']}").json()
        outs = api.get(f"/v0.5/batch/jobs/{job['id']}/outputs").json()
        return (j, outs) if j["status"] == "RUNNING" and outs["total"] >= 1 else None

    from helpers import wait_until
    running, outs = wait_until(partial, timeout=60, interval=0.02)
    text = api.client.get(outs["outputs"][0]["data"]["ref"]).text
    assert text.splitlines()[0] == "timestamp,Prediction"
    assert len(text.splitlines()) == 1 + 2 * 32  # one part = flush_every_n_iteration batches
    api.post(f"/v0.5/batch/jobs/{job['id']}/cancel")
