"""`jobport.sdk.client` against the real app in process (the shared `server` fixture: lifespan, scheduler
and workers running), plus a few pure cases on a mock transport (error parsing, wait timeout)."""

from __future__ import annotations

import csv

import httpx
import pytest

from helpers import machine_csv
from jobport.sdk import client as client_module
from jobport.sdk.client import JobportClient, JobportError

CONFIG = {"reader_config": {"data_columns": ["a", "b", "c"], "timestamp_column": "timestamp",
                            "window_size": 16, "step_size": 4}}


class ThroughTestClient(httpx.BaseTransport):
    """An httpx transport that sends through the app's TestClient, in process (signed links route to
    the app too). Starlette's TestClient is built on `httpx2` where installed (the `openai` client
    brings it), whose transport objects `httpx` cannot drive directly."""

    def __init__(self, client) -> None:
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.client.request(request.method, str(request.url), headers=list(request.headers.multi_items()),
                                     content=request.read())
        headers = [(k, v) for k, v in answer.headers.multi_items() if k.lower() != "content-encoding"]
        return httpx.Response(answer.status_code, headers=headers, content=answer.content, request=request)


@pytest.fixture
def jp(server, api):
    with JobportClient("http://testserver", api.key, transport=ThroughTestClient(server.client)) as c:
        yield c


def _files(tmp_path, jp) -> None:
    for name, state, seed in [("idle.csv", "idle", 1), ("run.csv", "run", 2), ("line.csv", "run", 3)]:
        (tmp_path / name).write_bytes(machine_csv(state, 200, seed=seed))
        jp.upload_file(tmp_path / name)


def _body(name="client-job", inference=("line.csv",)) -> dict:
    return {"name": name, "pipeline_type": "batch", "pipeline_key": "machine-state-classification",
            "inputs": {"worker.inference": [{"file_id": f} for f in inference],
                       "worker.n_shots": [{"file_id": "idle.csv", "metadata": {"class": "idle"}},
                                          {"file_id": "run.csv", "metadata": {"class": "run"}}]},
            "parameters": {"worker": {"config": CONFIG}}}


def test_files_roundtrip(jp, tmp_path):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"f{i}.csv")
        paths[-1].write_bytes(machine_csv("idle", 20 + i, seed=i))
        up = jp.upload_file(paths[-1])
        assert up["file_id"] == f"f{i}.csv" and up["file_type"] == "text/csv"
    assert jp.get_file("f1.csv")["file_attributes"]["num_rows"] == 21
    assert [f["file_id"] for f in jp.iter_files(page_size=1)] == ["f2.csv", "f1.csv", "f0.csv"]  # cursor paging
    page = jp.list_files(limit=2)
    assert len(page["data"]) == 2 and page["has_more"]

    (tmp_path / "dl").mkdir()
    saved = jp.download_file("f0.csv", tmp_path / "dl")
    assert saved == tmp_path / "dl" / "f0.csv" and saved.read_bytes() == paths[0].read_bytes()

    assert jp.delete_file("f0.csv")["deleted"] is True
    with pytest.raises(JobportError) as info:
        jp.get_file("f0.csv")
    assert info.value.status_code == 404


def test_pipelines(jp):
    keys = [p["pipeline_key"] for p in jp.list_pipelines()]
    assert "machine-state-classification" in keys
    assert jp.get_pipeline("machine-state-classification")["pipeline_version"] == "1.1.1"


def test_job_flow(jp, tmp_path, monkeypatch):
    monkeypatch.setattr(client_module, "PAGE_SIZE", 2)  # make every collection span several pages
    _files(tmp_path, jp)
    job = jp.create_job(_body(), idempotency_key="client-flow-1")
    assert job["status"] == "PENDING"
    assert jp.create_job(_body(), idempotency_key="client-flow-1")["id"] == job["id"]

    seen = []
    done = jp.wait_job(job["id"], timeout=120, on_update=lambda j: seen.append(j["status"]))
    assert done["status"] == "COMPLETED" and seen[-1] == "COMPLETED"
    assert done["input_progress"]["completed"] == 1

    inputs = jp.job_inputs(job["id"])
    assert sorted(i["status"] for i in inputs) == ["completed", "reference", "reference"]
    assert [i["file_id"] for i in jp.job_inputs(job["id"], status="completed")] == ["line.csv"]
    events = jp.job_events(job["id"])
    assert len(events) > 2 and "job.completed" in [e["event_type"] for e in events]

    outputs = jp.job_outputs(job["id"])
    paths = jp.download_outputs(job["id"], tmp_path / "out")
    assert [p.name for p in paths] == [o["data"]["filename"] for o in outputs]
    rows = list(csv.reader(paths[0].open()))
    assert rows[0] == ["timestamp", "Prediction"] and len(rows) > 1

    listing = jp.list_jobs(q="client-job")
    assert listing["total"] == 1 and listing["jobs"][0]["id"] == job["id"]
    assert jp.list_jobs(status="COMPLETED", limit=1)["limit"] == 1
    assert jp.delete_job(job["id"]) == {"id": job["id"], "deleted": True}
    with pytest.raises(JobportError) as info:
        jp.get_job(job["id"])
    assert info.value.code == "not_found"


