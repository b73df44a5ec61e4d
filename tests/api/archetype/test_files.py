"""Files API on the Archetype surface: upload (multipart and base64), metadata, paging, info,
download, delete, overwrite, limits and bad input."""

import base64

import pytest


def upload(api, name, content, content_type="text/csv"):
    return api.post("/v0.5/files", files={"file": (name, content, content_type)})


def test_upload_csv_computes_attributes(api):
    r = upload(api, "sensor.csv", b"timestamp,a,b\n1,0.5,1.5\n2,0.7,1.1\n3,0.9,1.0\n")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["is_valid"] is True
    assert body["file_id"] == "sensor.csv"
    assert body["file_uid"].startswith("fil_")
    meta = api.get("/v0.5/files/metadata/sensor.csv").json()
    assert meta["file_attributes"] == {"num_rows": 3, "num_columns": 3, "column_headers": ["timestamp", "a", "b"]}
    assert meta["num_bytes"] == 44
    assert meta["file_type"] == "text/csv"
    assert meta["file_status"] == "FILE_STATUS_INGESTED"


def test_csv_without_trailing_newline_counts_last_row(api):
    upload(api, "t.csv", b"x,y\n1,2\n3,4")
    assert api.get("/v0.5/files/metadata/t.csv").json()["file_attributes"]["num_rows"] == 2


def test_download_returns_exact_bytes(api):
    payload = b"timestamp,v\n" + b"".join(f"{i},{i * 0.5}\n".encode() for i in range(5000))
    upload(api, "big.csv", payload)
    r = api.get("/v0.5/files/download/big.csv")
    assert r.status_code == 200
    assert r.content == payload


def test_same_name_overwrites_within_org(api):
    first = upload(api, "same.csv", b"a\n1\n").json()
    second = upload(api, "same.csv", b"a\n1\n2\n").json()
    assert first["file_uid"] != second["file_uid"]
    meta = api.get("/v0.5/files/metadata/same.csv").json()
    assert meta["file_uid"] == second["file_uid"]
    assert meta["file_attributes"]["num_rows"] == 2
    page = api.get("/v0.5/files/metadata").json()
    assert [f["file_id"] for f in page["data"]].count("same.csv") == 1


def test_base64_upload(api):
    raw = b"timestamp,v\n1,2\n"
    r = api.post("/v0.5/files/base64", files={"file": ("b64.csv", base64.b64encode(raw), "text/csv")})
    assert r.status_code == 200, r.text
    assert api.get("/v0.5/files/download/b64.csv").content == raw


def test_bad_base64_is_400_and_stores_nothing(api):
    r = api.post("/v0.5/files/base64", files={"file": ("bad.csv", b"!!!not-base64!!!", "text/csv")})
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "invalid_base64"
    assert api.get("/v0.5/files/metadata/bad.csv").status_code == 404


def test_cursor_paging_newest_first(api):
    for i in range(5):
        upload(api, f"p{i}.csv", b"a\n1\n")
    first = api.get("/v0.5/files/metadata", params={"limit": 2}).json()
    assert [f["file_id"] for f in first["data"]] == ["p4.csv", "p3.csv"]
    assert first["has_more"] is True
    second = api.get("/v0.5/files/metadata", params={"limit": 2, "after": first["next_cursor"]}).json()
    assert [f["file_id"] for f in second["data"]] == ["p2.csv", "p1.csv"]
    third = api.get("/v0.5/files/metadata", params={"limit": 2, "after": second["next_cursor"]}).json()
    assert [f["file_id"] for f in third["data"]] == ["p0.csv"]
    assert third["has_more"] is False
    back = api.get("/v0.5/files/metadata", params={"limit": 2, "before": second["prev_cursor"]}).json()
    assert [f["file_id"] for f in back["data"]] == ["p4.csv", "p3.csv"]
    # the newest page has no previous page, the oldest no next page
    assert first["prev_cursor"] is None and third["next_cursor"] is None
    assert back["prev_cursor"] is None and back["has_more"] is False and back["next_cursor"]
    assert second["prev_cursor"] and third["prev_cursor"]


def test_after_and_before_together_is_400(api):
    r = api.get("/v0.5/files/metadata", params={"after": "x", "before": "y"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["message"] == "after and before are mutually exclusive"


def test_bad_cursor_and_limit_are_400(server, api):
    r = api.get("/v0.5/files/metadata", params={"before": "not-a-cursor"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "before"
    most = server.ctx.settings.limits.page_max
    r = api.get("/v0.5/files/metadata", params={"limit": most + 1})
    assert r.status_code == 400 and r.json()["errors"][0]["message"] == f"limit: at most {most}"
    assert api.get("/v0.5/files/metadata", params={"limit": most}).status_code == 200


def test_info_and_delete(api):
    upload(api, "d.csv", b"a\n1\n")
    upload(api, "notes.txt", b"hello", "text/plain")
    info = api.get("/v0.5/files/info").json()
    assert info["num_files"] == 2
    assert info["file_types"] == {"text/csv": 1, "text/plain": 1}
    r = api.delete("/v0.5/files/delete/d.csv")
    assert r.status_code == 200
    assert api.get("/v0.5/files/metadata/d.csv").status_code == 404
    assert api.delete("/v0.5/files/delete/d.csv").status_code == 404


def test_jsonl_as_text_plain_accepted_but_ndjson_rejected(api):
    assert upload(api, "r.jsonl", b'{"prompt": "hi"}\n', "text/plain").status_code == 200
    r = upload(api, "r2.jsonl", b'{"prompt": "hi"}\n', "application/x-ndjson")
    assert r.status_code == 400
    err = r.json()["errors"][0]
    assert err["code"] == "invalid_file_type"
    assert "text/plain" in err["suggestion"]


def test_empty_file_is_400(api):
    r = upload(api, "empty.csv", b"")
    assert r.status_code == 400
    assert "empty" in r.json()["errors"][0]["message"]
    assert api.get("/v0.5/files/metadata/empty.csv").status_code == 404


def test_over_limit_is_413_and_leaves_nothing(server, api):
    limit = server.ctx.settings.limits.max_upload_bytes
    r = upload(api, "huge.csv", b"a\n" + b"1\n" * (limit // 2 + 10))
    assert r.status_code == 413
    assert r.json()["errors"][0]["code"] == "invalid_file_size"
    assert api.get("/v0.5/files/metadata/huge.csv").status_code == 404
    tmp = server.ctx.blobs.root / ".tmp"
    assert list(tmp.iterdir()) == []


def test_missing_file_part_is_400(api):
    r = api.post("/v0.5/files", data={"other": "x"}, files={"notfile": ("x.csv", b"a\n", "text/csv")})
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "file"


def test_other_orgs_files_are_404(server, api):
    upload(api, "mine.csv", b"a\n1\n")
    other = server.new_org()
    assert other.get("/v0.5/files/metadata/mine.csv").status_code == 404
    assert other.get("/v0.5/files/download/mine.csv").status_code == 404
    assert other.delete("/v0.5/files/delete/mine.csv").status_code == 404
    assert other.get("/v0.5/files/metadata").json()["data"] == []


@pytest.mark.parametrize("name", ["../etc/passwd", "dir/sub/name.csv"])
def test_paths_are_reduced_to_basename(api, name):
    r = upload(api, name, b"a\n1\n")
    assert r.status_code == 200
    assert "/" not in r.json()["file_id"]
