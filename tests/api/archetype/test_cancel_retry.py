"""Cancel and retry: their 409 rules, cancel stopping running work before it answers, retry keeping
completed inputs and redoing the rest."""

import time

from helpers import machine_csv, machine_job_body, upload, wait_for, wait_until


def _long_job(api, inputs=2, rows=60000):
    upload(api, "idle.csv", machine_csv("idle", 200, seed=1))
    upload(api, "run.csv", machine_csv("run", 200, seed=2))
    names = []
    for i in range(inputs):
        upload(api, f"long{i}.csv", machine_csv("run", rows, seed=10 + i))
        names.append(f"long{i}.csv")
    body = machine_job_body(names, {"idle.csv": "idle", "run.csv": "run"}, reader_config={"step_size": 1},
                            flush_every_n_iteration=5)
    return api.post("/v0.5/batch/jobs", json=body).json()


def _counts(api, job_id):
    return api.get(f"/v0.5/batch/jobs/{job_id}/inputs/progress/counts").json()


def test_cancel_stops_running_work_before_it_answers(api):
    job = _long_job(api)
    wait_until(lambda: _counts(api, job["id"])["processing"] == 1, timeout=60)
    wait_until(lambda: api.get(f"/v0.5/batch/jobs/{job['id']}/outputs").json()["total"] >= 1, timeout=60)

    retry_running = api.post(f"/v0.5/batch/jobs/{job['id']}/retry")
    assert retry_running.status_code == 409
    assert retry_running.json()["errors"][0]["code"] == "invalid_state"

    r = api.post(f"/v0.5/batch/jobs/{job['id']}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "CANCELLED" and r.json()["cancelled_at"]
    # the cancel answers once the worker is stopped: nothing is processing any more, at once
    assert _counts(api, job["id"])["processing"] == 0
    events = api.get(f"/v0.5/batch/jobs/{job['id']}/events", params={"event_type": "input.cancelled"}).json()
    assert events["total"] == 1

    # a job created after the cancel runs to the end on the same workers; by then anything the
    # stopped worker could still have reported would have been applied: it wrote nothing more
    outputs_after_cancel = api.get(f"/v0.5/batch/jobs/{job['id']}/outputs").json()["total"]
    upload(api, "after.csv", machine_csv("run", 100, seed=5))
    later = api.post("/v0.5/batch/jobs", json=machine_job_body(["after.csv"], {"idle.csv": "idle", "run.csv": "run"}))
    assert wait_for(api, later.json()["id"])["status"] == "COMPLETED"
    assert api.get(f"/v0.5/batch/jobs/{job['id']}/outputs").json()["total"] == outputs_after_cancel
    assert api.get(f"/v0.5/batch/jobs/{job['id']}").json()["status"] == "CANCELLED"

    again = api.post(f"/v0.5/batch/jobs/{job['id']}/cancel")
    assert again.status_code == 409
    assert "CANCELLED" in again.json()["errors"][0]["message"]

    retried = api.post(f"/v0.5/batch/jobs/{job['id']}/retry")
    assert retried.status_code == 200
    assert retried.json() == {"id": job["id"], "status": "PENDING", "retry_count": 1}
    wait_until(lambda: _counts(api, job["id"])["processing"] == 1, timeout=30)
    assert api.post(f"/v0.5/batch/jobs/{job['id']}/cancel").status_code == 200


def test_cancel_pending_job_and_finished_job_is_409(api):
    upload(api, "idle.csv", machine_csv("idle", 200, seed=1))
    upload(api, "run.csv", machine_csv("run", 200, seed=2))
    upload(api, "small.csv", machine_csv("run", 100, seed=3))
    body = machine_job_body(["small.csv"], {"idle.csv": "idle", "run.csv": "run"})
    job = api.post("/v0.5/batch/jobs", json=body).json()
    done = wait_for(api, job["id"])
    assert done["status"] == "COMPLETED"
    r = api.post(f"/v0.5/batch/jobs/{job['id']}/cancel")
    assert r.status_code == 409
    assert api.post(f"/v0.5/batch/jobs/{job['id']}/retry").status_code == 409


def test_retry_of_failed_job_requeues_and_counts(api):
    upload(api, "idle.csv", machine_csv("idle", 200, seed=1))
    upload(api, "run.csv", machine_csv("run", 200, seed=2))
    upload(api, "short.csv", machine_csv("run", 5, seed=3))
    body = machine_job_body(["short.csv"], {"idle.csv": "idle", "run.csv": "run"})
    job = api.post("/v0.5/batch/jobs", json=body).json()
    assert wait_for(api, job["id"])["status"] == "FAILED"
    # fix the input under the same name and retry: the failed input is redone
    upload(api, "short.csv", machine_csv("run", 100, seed=3))
    r = api.post(f"/v0.5/batch/jobs/{job['id']}/retry")
    assert r.status_code == 200 and r.json()["retry_count"] == 1
    done = wait_for(api, job["id"])
    assert done["retry_count"] == 1
    # the job's input still points at the file as uploaded when the job was created
    assert done["status"] == "FAILED"
    assert done["input_progress"]["failed"] == 1


def test_parallelism_bounds_inputs_in_flight(api):
    upload(api, "idle.csv", machine_csv("idle", 200, seed=1))
    upload(api, "run.csv", machine_csv("run", 200, seed=2))
    names = []
    for i in range(3):
        upload(api, f"p{i}.csv", machine_csv("run", 20000, seed=30 + i))
        names.append(f"p{i}.csv")
    one = machine_job_body(names, {"idle.csv": "idle", "run.csv": "run"}, reader_config={"step_size": 1})
    job = api.post("/v0.5/batch/jobs", json=one).json()
    seen = set()
    deadline = time.monotonic() + 120
    while api.get(f"/v0.5/batch/jobs/{job['id']}").json()["status"] not in {"COMPLETED", "FAILED"}:
        assert time.monotonic() < deadline, "job did not end within 120 s"
        seen.add(_counts(api, job["id"])["processing"])
        time.sleep(0.02)
    assert max(seen) == 1

    two = {**one, "name": "two", "parameters": {"worker": {**one["parameters"]["worker"], "parallelism": 2}}}
    job = api.post("/v0.5/batch/jobs", json=two).json()
    assert job["parameters"]["worker"]["parallelism"] == 2
    wait_until(lambda: _counts(api, job["id"])["processing"] == 2, timeout=60, interval=0.01)
    assert wait_for(api, job["id"])["status"] == "COMPLETED"
