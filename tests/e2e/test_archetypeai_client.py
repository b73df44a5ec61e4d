"""The official `archetypeai` PyPI client, unmodified, against a real jobport server:
files.local.upload / get_metadata / download / delete, get_info, iter_metadata, base64 upload, and
the direct upload in parts (`use_proxy=False`) of a file a job then reads."""

import base64

import pytest
from archetypeai._errors import ApiError
from archetypeai.api_client import ArchetypeAI

from helpers import machine_csv, machine_job_body, wait_for
from jobport.testing.embedded import EmbeddedServer


@pytest.fixture
def client(live_server):
    return ArchetypeAI(live_server.key, api_endpoint=f"{live_server.url}/v0.5")


def test_upload_metadata_download_delete(client, tmp_path):
    path = tmp_path / "sensor.csv"
    path.write_bytes(machine_csv("run", 50))
    uploaded = client.files.local.upload(str(path))
    assert uploaded["file_id"] == "sensor.csv"
    assert uploaded["is_valid"] is True

    meta = client.files.local.get_metadata(file_id="sensor.csv")
    assert meta["file_uid"] == uploaded["file_uid"]
    assert meta["file_attributes"]["num_rows"] == 50
    assert meta["file_attributes"]["column_headers"] == ["timestamp", "a", "b", "c"]

    page = client.files.get_metadata(limit=10)
    assert [f["file_id"] for f in page["data"]] == ["sensor.csv"]

    dest = tmp_path / "copy.csv"
    assert client.files.local.download("sensor.csv", str(dest)) is True
    assert dest.read_bytes() == path.read_bytes()

    info = client.files.get_info()
    assert info["num_files"] == 1

    client.files.local.delete("sensor.csv")
    with pytest.raises(ApiError) as err:
        client.files.local.get_metadata(file_id="sensor.csv")
    assert err.value.validate_error_code_exists("not_found")


def test_iter_metadata_walks_every_page(client, tmp_path):
    for i in range(7):
        p = tmp_path / f"f{i}.csv"
        p.write_bytes(b"a\n1\n")
        client.files.local.upload(str(p))
    names = [f["file_id"] for f in client.files.iter_metadata(limit=3)]
    assert names == [f"f{i}.csv" for i in reversed(range(7))]


def test_base64_and_jsonl_uploads(client, tmp_path):
    jsonl = tmp_path / "prompts.jsonl"
    jsonl.write_text('{"prompt": "hello"}\n')
    assert client.files.local.upload(str(jsonl))["file_id"] == "prompts.jsonl"
    raw = machine_csv("idle", 10)
    result = client.files.local.upload("b64.csv", base64_data=base64.b64encode(raw).decode())
    assert result["file_id"] == "b64.csv"
    dest = tmp_path / "b64-copy.csv"
    client.files.local.download("b64.csv", str(dest))
    assert dest.read_bytes() == raw


def test_wrong_key_raises_api_error(live_server, tmp_path):
    bad = ArchetypeAI("not-a-key", api_endpoint=f"{live_server.url}/v0.5")
    path = tmp_path / "x.csv"
    path.write_bytes(b"a\n1\n")
    with pytest.raises(ApiError) as err:
        bad.files.local.upload(str(path))
    assert err.value.validate_error_code_exists("unauthorized")


def test_direct_upload_in_parts_then_a_job_reads_the_file(tmp_path):
    """`use_proxy=False`: initiate, parallel part PUTs to the signed links, checkpoints, complete;
    parts of 256 KiB (setting `upload_part_size_bytes`) split a file of a few MB."""
    part_size = 256 * 1024
    server = EmbeddedServer(home=tmp_path / "home", workers=1, key="direct-upload-key",
                            env={"JOBPORT_UPLOAD_PART_SIZE_BYTES": str(part_size)})
    server.start()
    try:
        client = ArchetypeAI(server.key, api_endpoint=f"{server.url}/v0.5")
        path = tmp_path / "long_run.csv"
        path.write_bytes(machine_csv("run", 100_000, seed=5))  # about 3 MB: 11 parts
        parts_done = []
        uploaded = client.files.local.upload(str(path), use_proxy=False, max_workers=4,
                                             on_progress=lambda done, total, *_: parts_done.append((done, total)))
        assert uploaded["file_id"] == "long_run.csv" and uploaded["is_valid"] is True
        total = -(-path.stat().st_size // part_size)
        assert total >= 10 and parts_done[-1] == (total, total)
        meta = client.files.local.get_metadata(file_id="long_run.csv")
        assert meta["file_uid"] == uploaded["file_uid"] and meta["num_bytes"] == path.stat().st_size
        assert meta["file_attributes"]["num_rows"] == 100_000
        copy = tmp_path / "copy.csv"
        assert client.files.local.download("long_run.csv", str(copy)) and copy.read_bytes() == path.read_bytes()
        assert not [f for f in (tmp_path / "home" / "blobs" / "uploads").rglob("*") if f.is_file()]  # parts gone

        for name, state in (("idle_shots.csv", "idle"), ("run_shots.csv", "run")):
            (tmp_path / name).write_bytes(machine_csv(state, 400, seed=len(name)))
            client.files.local.upload(str(tmp_path / name), use_proxy=False)
        body = machine_job_body(["long_run.csv"], {"idle_shots.csv": "idle", "run_shots.csv": "run"},
                                reader_config={"step_size": 64})
        with server.client() as http:
            r = http.post("/v0.5/batch/jobs", json=body)
            assert r.status_code == 201, r.text
            done = wait_for(http, r.json()["id"], timeout=300)
        assert done["status"] == "COMPLETED", done
        assert done["input_progress"]["completed"] == 1
    finally:
        server.stop()

