"""Signed download links and the blob stores (local directory and its in-memory twin)."""

import pytest

from jobport.blobs.local import LocalBlobStore
from jobport.blobs.memory import MemoryBlobStore
from jobport.blobs.signing import UrlSigner


def _params(url):
    from urllib.parse import parse_qs, urlsplit

    q = parse_qs(urlsplit(url).query)
    return q["filename"][0], int(q["expires"][0]), q["signature"][0]


def test_signed_url_roundtrip_and_expiry():
    signer = UrlSigner(b"secret", ttl_seconds=3600)
    url, expires = signer.sign("http://h:1", "jobs/j/outputs/i/pred.csv", "pred.csv", now=1000)
    assert url.startswith("http://h:1/blobs/jobs/j/outputs/i/pred.csv?")
    filename, exp, sig = _params(url)
    assert exp == expires == 4600
    assert signer.verify("jobs/j/outputs/i/pred.csv", filename, exp, sig, now=4599)
    assert not signer.verify("jobs/j/outputs/i/pred.csv", filename, exp, sig, now=4601)
    assert not signer.verify("jobs/OTHER/outputs/i/pred.csv", filename, exp, sig, now=2000)
    assert not signer.verify("jobs/j/outputs/i/pred.csv", filename, exp + 10, sig, now=2000)
    assert not UrlSigner(b"other", 3600).verify("jobs/j/outputs/i/pred.csv", filename, exp, sig, now=2000)


@pytest.fixture(params=["local", "memory"])
def store(request, tmp_path):
    return LocalBlobStore(tmp_path / "blobs") if request.param == "local" else MemoryBlobStore()


def test_writes_are_atomic(store):
    with pytest.raises(RuntimeError):
        with store.writer("a/b.bin") as fh:
            fh.write(b"half")
            raise RuntimeError("crash mid-write")
    assert not store.exists("a/b.bin")
    with store.writer("a/b.bin") as fh:
        fh.write(b"whole")
    assert store.exists("a/b.bin") and store.size("a/b.bin") == 5
    assert b"".join(store.iter_chunks("a/b.bin", 2)) == b"whole"


def test_delete_prefix(store):
    for key in ("jobs/1/x", "jobs/1/y/z", "jobs/2/x"):
        with store.writer(key) as fh:
            fh.write(b"1")
    store.delete_prefix("jobs/1/")
    assert not store.exists("jobs/1/x") and not store.exists("jobs/1/y/z")
    assert store.exists("jobs/2/x")
    store.delete("missing")  # not an error


def test_local_store_refuses_keys_that_escape(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    with pytest.raises(ValueError):
        store.open("../../etc/passwd")
