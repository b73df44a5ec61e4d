"""Direct uploads in parts (`/v0.5/files/uploads...` and the signed part PUTs) in-process on SQLite
and PostgreSQL, with a small part size: the file appears only when complete, byte for byte; every
wrong part, token, size or state is a 4xx in the Archetype format with nothing stored; abort and
expiry remove the parts; resume hands back only the missing parts. The official client's own
upload (`use_proxy=False`) runs against a real server in tests/e2e/test_archetypeai_client.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from helpers import machine_csv
from jobport.services import uploads as upload_service
from jobport.store.db import transaction, utcnow
from jobport.store.tables import Upload

PART = 1000


@pytest.fixture
def small_parts(server, monkeypatch):
    monkeypatch.setattr(server.ctx.settings.uploads, "part_size_bytes", PART)


def initiate(api, name: str, content: bytes, **extra):
    return api.post("/v0.5/files/uploads/initiate",
                    json={"filename": name, "file_type": "text/csv", "num_bytes": len(content), **extra})


def put(api, part: dict, content: bytes):
    return api.client.put(part["url"], content=content[part["offset"]:part["offset"] + part["length"]])


def send_all(api, plan: dict, content: bytes) -> list[dict]:
    tokens = []
    for part in plan["parts"]:
        r = put(api, part, content)
        assert r.status_code == 200, r.text
        tokens.append({"part_number": part["part_number"], "part_token": r.headers["etag"]})
    return tokens


def complete(api, upload_id: str, tokens: list[dict]):
    return api.post(f"/v0.5/files/uploads/{upload_id}/complete", json={"parts": tokens})


def parts_dir(server, api, upload_id: str):
    return server.ctx.settings.blob_root / "uploads" / api.org_id / upload_id


def test_parts_become_the_file_only_when_complete(server, api, small_parts):
    content = machine_csv("run", 120)  # about 4.5 KB: 5 parts
    r = initiate(api, "sensor.csv", content)
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["upload_id"].startswith("upl_") and plan["file_name"] == "sensor.csv"
    assert plan["strategy"] == "multipart" and plan["part_size"] == PART and plan["is_resume"] is False
    assert plan["num_parts"] == len(plan["parts"]) == -(-len(content) // PART) and plan["total_bytes"] == len(content)
    assert [p["part_number"] for p in plan["parts"]] == list(range(1, plan["num_parts"] + 1))
    assert sum(p["length"] for p in plan["parts"]) == len(content)

    tokens = send_all(api, plan, content)
    assert api.get("/v0.5/files/metadata/sensor.csv").status_code == 404  # not a file before complete
    r = complete(api, plan["upload_id"], tokens)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["file_uid"] == plan["file_uid"] and done["file_name"] == "sensor.csv"
    assert done["file_status"] == "Registered" and done["num_bytes"] == len(content)
    assert done["file_attributes"]["num_rows"] == 120
    assert api.get("/v0.5/files/download/sensor.csv").content == content
    meta = api.get("/v0.5/files/metadata/sensor.csv").json()
    assert meta["file_uid"] == plan["file_uid"] and meta["file_attributes"]["column_headers"] == [
        "timestamp", "a", "b", "c"]
    assert not parts_dir(server, api, plan["upload_id"]).exists()  # the parts are gone

    again = complete(api, plan["upload_id"], tokens)
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "upload_already_completed"
    late_checkpoint = api.post(f"/v0.5/files/uploads/{plan['upload_id']}/parts/checkpoint",
                               json={"parts": tokens[:1]})  # the client does not wait for its checkpoints
    assert late_checkpoint.status_code == 200 and late_checkpoint.json()["received_parts"][0] == 1
    late = put(api, plan["parts"][0], content)
    assert late.status_code == 409 and late.json()["errors"][0]["code"] == "upload_not_open"


def test_wrong_parts_tokens_and_sizes_are_refused_and_nothing_is_stored(server, api, small_parts):
    content = machine_csv("idle", 80)
    plan = initiate(api, "idle.csv", content).json()
    first, second = plan["parts"][0], plan["parts"][1]

    forged = api.client.put(first["url"].replace("signature=", "signature=0"), content=b"x" * first["length"])
    assert forged.status_code == 403 and forged.json()["errors"][0]["code"] == "invalid_signature"
    other_part = api.client.put(first["url"].replace("/parts/1?", "/parts/2?"), content=b"x")
    assert other_part.status_code == 403  # a link opens only its own part
    short = api.client.put(first["url"], content=b"x" * (first["length"] - 1))
    assert short.status_code == 400 and short.json()["errors"][0]["field"] == "Content-Length"

    tokens = send_all(api, {"parts": [first]}, content)
    r = complete(api, plan["upload_id"], tokens)  # the other parts never came
    assert r.status_code == 400 and "lacks" in r.json()["errors"][0]["message"]
    tokens += send_all(api, {"parts": plan["parts"][1:]}, content)
    wrong = [dict(t) for t in tokens]
    wrong[1]["part_token"] = '"0123"'
    r = complete(api, plan["upload_id"], wrong)
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "parts[1].part_token"
    r = complete(api, plan["upload_id"], [{"part_number": plan["num_parts"] + 1, "part_token": "x"}])
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "invalid_parts"
    assert api.get("/v0.5/files/metadata/idle.csv").status_code == 404

    other = server.new_org()
    assert complete(other, plan["upload_id"], tokens).status_code == 404  # another org's upload
    assert put(api, second, content).status_code == 200  # a part sent again replaces itself
    assert complete(api, plan["upload_id"], tokens).status_code == 200  # still open after the refusals
    assert api.get("/v0.5/files/download/idle.csv").content == content


@pytest.mark.parametrize("body, field", [
    ({"filename": "x.csv", "file_type": "text/csv", "num_bytes": 0}, "num_bytes"),
    ({"filename": "x.csv", "file_type": "text/csv", "num_bytes": PART * 2000 + 1}, "num_bytes"),
    ({"filename": "x.pdf", "file_type": "application/pdf", "num_bytes": 10}, "file_type"),
    ({"filename": "../", "file_type": "text/csv", "num_bytes": 10}, "filename"),
    ({"file_type": "text/csv", "num_bytes": 10}, "filename"),
])
def test_bad_initiate_requests_are_400_naming_the_field(api, small_parts, body, field):
    r = api.post("/v0.5/files/uploads/initiate", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["field"] == field and r.json()["errors"][0]["suggestion"]


def test_abort_drops_the_parts_and_closes_the_upload(server, api, small_parts):
    content = machine_csv("run", 60)  # 2 parts
    plan = initiate(api, "aborted.csv", content).json()
    tokens = send_all(api, {"parts": plan["parts"][:1]}, content)
    assert parts_dir(server, api, plan["upload_id"]).exists()
    r = api.post(f"/v0.5/files/uploads/{plan['upload_id']}/abort", json={})
    assert r.status_code == 200 and r.json() == {"upload_id": plan["upload_id"], "status": "aborted"}
    assert not parts_dir(server, api, plan["upload_id"]).exists()
    assert api.post(f"/v0.5/files/uploads/{plan['upload_id']}/abort", json={}).status_code == 200
    assert put(api, plan["parts"][1], content).status_code == 409
    assert complete(api, plan["upload_id"], tokens).status_code == 409
    checkpoint = api.post(f"/v0.5/files/uploads/{plan['upload_id']}/parts/checkpoint", json={"parts": tokens})
    assert checkpoint.status_code == 409
    assert api.get("/v0.5/files/metadata/aborted.csv").status_code == 404


def test_resume_hands_back_only_the_missing_parts_and_checkpoint_confirms_tokens(api, small_parts):
    content = machine_csv("idle", 90)
    plan = initiate(api, "resumed.csv", content, resume_if_started=True).json()
    assert plan["is_resume"] is False
    first = send_all(api, {"parts": plan["parts"][:2]}, content)
    r = api.post(f"/v0.5/files/uploads/{plan['upload_id']}/parts/checkpoint", json={"parts": first})
    assert r.status_code == 200 and r.json()["received_parts"] == [1, 2]
    bad = api.post(f"/v0.5/files/uploads/{plan['upload_id']}/parts/checkpoint",
                   json={"parts": [{"part_number": 1, "part_token": "nope"}]})
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "invalid_part_token"

    resumed = initiate(api, "resumed.csv", content, resume_if_started=True).json()
    assert resumed["upload_id"] == plan["upload_id"] and resumed["is_resume"] is True
    assert [p["part_number"] for p in resumed["parts"]] == list(range(3, plan["num_parts"] + 1))
    fresh = api.post(f"/v0.5/files/uploads/{plan['upload_id']}/parts/urls", json={"part_numbers": [3]}).json()
    rest = send_all(api, {"parts": fresh["parts"] + resumed["parts"][1:]}, content)
    r = complete(api, plan["upload_id"], rest)  # the client sends only the parts of this session
    assert r.status_code == 200, r.text
    assert api.get("/v0.5/files/download/resumed.csv").content == content
    assert initiate(api, "resumed.csv", content, resume_if_started=True).json()["upload_id"] != plan["upload_id"]


def test_expired_uploads_are_refused_and_swept(server, api, small_parts):
    content = machine_csv("run", 50)
    plan = initiate(api, "late.csv", content).json()
    tokens = send_all(api, plan, content)
    with transaction(server.ctx.sessions) as session:
        session.execute(update(Upload).where(Upload.id == plan["upload_id"])
                        .values(expires_at=utcnow() - timedelta(seconds=1)))
    r = complete(api, plan["upload_id"], tokens)
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "upload_not_found"
    assert upload_service.sweep_expired(server.ctx) >= 1
    assert not parts_dir(server, api, plan["upload_id"]).exists()
    with server.ctx.sessions() as session:
        assert session.get(Upload, plan["upload_id"]) is None
    assert api.get("/v0.5/files/metadata/late.csv").status_code == 404
