"""Named reference sets (issue 13 part 3), on SQLite and PostgreSQL: a `machine-state-evaluation`
job with `save_reference_set` saves its labelled recordings under a name when it completes; a
`machine-state-classification` job then names the set (`reference_set`) instead of uploading
n-shot files, and classifies like a job given the same files. Unknown names (also another org's),
a name already saved, and a set given beside n-shot files are 400s naming the field."""

from __future__ import annotations

import uuid

from conftest import Api
from helpers import machine_csv, machine_job_body, upload, wait_for, wait_until
from jobport.services import auth

RECORDINGS = {"rec_idle_1.csv": "idle", "rec_idle_2.csv": "idle", "rec_run_1.csv": "run", "rec_run_2.csv": "run"}
READER = {"data_columns": ["a", "b", "c"], "timestamp_column": "timestamp", "window_size": 16, "step_size": 4}
CONFIG = "parameters.worker.config"


def _org(server) -> Api:
    org_id, key = auth.create_key(server.ctx, f"sets-{uuid.uuid4().hex[:8]}")
    return Api(server.client, key, org_id)


def _evaluation(api: Api, **config) -> dict:
    for i, (name, state) in enumerate(RECORDINGS.items()):
        upload(api, name, machine_csv(state, 96, seed=10 + i))
    body = {"name": "eval", "pipeline_type": "training", "pipeline_key": "machine-state-evaluation",
            "inputs": {"worker.n_shots": [{"file_id": f, "metadata": {"class": c}} for f, c in RECORDINGS.items()]},
            "parameters": {"worker": {"config": {"reader_config": READER, "search": None, **config}}}}
    return api.post("/v0.5/batch/jobs", json=body)


def _classification(api: Api, reference_set: str | None, shots: dict[str, str]) -> dict:
    body = machine_job_body(["line.csv"], shots, name="classify")
    if reference_set is not None:
        body["parameters"]["worker"]["config"]["reference_set"] = reference_set
        if not shots:
            del body["inputs"]["worker.n_shots"]
    return api.post("/v0.5/batch/jobs", json=body)


def _predictions(api: Api, job_id: str) -> str:
    outputs = api.get(f"/v0.5/batch/jobs/{job_id}/outputs").json()["outputs"]
    return "".join(api.client.get(o["data"]["ref"]).text for o in sorted(outputs, key=lambda o: o["data"]["filename"]))


def _field_of(r) -> list[str]:
    assert r.status_code == 400, r.text
    return [e.get("field") or "" for e in r.json()["errors"]]


def test_an_evaluation_saves_a_reference_set_that_classification_jobs_use_by_name(server):
    api = _org(server)
    created = _evaluation(api, save_reference_set="line-a")
    assert created.status_code == 201, created.text
    assert wait_for(api, created.json()["id"], timeout=180)["status"] == "COMPLETED"
    events = wait_until(lambda: [e for e in api.get(f"/v0.5/batch/jobs/{created.json()['id']}/events",
                                                    params={"limit": 200}).json()["events"]
                                 if e["event_type"].startswith("reference_set.")], what="the set saved")
    assert events[0]["event_type"] == "reference_set.saved", events
    assert events[0]["payload"]["recordings"] == 4 and events[0]["payload"]["classes"] == ["idle", "run"]

    upload(api, "line.csv", machine_csv("idle", 48, seed=1) + machine_csv("run", 48, seed=2, start=48)
           .split(b"\n", 1)[1])
    by_name = _classification(api, "line-a", {})
    assert by_name.status_code == 201, by_name.text
    by_files = _classification(api, None, RECORDINGS)
    assert by_files.status_code == 201, by_files.text
    for job in (by_name.json(), by_files.json()):
        assert wait_for(api, job["id"])["status"] == "COMPLETED"
    assert _predictions(api, by_name.json()["id"]) == _predictions(api, by_files.json()["id"])
    shots = api.get(f"/v0.5/batch/jobs/{by_name.json()['id']}/inputs",
                    params={"port_name": "worker.n_shots"}).json()["inputs"]
    assert sorted(i["file_id"] for i in shots) == sorted(RECORDINGS)

    assert f"{CONFIG}.save_reference_set" in _field_of(_evaluation(api, save_reference_set="line-a"))
    assert f"{CONFIG}.reference_set" in _field_of(_classification(api, "line-a", RECORDINGS))
    assert f"{CONFIG}.reference_set" in _field_of(_classification(api, "no-such-set", {}))
    other = _org(server)
    upload(other, "line.csv", machine_csv("idle", 48, seed=1))
    assert f"{CONFIG}.reference_set" in _field_of(_classification(other, "line-a", {}))  # org-scoped
    assert any(f.startswith(f"{CONFIG}.reference_set") for f in _field_of(_classification(api, "bad name!", {})))
