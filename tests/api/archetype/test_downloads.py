"""Signed download links (`/blobs/<key>?filename=&expires=&signature=`): no auth header, the exact
bytes with a content type and file name, 403 (Archetype error body) for a tampered or expired link,
404 once the blob is gone, and the file download of the Files API."""

from __future__ import annotations

import time
import uuid


def _signed_blob(server, content: bytes, filename: str) -> tuple[str, str]:
    key = f"tests/{uuid.uuid4().hex}/{filename}"
    with server.ctx.blobs.writer(key) as out:
        out.write(content)
    url, _ = server.ctx.signer.sign("http://testserver", key, filename)
    return key, url


def test_a_signed_link_downloads_without_auth(server):
    _, url = _signed_blob(server, b"a,b\n1,2\n", "result.csv")
    r = server.client.get(url)
    assert r.status_code == 200 and r.content == b"a,b\n1,2\n"
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="result.csv"'
    assert r.headers["content-length"] == "8"
    _, other = _signed_blob(server, b"\x00\x01", "model.bin")
    assert server.client.get(other).headers["content-type"] == "application/octet-stream"


def test_tampered_or_expired_links_are_403_and_gone_blobs_404(server):
    key, url = _signed_blob(server, b"x\n", "r.csv")
    tampered = server.client.get(url.replace("filename=r.csv", "filename=s.csv"))
    assert tampered.status_code == 403
    err = tampered.json()["errors"][0]
    assert err["code"] == "invalid_signature" and err["error_uid"].startswith("err-")
    assert "links last 1 hour" in err["suggestion"]  # signed_url_ttl_seconds of the test server: 3600

    expired, _ = server.ctx.signer.sign("http://testserver", key, "r.csv", now=time.time() - 7200)
    assert server.client.get(expired).status_code == 403

    server.ctx.blobs.delete(key)
    gone = server.client.get(url)
    assert gone.status_code == 404 and gone.json()["errors"][0]["code"] == "not_found"
    missing = server.client.get(url.split("?")[0])
    assert missing.status_code == 400 and missing.json()["errors"][0]["code"] == "missing_parameter"


def test_the_refusal_names_the_configured_link_lifetime(server, monkeypatch):
    monkeypatch.setattr(server.ctx.signer, "ttl_seconds", 90)
    _, url = _signed_blob(server, b"x\n", "r.csv")
    r = server.client.get(url.replace("signature=", "signature=0"))
    assert r.status_code == 403 and "links last 90 seconds" in r.json()["errors"][0]["suggestion"]


def test_file_download_sends_type_name_and_length(api):
    api.post("/v0.5/files", files={"file": ("notes.txt", b"hello\nworld\n", "text/plain")})
    r = api.get("/v0.5/files/download/notes.txt")
    assert r.status_code == 200 and r.content == b"hello\nworld\n"
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["content-disposition"] == 'attachment; filename="notes.txt"'
    assert r.headers["content-length"] == "12"
