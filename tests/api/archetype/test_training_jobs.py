"""Training jobs through the Archetype surface (issue 13): `pipeline_type: training` with the
`tabular-training` pipeline on scikit-learn's bundled iris set: the job runs, its outputs are the
model (ONNX, skops), metrics.json, the confusion matrix and the importances; the queue reports a
`training` depth; data problems are a 400 at create naming the setting, with nothing stored."""

from __future__ import annotations

import csv
import io
import uuid

import numpy as np
import onnxruntime as ort
import pytest
from sklearn import datasets

from helpers import machine_csv, machine_job_body, upload, wait_for, wait_until


def iris_csv(every: int = 1) -> bytes:
    bunch = datasets.load_iris()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["sepal_length", "sepal_width", "petal_length", "petal_width", "species"])
    for row, target in list(zip(bunch.data, bunch.target, strict=True))[::every]:
        writer.writerow([*row, bunch.target_names[target]])
    return out.getvalue().encode()


def training_body(file_id: str, **config) -> dict:
    return {"name": "iris-forest", "pipeline_type": "training", "pipeline_key": "tabular-training",
            "inputs": {"worker.train": [{"file_id": file_id}]},
            "parameters": {"worker": {"config": {"task": "classification", "label": "species", **config}}}}


def test_a_training_job_runs_and_writes_the_model_and_its_report(api):
    upload(api, "iris.csv", iris_csv())
    r = api.post("/v0.5/batch/jobs", json=training_body("iris.csv", model={"family": "random_forest",
                                                                          "params": {"n_estimators": 40}}))
    assert r.status_code == 201, r.text
    job = wait_for(api, r.json()["id"])
    assert job["status"] == "COMPLETED", job
    outputs = api.get(f"/v0.5/batch/jobs/{job['id']}/outputs").json()["outputs"]
    by_name = {o["data"]["filename"]: o for o in outputs}
    assert {"model.onnx", "model.skops", "metrics.json", "confusion_matrix.csv", "confusion_matrix.png",
            "feature_importances.csv"} <= set(by_name)
    metrics = api.client.get(by_name["metrics.json"]["data"]["ref"]).json()
    assert metrics["metrics"]["accuracy"] > 0.85 > metrics["baseline"]["accuracy"]
    model = api.client.get(by_name["model.onnx"]["data"]["ref"]).content
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    labels = session.run(None, {"input": np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], np.float32)})[0]
    assert list(labels) == ["setosa", "virginica"]
    events = api.get(f"/v0.5/batch/jobs/{job['id']}/events", params={"limit": 200}).json()["events"]
    assert any(e["event_type"] == "training.done" for e in events)
    queues = api.get("/v0.5/batch/jobs/queue").json()["queues"]
    assert "training" in [q["pipeline_type"] for q in queues]


@pytest.mark.parametrize(("content", "config", "field"), [
    (iris_csv(), {"label": "kind"}, "parameters.worker.config.label"),
    (b"a,b,species\n" + b"".join(b"%d,%d,x\n" % (i, i) for i in range(20)), {}, "parameters.worker.config.label"),
    (b"a,colour,species\n" + b"".join(b"%d,%s,%s\n" % (i, b"red" if i % 2 else b"blue", b"pq"[i % 2:i % 2 + 1])
                                      for i in range(20)), {}, "parameters.worker.config.features"),
    (iris_csv(every=13), {"validation": {"kind": "kfold", "folds": 10}}, "parameters.worker.config.validation.folds"),
    (iris_csv(), {"model": {"family": "linear"}}, "parameters.worker.config"),
])
def test_bad_training_input_is_a_400_naming_the_field_and_nothing_is_stored(api, content, config, field):
    upload(api, "train.csv", content)
    before = api.get("/v0.5/batch/jobs").json()["total"]
    r = api.post("/v0.5/batch/jobs", json=training_body("train.csv", **config))
    assert r.status_code == 400, r.text
    errors = r.json()["errors"]
    assert any(e.get("field", "").startswith(field) for e in errors), [e.get("field") for e in errors]
    assert api.get("/v0.5/batch/jobs").json()["total"] == before


