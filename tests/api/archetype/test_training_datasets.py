"""Train → publish → serve on scikit-learn's bundled data sets (issue 13), on SQLite and
PostgreSQL: a `tabular-training` job on iris, wine, breast-cancer and diabetes (regression) gives
the metrics of the same scikit-learn fit in-process (same seed, same split); its model, published
by the route or by `publish` in the job's config (auto-publish), scores held-out rows through
Gravity and super.AI with the in-process model's predictions. A publish target that cannot be
published to is a 400 at create (an auto-publish that fails after training:
tests/unit/engine/test_training_queue.py)."""

from __future__ import annotations

import csv
import io
import uuid

import numpy as np
import pytest
from sklearn import datasets, ensemble, linear_model
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conftest import Api
from helpers import upload, wait_for, wait_until
from jobport.services import auth

SEED = 7
HELD_OUT = 8


def _logistic():
    return make_pipeline(StandardScaler(), linear_model.LogisticRegression(max_iter=1000, random_state=SEED))


# name: (loader, task, the job's model config, the same estimator in-process, how it is published)
CASES = {
    "iris": (datasets.load_iris, "classification", {"family": "random_forest", "params": {"n_estimators": 20}},
             lambda: ensemble.RandomForestClassifier(n_estimators=20, random_state=SEED), "route"),
    "wine": (datasets.load_wine, "classification", {"family": "logistic"}, _logistic, "auto"),
    "breast_cancer": (datasets.load_breast_cancer, "classification",
                      {"family": "random_forest", "params": {"n_estimators": 15, "max_depth": 6}},
                      lambda: ensemble.RandomForestClassifier(n_estimators=15, max_depth=6, random_state=SEED),
                      "route"),
    "diabetes": (datasets.load_diabetes, "regression", {"family": "ridge", "params": {"alpha": 0.5}},
                 lambda: make_pipeline(StandardScaler(), linear_model.Ridge(alpha=0.5)), "auto"),
}


def _table(name: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    loader, task = CASES[name][0], CASES[name][1]
    bunch = loader()
    columns = [str(c).replace(" ", "_") for c in bunch.feature_names]
    if task == "classification":
        return columns, bunch.data, np.array([str(bunch.target_names[t]) for t in bunch.target], dtype=object)
    return columns, bunch.data, bunch.target.astype(np.float64)


def _csv(columns: list[str], x: np.ndarray, y: np.ndarray | None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*columns, "target"] if y is not None else columns)
    for i, row in enumerate(x):
        writer.writerow([*map(repr, row.tolist()), *([y[i]] if y is not None else [])])
    return out.getvalue().encode()


def _org(server) -> tuple[Api, str, str]:
    org = f"ds-{uuid.uuid4().hex[:8]}"
    org_id, key = auth.create_key(server.ctx, org)
    return Api(server.client, key, org_id), org, key


def _body(file_id: str, task: str, model: dict, **extra) -> dict:
    return {"name": f"train-{file_id}", "pipeline_type": "training", "pipeline_key": "tabular-training",
            "inputs": {"worker.train": [{"file_id": file_id}]},
            "parameters": {"worker": {"config": {"task": task, "label": "target", "model": model, "seed": SEED,
                                                 **extra}}}}


def _events(api: Api, job_id: str) -> list[dict]:
    return api.get(f"/v0.5/batch/jobs/{job_id}/events", params={"limit": 200}).json()["events"]


def _gravity_predictions(server, key: str, columns: list[str], x: np.ndarray, field: str) -> list[str]:
    r = server.client.post("/api/v1/jobs", headers={"x-api-key": key},
                           data={"data": '{"mimeType": "text/csv; header=present"}'},
                           files={"file": ("held-out.csv", _csv(columns, x, None), "text/csv")})
    assert r.status_code == 200, r.text
    job = r.json()["data"]
    assert job["status"] == "success", job
    link = server.client.get(f"/api/v1/jobs/result-link/{job['id']}", headers={"x-api-key": key}).json()["data"]
    return [row[field] for row in csv.DictReader(io.StringIO(server.client.get(link).text))]