def test_retry_and_cancel(jp, tmp_path):
    _files(tmp_path, jp)
    (tmp_path / "short.csv").write_bytes(machine_csv("idle", 5))
    jp.upload_file(tmp_path / "short.csv")
    job = jp.create_job(_body("failing", inference=["short.csv"]))
    assert jp.wait_job(job["id"], timeout=120)["status"] == "FAILED"
    retried = jp.retry_job(job["id"])
    assert retried == {"id": job["id"], "status": "PENDING", "retry_count": 1}
    assert jp.wait_job(job["id"], timeout=120)["status"] == "FAILED"

    with pytest.raises(JobportError) as info:
        jp.cancel_job(job["id"])  # terminal: 409
    assert info.value.status_code == 409 and "can no longer be cancelled" in str(info.value)

    (tmp_path / "long.csv").write_bytes(machine_csv("run", 20000))
    jp.upload_file(tmp_path / "long.csv")
    body = _body("long", inference=["long.csv"])
    body["parameters"]["worker"]["config"] = {"reader_config": {**CONFIG["reader_config"], "step_size": 1}}
    long_job = jp.create_job(body)
    assert jp.cancel_job(long_job["id"])["status"] == "CANCELLED"
    assert jp.wait_job(long_job["id"], timeout=10)["status"] == "CANCELLED"


def test_server_errors_become_jobport_errors(jp, server):
    with pytest.raises(JobportError) as info:
        jp.create_job({**_body(), "pipeline_key": "no-such-pipeline"})
    e = info.value
    assert e.status_code == 400 and e.code == "invalid_pipeline"
    assert "unknown pipeline 'no-such-pipeline'" in e.message
    assert "hint: Use one of: " in str(e) and "machine-state-classification" in str(e)

    with JobportClient("http://testserver/v0.5", "wrong-key", transport=ThroughTestClient(server.client)) as anon:
        with pytest.raises(JobportError) as info:
            anon.list_jobs()
    assert info.value.status_code == 401 and info.value.code == "unauthorized"


def _mock(handler) -> JobportClient:
    return JobportClient("http://mock", "k", transport=httpx.MockTransport(handler))


def test_error_bodies_that_are_not_archetype_shaped():
    with _mock(lambda r: httpx.Response(502, text="<html>Bad Gateway</html>")) as c:
        with pytest.raises(JobportError) as info:
            c.get_job("job_x")
    assert info.value.status_code == 502 and "Bad Gateway" in info.value.message
    with _mock(lambda r: httpx.Response(401, json={"detail": "Not authenticated"})) as c:
        with pytest.raises(JobportError) as info:
            c.get_job("job_x")
    assert info.value.message == "Not authenticated"


def test_wait_job_times_out_and_sends_auth_only_to_the_api():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "job_x", "status": "RUNNING", "input_progress": {}})

    with _mock(handler) as c:
        with pytest.raises(TimeoutError, match="still RUNNING"):
            c.wait_job("job_x", timeout=0.5, interval=0.05)
    assert len(seen) >= 3
    assert all(r.url.path == "/v0.5/batch/jobs/job_x" and r.headers["authorization"] == "Bearer k" for r in seen)


def test_download_outputs_uses_no_auth_header(tmp_path):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/outputs"):
            outs = [{"id": f"out_{i}", "data": {"filename": "pred_x_part_0.csv", "ref": f"http://links/blob{i}"}}
                    for i in range(2)]
            return httpx.Response(200, json={"total": 2, "offset": 0, "limit": 100, "outputs": outs})
        assert "authorization" not in request.headers
        return httpx.Response(200, content=request.url.path.encode())

    with _mock(handler) as c:
        paths = c.download_outputs("job_x", tmp_path)
    assert [p.name for p in paths] == ["pred_x_part_0.csv", "pred_x_part_0_out_1.csv"]  # same name kept apart
    assert paths[1].read_text() == "/blob1"