def test_publish_serves_the_trained_model_through_gravity_and_superai(server):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    from conftest import Api
    from jobport.services import auth

    org = f"train-{uuid.uuid4().hex[:8]}"
    org_id, key = auth.create_key(server.ctx, org)
    api = Api(server.client, key, org_id)
    upload(api, "iris.csv", iris_csv())
    body = training_body("iris.csv", model={"family": "random_forest", "params": {"n_estimators": 30}}, seed=5)
    job = wait_for(api, api.post("/v0.5/batch/jobs", json=body).json()["id"])
    assert job["status"] == "COMPLETED", job

    published = api.post(f"/v0.5/batch/jobs/{job['id']}/publish", json={"app": "iris-trained", "version": "1.0.0"})
    assert published.status_code == 201, published.text
    app = published.json()
    config = app["versions"][0]["config"]
    assert [f["name"] for f in config["features"]] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert [o["name"] for o in config["outputs"]] == ["label", "probability_setosa", "probability_versicolor",
                                                       "probability_virginica"]
    again = api.post(f"/v0.5/batch/jobs/{job['id']}/publish", json={"app": "iris-trained", "version": "1.0.0"})
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "version_exists"

    bunch = datasets.load_iris()
    names = np.array([bunch.target_names[t] for t in bunch.target], dtype=object)
    x_fit, x_out, y_fit, _ = train_test_split(bunch.data, names, test_size=0.2, random_state=5, stratify=names)
    expected = RandomForestClassifier(n_estimators=30, random_state=5).fit(x_fit, y_fit).predict(x_out[:10])

    _, gravity_key = auth.create_key(server.ctx, org, app=app["id"])
    rows = "sepal_length,sepal_width,petal_length,petal_width\n" + "".join(
        ",".join(map(str, row)) + "\n" for row in x_out[:10])
    r = server.client.post("/api/v1/jobs", headers={"x-api-key": gravity_key},
                           data={"data": '{"mimeType": "text/csv; header=present"}'},
                           files={"file": ("held-out.csv", rows.encode(), "text/csv")})
    assert r.status_code == 200, r.text
    gravity = r.json()["data"]
    assert gravity["status"] == "success", gravity
    link = server.client.get(f"/api/v1/jobs/result-link/{gravity['id']}", headers={"x-api-key": gravity_key})
    scored = list(csv.DictReader(io.StringIO(server.client.get(link.json()["data"]).text)))
    assert [row["label"] for row in scored] == list(expected)

    inputs = [dict(zip(["sepal_length", "sepal_width", "petal_length", "petal_width"], map(float, row), strict=True))
              for row in x_out[:10]]
    sai = {"API-KEY": key}
    created = server.client.post(f"/v1/apps/{app['id']}/jobs", headers=sai, json={"inputs": inputs}).json()
    batch = server.client.get(f"/v1/apps/{app['id']}/batches/{created['batchId']}", headers=sai).json()
    labels = []
    for job_ref in batch["jobIds"]:
        wait_until(lambda ref=job_ref: server.client.get(f"/v1/jobs/{ref}", headers=sai).json()["status"]
                   == "COMPLETED", what="super.AI job completed")
        labels.append(server.client.get(f"/v1/jobs/{job_ref}/response", headers=sai).json()["response"]["label"])
    assert labels == list(expected)


def test_only_a_completed_training_job_can_be_published(api):
    upload(api, "iris.csv", iris_csv())
    r = api.post("/v0.5/batch/jobs/job_00000000000000000000000000/publish", json={"app": "x"})
    assert r.status_code == 404
    upload(api, "idle.csv", machine_csv("idle", 120, seed=1))
    upload(api, "run.csv", machine_csv("run", 120, seed=2))
    upload(api, "line.csv", machine_csv("idle", 60, seed=3))
    other = api.post("/v0.5/batch/jobs", json=machine_job_body(["line.csv"], {"idle.csv": "idle", "run.csv": "run"}))
    r = api.post(f"/v0.5/batch/jobs/{other.json()['id']}/publish", json={"app": "x"})
    assert r.status_code == 409 and "tabular-training" in r.json()["errors"][0]["message"]
    assert api.post(f"/v0.5/batch/jobs/{other.json()['id']}/publish", json={"app": "a/b"}).status_code == 400


def test_a_machine_state_evaluation_job_runs_once_over_its_recordings(api, tmp_path):
    from jobport.testing.datasets import DEMO_CONFIG, write_basic_motions

    manifest = write_basic_motions(tmp_path)
    picked = ([(p, c) for p, c in manifest.shots if c == "standing"][:3]
              + [(p, c) for p, c in manifest.shots if c == "running"][:3])
    for path, _ in picked:
        upload(api, path.name, path.read_bytes())
    body = {"name": "eval", "pipeline_type": "training", "pipeline_key": "machine-state-evaluation",
            "inputs": {"worker.n_shots": [{"file_id": p.name, "metadata": {"class": c}} for p, c in picked]},
            "parameters": {"worker": {"config": {**DEMO_CONFIG, "search": None}}}}
    r = api.post("/v0.5/batch/jobs", json=body)
    assert r.status_code == 201, r.text
    job = wait_for(api, r.json()["id"], timeout=180)
    assert job["status"] == "COMPLETED", job
    tracked = api.get(f"/v0.5/batch/jobs/{job['id']}/inputs", params={"port_name": "run"}).json()["inputs"]
    assert [(i["file_id"], i["status"]) for i in tracked] == [("run.json", "completed")]
    outputs = {o["data"]["filename"]: o for o in api.get(f"/v0.5/batch/jobs/{job['id']}/outputs").json()["outputs"]}
    assert {"evaluation.json", "per_recording.csv", "confusion_matrix.csv", "confusion_matrix.png"} <= set(outputs)
    report = api.client.get(outputs["evaluation.json"]["data"]["ref"]).json()
    assert report["leave_one_recording_out"]["recordings"] == 6

    one_class = {**body, "inputs": {"worker.n_shots": [{"file_id": p.name, "metadata": {"class": "x"}}
                                                       for p, _ in picked]}}
    refused = api.post("/v0.5/batch/jobs", json=one_class)
    assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "too_few_classes"


def test_cancel_stops_a_running_fit_and_the_worker_takes_the_next_job(api):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 8))
    rows = "".join(",".join(f"{v:.4f}" for v in row) + f",{'pq'[int(row[0] > 0)]}\n" for row in x)
    upload(api, "big.csv", ("f0,f1,f2,f3,f4,f5,f6,f7,y\n" + rows).encode())
    slow = training_body("big.csv", label="y", model={"family": "random_forest", "params": {"n_estimators": 3000}})
    job = api.post("/v0.5/batch/jobs", json=slow).json()
    wait_until(lambda: api.get(f"/v0.5/batch/jobs/{job['id']}").json()["status"] == "RUNNING", 60, 0.1, "running")
    assert api.post(f"/v0.5/batch/jobs/{job['id']}/cancel").status_code == 200
    ended = wait_for(api, job["id"], timeout=15)
    assert ended["status"] == "CANCELLED", ended
    upload(api, "iris.csv", iris_csv())
    quick = wait_for(api, api.post("/v0.5/batch/jobs", json=training_body("iris.csv")).json()["id"], timeout=60)
    assert quick["status"] == "COMPLETED", quick
