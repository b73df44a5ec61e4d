"""Lazy imports: a worker that has only read the registry, and a server that has started (context,
migrations, example app, the registry API), hold none of the pipelines' heavy libraries; a worker
imports a pipeline's libraries when it first loads that pipeline.

What a user sees is memory (`bench/bench_memory.py`: ~850 MB idle with 2 workers when they were
imported up front); which modules are in `sys.modules` is the exact, fast proxy. Each check runs
in a fresh interpreter, since this test process imported them long ago.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobport.pipelines.builtin.tabular.example import build_example_model

TESTS_DIR = Path(__file__).resolve().parents[1]
HEAVY = ["numpy", "scipy", "sklearn", "pyarrow", "onnxruntime", "onnx", "skl2onnx", "skops", "llama_cpp",
         "av", "PIL", "torch", "ray", "boto3"]

PRELUDE = f"""
import json, sys
HEAVY = {HEAVY!r}
def heavy():
    return sorted(m for m in HEAVY if m in sys.modules)
def report(**values):
    print("RESULT " + json.dumps(values))
"""

# What a local worker process does before its first task (local_worker.worker_main), plus the
# create-time work the server does with each pipeline: config validation, defaults and schemas,
# check_create and config warnings.
WORKER_IDLE = PRELUDE + """
from jobport.engine.executors import local_worker  # noqa: F401  (the worker's own imports)
from jobport.pipelines.registry import Registry, config_schema, default_config
from jobport.pipelines.sdk import FileFacts, HostContext

registry = Registry.from_entry_points(HostContext())
after_registry = heavy()
for pipeline in registry.all():
    default_config(pipeline.spec)
    config_schema(pipeline.spec)
tabular = registry.get("tabular-model", "1.0.0")
config = tabular.spec.config_model.model_validate({
    "mime_type": "text/csv; header=present",
    "features": [{"name": "x", "type": "number"}, {"name": "flag", "type": "boolean"}],
    "outputs": [{"name": "label", "type": "string"}],
    "mapping": [{"source": "flag_in", "destination": "flag", "defaultValue": "true"}],
})
facts = {"worker.data": [FileFacts("data.csv", 10, {"column_headers": ["y"]}, {})],
         "worker.model": [FileFacts("model.pkl", 10, {}, {})]}
problems = list(tabular.check_create(config, facts)) + tabular.config_warnings(config)
machine = registry.get("machine-state-classification", "1.1.1")
ms_config = machine.spec.config_model.model_validate(
    {"model_type": "omega_1_4", "reader_config": {"data_columns": ["a"], "timestamp_column": "t"}})
shots = {"worker.n_shots": [FileFacts("s.csv", 10, {"column_headers": ["t", "a"], "num_rows": 3}, {"class": "on"})]}
problems += list(machine.check_create(ms_config, shots)) + machine.config_warnings(ms_config)
report(keys=registry.keys(), after_registry=after_registry, after_checks=heavy(), problems=len(problems))
"""

# The server's lifespan (build_context, migrations, admin key, the example app, sync of the
# registry) and the registry API, in process; no scheduler, so no worker processes.
SERVER_IDLE = PRELUDE + """
from fastapi.testclient import TestClient
from jobport.config import Settings
from jobport.server import create_app

settings = Settings(home=sys.argv[1], admin_key="jp_lazy_admin_key_0123456789", example_app=True)
with TestClient(create_app(settings, run_scheduler=False)) as client:
    headers = {"Authorization": "Bearer jp_lazy_admin_key_0123456789"}
    codes = [client.get(path, headers=headers).status_code for path in (
        "/v0.5/batch/registry/pipelines", "/v0.5/batch/registry/pipelines/tabular-model/schema", "/v0.5/apps")]
    report(after_start=heavy(), codes=codes)
"""

# A worker's first task for each pipeline: `load`, then one input processed.
WORKER_LOADS = PRELUDE + """
from pathlib import Path
from fakes import FakeSink, file_ref
from jobport.pipelines.registry import Registry
from jobport.pipelines.sdk import HostContext, LoadContext

data = Path(sys.argv[1])
registry = Registry.from_entry_points(HostContext())
before = heavy()
tabular = registry.get("tabular-model", "1.0.0")
config = tabular.spec.config_model.model_validate(json.loads((data / "config.json").read_text()))
worker = tabular.load(config, [file_ref(data / "iris_logreg.onnx", "worker.model")], LoadContext())
after_tabular_load = heavy()
sink = FakeSink()
records = worker.process(file_ref(data / "iris.csv", "worker.data"), sink, config).items
after_tabular = heavy()

machine = registry.get("machine-state-classification", "1.1.1")
ms_config = machine.spec.config_model.model_validate({
    "reader_config": {"data_columns": ["a", "b"], "timestamp_column": "t", "window_size": 8, "step_size": 2},
    "classifier_config": {"n_neighbors": 3}})
shots = [file_ref(data / f"{label}.csv", "worker.n_shots", {"class": label}) for label in ("idle", "busy")]
ms_worker = machine.load(ms_config, shots, LoadContext())
windows = ms_worker.process(file_ref(data / "busy.csv", "worker.inference"), FakeSink(), ms_config).items
report(before=before, after_tabular_load=after_tabular_load, after_tabular=after_tabular, records=records,
       after_machine=heavy(), windows=windows)
"""


def run_fresh(code: str, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBPORT_")}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in reversed(done.stdout.splitlines()) if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def test_an_idle_worker_and_the_create_time_checks_import_no_heavy_library() -> None:
    result = run_fresh(WORKER_IDLE)
    assert {"tabular-model", "machine-state-classification", "activity-detection"} <= set(result["keys"])
    assert result["after_registry"] == []
    assert result["after_checks"] == []
    assert result["problems"] >= 3  # the checks did run: missing column, not a model file, too few rows...


def test_a_started_server_imports_no_heavy_library(tmp_path: Path) -> None:
    result = run_fresh(SERVER_IDLE, str(tmp_path / "home"))
    assert result["codes"] == [200, 200, 200]
    assert result["after_start"] == []  # the example model is trained and exported in a child process
    assert (tmp_path / "home" / "example-app.key").is_file()


@pytest.fixture(scope="module")
def pipeline_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("lazy")
    model = build_example_model(data)
    (data / "config.json").write_text(json.dumps(model.config))
    (data / "iris.csv").write_text("sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n"
                                   "6.7,3.0,5.2,2.3\n")
    for label, freq in (("idle", 0.1), ("busy", 1.3)):
        rows = [f"{t},{math.sin(freq * t):.4f},{math.cos(freq * t) * (2 if label == 'busy' else 1):.4f}"
                for t in range(60)]
        (data / f"{label}.csv").write_text("t,a,b\n" + "\n".join(rows) + "\n")
    return data


def test_a_worker_imports_a_pipelines_libraries_when_it_first_loads_it(pipeline_data: Path) -> None:
    result = run_fresh(WORKER_LOADS, str(pipeline_data))
    assert result["before"] == []
    assert {"numpy", "onnxruntime"} <= set(result["after_tabular_load"])
    assert "pyarrow" in result["after_tabular"] and result["records"] == 2
    assert not {"sklearn", "llama_cpp"} & set(result["after_tabular"])  # only what the ONNX model needs
    assert "sklearn" in result["after_machine"] and result["windows"] == 27
