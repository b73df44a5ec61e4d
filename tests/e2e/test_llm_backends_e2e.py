"""activity-detection against real processes: a `jobport serve` whose catalogue names an
OpenAI-compatible server (llama.cpp's own `llama_cpp.server` serving the same GGUF on loopback),
the same job on the embedded backend for comparison, and `jobport submit FILE.jsonl`."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from jobport.sdk.client import JobportClient
from jobport.testing.embedded import JOBPORT, EmbeddedServer, free_port
from jobport.testing.llamaserver import llama_server as run_llama_server

RECORDS = [
    {"prompt": "What is 2+2?"},
    {"instruction": "Describe the activity in one short sentence.", "prompt": "A man rides a bicycle uphill."},
    "not json at all",
    {"inputs": [{"type": "video", "format": "base64", "data": "AAAA"}]},
    {"prompt": "Name a fruit."},
]
GREEDY = {"do_sample": False, "max_new_tokens": 24}


def write_jsonl(path: Path) -> Path:
    path.write_bytes(b"".join((r.encode() if isinstance(r, str) else orjson.dumps(r)) + b"\n" for r in RECORDS))
    return path


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory) -> Iterator[str]:
    with run_llama_server(tmp_path_factory.mktemp("llama") / "server.log", n_ctx=4096) as url:
        yield url


@pytest.fixture(scope="module")
def jobport_with_remote_model(tmp_path_factory, llama_server) -> Iterator[EmbeddedServer]:
    home = tmp_path_factory.mktemp("home")
    (home / "models.toml").write_text(
        f'[models.llamacpp-server]\nkind = "openai"\nbase_url = "{llama_server}"\nmodel = "smollm2"\n'
        f'max_concurrency = 2\nmax_retries = 1\n\n'
        f'[models.unreachable]\nkind = "openai"\nbase_url = "http://127.0.0.1:{free_port()}/v1"\nmodel = "x"\n'
        f'max_retries = 1\ntimeout_seconds = 2\n')
    server = EmbeddedServer(home=home, workers=1, key="e2e-llm-key")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def run_job(server: EmbeddedServer, path: Path, model: str) -> tuple[dict, list[dict]]:
    with JobportClient(server.url + "/v0.5", server.key) as client:
        client.upload_file(path)
        job = client.create_job({
            "pipeline_type": "batch", "pipeline_key": "activity-detection", "name": f"ad-{model}",
            "inputs": {"worker.data": [{"file_id": path.name}]},
            "parameters": {"worker": {"config": {"model_variant": model, "generation": GREEDY, "batch_size": 2}}},
        })
        job = client.wait_job(job["id"], timeout=300)
        dest = path.parent / job["id"]
        files = sorted(client.download_outputs(job["id"], dest),
                       key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    rows = [orjson.loads(line) for f in files for line in f.read_bytes().splitlines()]
    return job, rows


def check_rows(rows: list[dict]) -> None:
    assert [r["line_index"] for r in rows] == list(range(len(RECORDS)))
    for i in (0, 1, 4):
        assert isinstance(rows[i]["prediction"], str) and rows[i]["prediction"].strip(), rows[i]
    assert "4" in rows[0]["prediction"]  # SmolLM2-135M's greedy answer: "The answer ... is 4."
    assert rows[2]["prediction"] is None and "parse error" in rows[2]["error"]
    assert rows[3]["prediction"] is None and "text-only" in rows[3]["error"]


def test_openai_backend_against_llama_cpp_server(jobport_with_remote_model, tmp_path):
    job, rows = run_job(jobport_with_remote_model, write_jsonl(tmp_path / "remote.jsonl"), "llamacpp-server")
    assert job["status"] == "COMPLETED", job
    check_rows(rows)

    # the same records on the embedded backend: same model file, same greedy answers
    local_job, local_rows = run_job(jobport_with_remote_model, write_jsonl(tmp_path / "local.jsonl"),
                                    "smollm2-135m-instruct")
    assert local_job["status"] == "COMPLETED"
    check_rows(local_rows)


def test_unreachable_model_server_gives_per_line_errors(jobport_with_remote_model, tmp_path):
    job, rows = run_job(jobport_with_remote_model, write_jsonl(tmp_path / "down.jsonl"), "unreachable")
    assert job["status"] == "COMPLETED"
    assert all(r["prediction"] is None for r in rows)
    assert "cannot reach model server" in rows[0]["error"] and "after 2 attempts" in rows[0]["error"]


def test_models_list_and_submit_jsonl_from_the_cli(jobport_with_remote_model, tmp_path):
    server = jobport_with_remote_model
    listed = subprocess.run([JOBPORT, "models", "list", "--json"], env=server.env, capture_output=True, text=True,
                            timeout=60)
    assert listed.returncode == 0, listed.stderr
    names = {m["name"] for m in orjson.loads(listed.stdout)}
    assert names == {"smollm2-135m-instruct", "llamacpp-server", "unreachable"}
    table = subprocess.run([JOBPORT, "models", "list"], env={**server.env, "COLUMNS": "200"}, capture_output=True,
                           text=True, timeout=60)
    assert "llamacpp-server" in table.stdout and "http://127.0.0.1" in table.stdout

    data = write_jsonl(tmp_path / "cli.jsonl")
    config = orjson.dumps({"generation": GREEDY}).decode()
    result = subprocess.run([JOBPORT, "submit", "--pipeline", "activity-detection", str(data), "--wait",
                             "--config", config, "--dest", str(tmp_path / "out")],
                            env=server.env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "COMPLETED" in result.stdout
    [part] = list((tmp_path / "out").rglob("pred_cli_part_*.jsonl"))
    check_rows([orjson.loads(line) for line in part.read_bytes().splitlines()])
