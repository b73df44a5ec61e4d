"""The `jobport` executable's client commands against a real `jobport serve` process: files, jobs
(create/get/list/cancel/retry/download), `submit` end to end, API and usage errors, and a key made by
`jobport keys create` working against the server."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import time
from pathlib import Path

from helpers import machine_csv
from jobport.testing.embedded import JOBPORT

PIPELINE = "machine-state-classification"
READER = {"data_columns": ["a", "b", "c"], "timestamp_column": "timestamp", "window_size": 16, "step_size": 4}
CONFIG = json.dumps({"reader_config": READER})
JOB_ID = re.compile(r"job_[0-9a-z]{26}")


def jp(server, *args: str, cwd: Path | None = None, env: dict | None = None,
       check: bool = True) -> subprocess.CompletedProcess:
    """Run `jobport ARGS`; with `check`, fail unless it exits 0 (showing its output and the server log)."""
    result = subprocess.run([JOBPORT, *args], env=env or server.env, cwd=cwd, capture_output=True, text=True,
                            timeout=120)
    if check and result.returncode != 0:
        log = (server.home / "server.log").read_text(errors="replace")[-3000:]
        raise AssertionError(f"jobport {' '.join(args)} exited {result.returncode}\nstdout: {result.stdout}\n"
                             f"stderr: {result.stderr}\nserver log tail:\n{log}")
    return result


def jp_json(server, *args: str, **kwargs):
    return json.loads(jp(server, *args, "--json", **kwargs).stdout)


def jp_fails(server, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return jp(server, *args, check=False, **kwargs)


def data_files(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "idle.csv").write_bytes(machine_csv("idle", 200, seed=1))
    (directory / "run.csv").write_bytes(machine_csv("run", 200, seed=2))
    (directory / "line.csv").write_bytes(
        machine_csv("idle", 100, seed=3) + machine_csv("run", 100, seed=4, start=100).split(b"\n", 1)[1])
    (directory / "other.csv").write_bytes(machine_csv("run", 120, seed=5))
    return directory


def wait_status(server, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = jp_json(server, "jobs", "get", job_id)
        if job["status"] in ("COMPLETED", "FAILED", "CANCELLED") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def assert_predictions(path: Path) -> None:
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["timestamp", "Prediction"], rows[:2]
    assert len(rows) > 1 and {r[1] for r in rows[1:]} <= {"idle", "run"}


def test_files_and_jobs_commands(live_server, tmp_path):
    data = data_files(tmp_path / "data")
    uploaded = jp_json(live_server, "files", "upload", *(str(data / n) for n in ("idle.csv", "run.csv", "line.csv")))
    assert [u["file_id"] for u in uploaded] == ["idle.csv", "run.csv", "line.csv"]
    listing = jp(live_server, "files", "list").stdout
    assert all(name in listing for name in ("idle.csv", "run.csv", "line.csv"))

    job = jp_json(live_server, "jobs", "create", "--pipeline", PIPELINE, "--name", "cli-job",
                  "--input", "worker.inference=line.csv", "--input", "worker.n_shots=idle.csv:idle",
                  "--shot", "run=run.csv", "--config", CONFIG, "--priority", "3")
    assert job["status"] == "PENDING" and job["priority"] == 3
    assert job["parameters"]["worker"]["config"]["reader_config"]["step_size"] == 4

    done = wait_status(live_server, job["id"])
    assert done["status"] == "COMPLETED" and done["input_progress"]["completed"] == 1
    shown = jp(live_server, "jobs", "get", job["id"]).stdout
    assert "COMPLETED" in shown and "1/1" in shown and "cli-job" in shown

    page = jp_json(live_server, "jobs", "list", "--q", "cli-job")
    assert page["total"] == 1 and page["jobs"][0]["id"] == job["id"]
    table = jp(live_server, "jobs", "list", "--status", "completed").stdout
    assert job["id"] in table and "1-1 of 1" in table

    jp(live_server, "jobs", "download", job["id"], "--dest", str(tmp_path / "out"))
    assert_predictions(tmp_path / "out" / "pred_line_part_0.csv")
    jp(live_server, "jobs", "download", job["id"], cwd=tmp_path)  # default ./results/<id>
    assert_predictions(tmp_path / "results" / job["id"] / "pred_line_part_0.csv")

    # --body sends a full body, e.g. one saved from an earlier job
    body = {"name": "from-body", "pipeline_type": "batch", "pipeline_key": PIPELINE,
            "inputs": {"worker.inference": [{"file_id": "line.csv"}],
                       "worker.n_shots": [{"file_id": "idle.csv", "metadata": {"class": "idle"}},
                                          {"file_id": "run.csv", "metadata": {"class": "run"}}]},
            "parameters": {"worker": {"config": {"reader_config": READER}}}}
    (tmp_path / "body.json").write_text(json.dumps(body))
    again = jp_json(live_server, "jobs", "create", "--body", f"@{tmp_path / 'body.json'}")
    assert again["name"] == "from-body" and wait_status(live_server, again["id"])["status"] == "COMPLETED"


def test_cancel_and_retry(live_server, tmp_path):
    data = data_files(tmp_path)
    (data / "long.csv").write_bytes(machine_csv("run", 20000, seed=6))  # ~20 s of work at step 1
    jp(live_server, "files", "upload", str(data / "idle.csv"), str(data / "run.csv"), str(data / "long.csv"))
    config = json.dumps({"reader_config": {**READER, "step_size": 1}})
    job = jp_json(live_server, "jobs", "create", "--pipeline", PIPELINE, "--name", "long", "--inference", "long.csv",
                  "--shot", "idle=idle.csv", "--shot", "run=run.csv", "--config", config)

    assert "CANCELLED" in jp(live_server, "jobs", "cancel", job["id"]).stdout
    again = jp_fails(live_server, "jobs", "cancel", job["id"])
    assert again.returncode == 1 and "can no longer be cancelled" in again.stderr
    retried = jp(live_server, "jobs", "retry", job["id"]).stdout
    assert "PENDING" in retried and "retry 1" in retried
    jp(live_server, "jobs", "cancel", job["id"])
    assert wait_status(live_server, job["id"])["retry_count"] == 1


def test_submit_end_to_end(live_server, tmp_path):
    data_files(tmp_path)
    result = jp(live_server, "submit", "--pipeline", PIPELINE, "--inference", "line.csv", "--inference", "other.csv",
                "--shot", "idle=idle.csv", "--shot", "run=run.csv", "--config", CONFIG, "--parallelism", "2",
                cwd=tmp_path)
    job_id = JOB_ID.search(result.stdout).group()
    assert "COMPLETED" in result.stdout and "2 input(s) completed, 0 failed" in result.stdout
    assert "2/2" in result.stderr  # the progress bar's last state
    parts = sorted((tmp_path / "results" / job_id).glob("pred_*_part_*.csv"))
    assert [p.name for p in parts] == ["pred_line_part_0.csv", "pred_other_part_0.csv"]
    for part in parts:
        assert_predictions(part)
    assert jp_json(live_server, "jobs", "get", job_id)["parameters"]["worker"]["parallelism"] == 2

    # --no-wait prints only the job id; the generic --input form works for any port
    queued = jp(live_server, "submit", "--pipeline", PIPELINE, "--input", "worker.inference=line.csv",
                "--input", "worker.n_shots=idle.csv:idle", "--input", "worker.n_shots=run.csv:run",
                "--config", CONFIG, "--name", "no-wait", "--no-wait", cwd=tmp_path).stdout.strip()
    assert JOB_ID.fullmatch(queued)
    assert wait_status(live_server, queued)["status"] == "COMPLETED"


def test_api_and_usage_errors(live_server, tmp_path):
    data_files(tmp_path)
    bad = jp_fails(live_server, "jobs", "create", "--pipeline", "no-such-pipeline", "--name", "x",
                   "--inference", "line.csv")
    assert bad.returncode == 1 and bad.stdout == ""
    assert "unknown pipeline 'no-such-pipeline'" in bad.stderr
    assert "Use one of: " in bad.stderr and PIPELINE in bad.stderr  # the server's suggestion

    missing_file = jp_fails(live_server, "jobs", "create", "--pipeline", PIPELINE, "--name", "x",
                            "--inference", "never-uploaded.csv", "--shot", "idle=idle.csv", "--config", CONFIG)
    assert missing_file.returncode == 1 and "'never-uploaded.csv' has not been uploaded" in missing_file.stderr

    bad_submit = jp_fails(live_server, "submit", "--pipeline", "no-such-pipeline", "--inference", "line.csv",
                          cwd=tmp_path)
    assert bad_submit.returncode == 1 and "pipeline 'no-such-pipeline' not found" in bad_submit.stderr
    assert jp_json(live_server, "files", "list") == []  # it failed before uploading anything

    not_found = jp_fails(live_server, "jobs", "get", "job_00000000000000000000000000")
    assert not_found.returncode == 1 and "not found" in not_found.stderr

    create = ("jobs", "create", "--pipeline", PIPELINE, "--name", "x")
    assert jp_fails(live_server, *create, "--input", "no-equals").returncode == 2
    assert jp_fails(live_server, *create, "--config", "{oops").returncode == 2
    assert jp_fails(live_server, "submit", "--pipeline", PIPELINE, "--inference", "absent.csv").returncode == 2
    assert jp_fails(live_server, "jobs", "frobnicate").returncode == 2

    wrong_key = jp_fails(live_server, "jobs", "list", "--api-key", "not-a-key")
    assert wrong_key.returncode == 1 and "invalid API key" in wrong_key.stderr
    unreachable = jp_fails(live_server, "jobs", "list", "--url", "http://127.0.0.1:9")
    assert unreachable.returncode == 1 and "cannot reach" in unreachable.stderr


def test_keys_create_makes_a_working_key(live_server, tmp_path):
    data_files(tmp_path)
    jp(live_server, "files", "upload", str(tmp_path / "idle.csv"))  # as the admin org

    created = jp(live_server, "keys", "create", "--org", "acme")  # JOBPORT_HOME is the server's home
    key = created.stdout.strip().splitlines()[-1]
    acme = {**live_server.env, "JOBPORT_API_KEY": key}
    assert jp_json(live_server, "files", "list", env=acme) == []  # another org's files are not visible
    jp(live_server, "files", "upload", str(tmp_path / "run.csv"), env=acme)

    # without JOBPORT_API_KEY the client reads $JOBPORT_HOME/admin.key
    home = tmp_path / "client-home"
    home.mkdir()
    (home / "admin.key").write_text(key + "\n")
    unkeyed = {k: v for k, v in acme.items() if k not in ("JOBPORT_API_KEY", "JOBPORT_ADMIN_KEY")}
    from_file = unkeyed | {"JOBPORT_HOME": str(home)}
    assert [f["file_id"] for f in jp_json(live_server, "files", "list", env=from_file)] == ["run.csv"]

    # a server started with JOBPORT_ADMIN_KEY writes no key file: the CLI reads the variable
    empty_home = tmp_path / "no-key-home"
    empty_home.mkdir()
    from_admin_var = unkeyed | {"JOBPORT_HOME": str(empty_home), "JOBPORT_ADMIN_KEY": key}
    assert [f["file_id"] for f in jp_json(live_server, "files", "list", env=from_admin_var)] == ["run.csv"]
    nothing = unkeyed | {"JOBPORT_HOME": str(empty_home), "COLUMNS": "300"}
    no_key = jp_fails(live_server, "files", "list", env=nothing)
    assert no_key.returncode == 2 and "JOBPORT_ADMIN_KEY" in no_key.stderr


def test_apps_example_model_then_apps_create_hosts_it_and_a_broken_model_is_refused(live_server, tmp_path):
    made = jp(live_server, "apps", "example-model", str(tmp_path))
    assert "jobport apps create" in made.stdout
    model, config = tmp_path / "iris_logreg.onnx", tmp_path / "iris-config.json"
    app = jp_json(live_server, "apps", "create", "--name", "iris-cli", "--pipeline", "tabular-model",
                  "--config", f"@{config}", "--reference", f"worker.model={model}")
    assert app["name"] == "iris-cli" and app["latest_version"] == "1.0.0"

    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x01" + b"not a graph" * 20)
    refused = jp_fails(live_server, "apps", "create", "--name", "broken", "--pipeline", "tabular-model",
                       "--config", f"@{config}", "--reference", f"worker.model={junk}")
    assert refused.returncode == 1 and "junk.onnx" in refused.stderr and "ONNX" in refused.stderr
    assert str(live_server.home) not in refused.stderr
    assert [a["name"] for a in jp_json(live_server, "apps", "list")].count("broken") == 0


def test_retention_set_gives_an_org_its_own_retention_and_refuses_unknown_orgs(live_server):
    jp(live_server, "keys", "create", "--org", "keeper")
    done = jp(live_server, "retention", "set", "--org", "keeper", "--days", "7")
    assert "7 days" in done.stderr
    back = jp(live_server, "retention", "set", "--org", "keeper", "--default")
    assert "JOBPORT_RETENTION_JOB_DAYS" in back.stderr
    unknown = jp_fails(live_server, "retention", "set", "--org", "nobody", "--days", "1")
    assert unknown.returncode == 1 and "nobody" in unknown.stderr
    assert jp_fails(live_server, "retention", "set", "--org", "keeper").returncode == 2
