"""Test data and polling helpers: synthetic machine-state CSVs (generated, never downloaded) and
waiting for jobs to reach a status, hosting the example Iris model as an app, and an app version whose
jobs fail in the worker."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}


def machine_csv(state: str, rows: int, seed: int = 0, start: int = 0, columns=("a", "b", "c")) -> bytes:
    """A CSV of `rows` samples of one machine state: 'idle' (low level, little vibration),
    'run' (high level, strong 1/8-rate oscillation) or 'fault' (mid level, fast jitter)."""
    rng = np.random.default_rng(seed)
    t = np.arange(start, start + rows)
    chans = []
    for i, _ in enumerate(columns):
        if state == "idle":
            x = 0.1 * rng.standard_normal(rows) + 0.2 * i
        elif state == "run":
            x = 3.0 + 1.5 * np.sin(2 * np.pi * t / 8 + i) + 0.2 * rng.standard_normal(rows)
        else:
            x = 1.5 + 0.8 * np.sign(np.sin(2 * np.pi * t / 3 + i)) + 0.3 * rng.standard_normal(rows)
        chans.append(x)
    lines = ["timestamp," + ",".join(columns)]
    for j in range(rows):
        lines.append(f"{t[j]}," + ",".join(f"{c[j]:.4f}" for c in chans))
    return ("\n".join(lines) + "\n").encode()


def upload(api, name: str, content: bytes, content_type: str = "text/csv") -> dict:
    r = api.post("/v0.5/files", files={"file": (name, content, content_type)})
    assert r.status_code == 200, r.text
    return r.json()


def machine_job_body(inference: list[str], shots: dict[str, str], name: str = "test-job", **config) -> dict:
    reader = {"data_columns": ["a", "b", "c"], "timestamp_column": "timestamp", "window_size": 16, "step_size": 4}
    reader.update(config.pop("reader_config", {}))
    return {
        "name": name,
        "pipeline_type": "batch",
        "pipeline_key": "machine-state-classification",
        "inputs": {
            "worker.inference": [{"file_id": f} for f in inference],
            "worker.n_shots": [{"file_id": f, "metadata": {"class": c}} for f, c in shots.items()],
        },
        "parameters": {"worker": {"parallelism": config.pop("parallelism", 1),
                                  "config": {"reader_config": reader, **config}}},
    }


def wait_for(api, job_id: str, statuses=TERMINAL, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = api.get(f"/v0.5/batch/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s: {job}")
        time.sleep(0.05)


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def make_settings(**values):
    """`Settings` from flat names spelled as in the environment (`workers=2`,
    `callback_max_attempts=4`, `superai_page_max=5`): each goes to the group it belongs to."""
    from jobport.config import Settings

    top: dict = {}
    groups: dict[str, dict] = {}
    for name, value in values.items():
        group, field = Settings.locate(name)
        if group is None:
            top[field] = value
        else:
            groups.setdefault(group, {})[field] = value
    return Settings(**top, **groups)


def add_failing_version(client, headers: dict, app_id: str, config: dict, version: str = "2.0.0") -> None:
    """Add a version of a tabular-model app whose jobs fail in the worker: its config declares the
    model's text `label` output as an integer (the model loads and its widths fit, so the version
    is accepted; every record then fails "model output 'label' is text"). Jobs made before keep
    their own version."""
    outputs = [{**o, "type": "integer"} if o["name"] == "label" else o for o in config["outputs"]]
    r = client.post(f"/v0.5/apps/{app_id}/versions", headers=headers, json={
        "version": version, "config": {**config, "outputs": outputs},
        "references": {"worker.model": [{"file_id": "iris.onnx"}]}})
    assert r.status_code in (200, 201), r.text


def host_iris_app(client, key: str, model, name: str = "iris") -> str:
    """Upload the example Iris model as `iris.onnx` with the org key `key` and host it as a
    `tabular-model` app named `name`; the app's id."""
    native = {"Authorization": f"Bearer {key}"}
    r = client.post("/v0.5/files", headers=native,
                    files={"file": ("iris.onnx", Path(model.path).read_bytes(), "application/octet-stream")})
    assert r.status_code == 200, r.text
    r = client.post("/v0.5/apps", headers=native, json={
        "name": name, "pipeline_key": "tabular-model", "config": model.config,
        "references": {"worker.model": [{"file_id": "iris.onnx"}]}})
    assert r.status_code == 201, r.text
    return r.json()["id"]


# a record the example Iris app (`iris-classifier`, registered at the embedded server's first start) labels virginica
VIRGINICA_FLOWER = {"sepal_length": 5.9, "sepal_width": 3.0, "petal_length": 5.1, "petal_width": 1.8}


def example_app_id(server) -> str:
    """The id of the example Iris app an embedded server registers at its first start."""
    with server.client() as http:
        apps = http.get("/v0.5/apps").json()["apps"]
    return next(a["id"] for a in apps if a["name"] == "iris-classifier")