def _superai_predictions(server, key: str, app_id: str, columns: list[str], x: np.ndarray, field: str) -> list:
    headers = {"API-KEY": key}
    inputs = [dict(zip(columns, row.tolist(), strict=True)) for row in x]
    created = server.client.post(f"/v1/apps/{app_id}/jobs", headers=headers, json={"inputs": inputs}).json()
    batch = server.client.get(f"/v1/apps/{app_id}/batches/{created['batchId']}", headers=headers).json()
    found = []
    for ref in batch["jobIds"]:
        wait_until(lambda ref=ref: server.client.get(f"/v1/jobs/{ref}", headers=headers).json()["status"]
                   == "COMPLETED", what="super.AI job completed")
        found.append(server.client.get(f"/v1/jobs/{ref}/response", headers=headers).json()["response"][field])
    return found


def _same(task: str, served: list, expected: np.ndarray) -> None:
    if task == "classification":
        assert [str(v) for v in served] == [str(v) for v in expected]
    else:  # the ONNX graph computes in float32
        assert np.allclose(np.asarray(served, dtype=np.float64), expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("name", list(CASES))
def test_train_publish_and_serve_a_bundled_data_set(server, name):
    _, task, model, in_process, how = CASES[name]
    api, org, key = _org(server)
    columns, x, y = _table(name)
    upload(api, f"{name}.csv", _csv(columns, x, y))
    extra = {"publish": {"app": f"{name}-model", "version": "1.0.0"}} if how == "auto" else {}
    job = wait_for(api, api.post("/v0.5/batch/jobs", json=_body(f"{name}.csv", task, model, **extra)).json()["id"])
    assert job["status"] == "COMPLETED", job

    stratify = y if task == "classification" else None
    x_fit, x_out, y_fit, y_out = train_test_split(x, y, test_size=0.2, random_state=SEED, stratify=stratify)
    reference = in_process().fit(x_fit, y_fit)
    outputs = {o["data"]["filename"]: o for o in api.get(f"/v0.5/batch/jobs/{job['id']}/outputs").json()["outputs"]}
    measured = api.client.get(outputs["metrics.json"]["data"]["ref"]).json()["metrics"]
    predicted = reference.predict(x_out)
    if task == "classification":
        assert measured["accuracy"] == pytest.approx(float(np.mean(predicted == y_out)), abs=1e-9)
    else:
        rmse = float(np.sqrt(np.mean((predicted - y_out) ** 2)))
        assert measured["rmse"] == pytest.approx(rmse, rel=1e-6)

    if how == "route":
        r = api.post(f"/v0.5/batch/jobs/{job['id']}/publish", json={"app": f"{name}-model", "version": "1.0.0"})
        assert r.status_code == 201, r.text
        app_id = r.json()["id"]
    else:
        done = wait_until(lambda: [e for e in _events(api, job["id"]) if e["event_type"].startswith("publish.")],
                          what="the auto-publish outcome")
        assert done[0]["event_type"] == "publish.done", done
        app_id = done[0]["payload"]["app_id"]
    app = api.get(f"/v0.5/apps/{app_id}").json()
    assert [f["name"] for f in app["versions"][0]["config"]["features"]] == columns

    field = "label" if task == "classification" else "prediction"
    _, gravity_key = auth.create_key(server.ctx, org, app=app_id)
    _same(task, _gravity_predictions(server, gravity_key, columns, x_out[:HELD_OUT], field), predicted[:HELD_OUT])
    _same(task, _superai_predictions(server, key, app_id, columns, x_out[:HELD_OUT], field), predicted[:HELD_OUT])


def test_a_publish_target_that_cannot_be_published_to_is_a_400_at_create(server):
    api, _, _ = _org(server)
    columns, x, y = _table("iris")
    upload(api, "iris.csv", _csv(columns, x[::3], y[::3]))
    model = {"family": "logistic"}
    first = wait_for(api, api.post("/v0.5/batch/jobs", json=_body("iris.csv", "classification", model)).json()["id"])
    assert api.post(f"/v0.5/batch/jobs/{first['id']}/publish", json={"app": "iris", "version": "2.0.0"}
                    ).status_code == 201
    before = api.get("/v0.5/batch/jobs").json()["total"]
    for target, field in [({"app": "iris", "version": "2.0.0"}, "publish.version"),
                          ({"app": "a/b"}, "publish.app"), ({"app": "iris", "version": "two point oh"},
                                                            "publish.version")]:
        r = api.post("/v0.5/batch/jobs", json=_body("iris.csv", "classification", model, publish=target))
        assert r.status_code == 400, r.text
        fields = [e.get("field") or "" for e in r.json()["errors"]]
        assert any(f.startswith(f"parameters.worker.config.{field}") for f in fields), fields
    assert api.get("/v0.5/batch/jobs").json()["total"] == before

