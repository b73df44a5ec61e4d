"""The S3 blob store against a real S3 API (moto's server in a child process on loopback, one per
module): small and multipart round trips, atomic writes, prefixes, stale uploads, presigned links,
the built-in readers over S3 streams, a store that is unreachable or has no bucket (an error naming
it), and the settings that choose it."""

from __future__ import annotations

import hashlib
import io
import pickle
import re
import time
import uuid
import zipfile
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import ValidationError

from helpers import machine_csv, make_settings
from jobport.blobs import MIN_PART_BYTES, BlobConfig, open_store
from jobport.blobs.base import BlobStoreUnavailable
from jobport.blobs.s3 import S3BlobStore
from jobport.blobs.signing import UrlSigner
from jobport.config import Settings
from jobport.pipelines.builtin.machine_state.config import ReaderConfig
from jobport.pipelines.builtin.machine_state.reader import read_windows
from jobport.pipelines.builtin.tabular import readers
from jobport.pipelines.builtin.tabular.formats import RecordFormat
from jobport.testing.embedded import free_port
from jobport.testing.s3server import S3Server

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def s3():
    with S3Server(bucket="unit-blobs") as server:
        yield server


def s3_config(s3: S3Server, prefix: str, **overrides) -> BlobConfig:
    values = dict(kind="s3", root=Path("unused"), bucket=s3.bucket, prefix=prefix, endpoint_url=s3.endpoint_url,
                  region=s3.region, access_key_id=s3.access_key_id, secret_access_key=s3.secret_access_key,
                  part_size_bytes=MIN_PART_BYTES, addressing_style="path")
    values.update(overrides)
    return BlobConfig(**values)


@pytest.fixture
def store(s3) -> S3BlobStore:
    return S3BlobStore(s3_config(s3, f"t-{uuid.uuid4().hex[:8]}/"))


def _write(store, key: str, data: bytes, piece: int = 1 << 20) -> None:
    with store.writer(key) as out:
        for start in range(0, len(data), piece):
            out.write(data[start : start + piece])


def _uploads(s3, prefix: str) -> list[dict]:
    return s3.client().list_multipart_uploads(Bucket=s3.bucket, Prefix=prefix).get("Uploads", [])


def test_a_small_blob_round_trips_under_the_prefix(s3, store):
    _write(store, "orgs/o/files/f1", b"a,b\n1,2\n")
    assert store.exists("orgs/o/files/f1") and store.size("orgs/o/files/f1") == 8
    with store.open("orgs/o/files/f1") as stream:
        assert stream.peek(1)[:1] == b"a" and stream.readline() == b"a,b\n" and stream.read() == b"1,2\n"
    assert b"".join(store.iter_chunks("orgs/o/files/f1", 3)) == b"a,b\n1,2\n"
    assert store.local_path("orgs/o/files/f1") is None
    listed = s3.client().list_objects_v2(Bucket=s3.bucket, Prefix=store.prefix)["Contents"]
    assert [item["Key"] for item in listed] == [store.prefix + "orgs/o/files/f1"]


def test_a_large_blob_is_uploaded_in_parts_and_reads_back_whole(s3, store):
    data = hashlib.sha256(b"seed").digest() * (11 * MIB // 32 + 1000)  # ~11 MiB: 3 parts of 5 MiB
    _write(store, "jobs/j/outputs/i/big.bin", data, piece=700_001)
    head = s3.client().head_object(Bucket=s3.bucket, Key=store.prefix + "jobs/j/outputs/i/big.bin")
    assert head["ETag"].strip('"').endswith("-3")  # a multipart object's ETag counts its parts
    assert store.size("jobs/j/outputs/i/big.bin") == len(data)
    with store.open("jobs/j/outputs/i/big.bin") as stream:
        assert hashlib.sha256(stream.read()).digest() == hashlib.sha256(data).digest()
    assert _uploads(s3, store.prefix) == []


@pytest.mark.parametrize("size", [100, 6 * MIB], ids=["small", "multipart"])
def test_an_exception_inside_the_writer_leaves_nothing(s3, store, size):
    with pytest.raises(RuntimeError, match="crash"):
        with store.writer("a/b.bin") as out:
            out.write(b"x" * size)
            raise RuntimeError("crash mid-write")
    assert not store.exists("a/b.bin")
    assert _uploads(s3, store.prefix) == []  # the started multipart upload was aborted
    with pytest.raises(FileNotFoundError):
        store.open("a/b.bin")


def test_missing_blobs_and_bad_keys(store):
    assert not store.exists("nope")
    for read in (store.open, store.size, store.iter_chunks):
        with pytest.raises(FileNotFoundError):
            read("nope")
    store.delete("nope")  # not an error
    with pytest.raises(ValueError, match="escapes"):
        store.open("../other-prefix/x")


def test_delete_prefix_removes_one_folder_of_keys(store):
    for key in ("jobs/1/x", "jobs/1/y/z", "jobs/10/x", "jobs/2/x"):
        _write(store, key, b"1")
    store.delete_prefix("jobs/1/")
    assert [store.exists(k) for k in ("jobs/1/x", "jobs/1/y/z", "jobs/10/x", "jobs/2/x")] == [False, False, True, True]


def test_clean_temp_aborts_only_stale_uploads_under_its_prefix(s3, store):
    client = s3.client()
    mine = client.create_multipart_upload(Bucket=s3.bucket, Key=store.prefix + "orgs/o/files/dead")["UploadId"]
    other = client.create_multipart_upload(Bucket=s3.bucket, Key="elsewhere/dead")["UploadId"]
    try:
        # moto dates every upload 2010-11-10: a margin longer than that age keeps it (a writer of
        # another replica may still be uploading), the default hour takes it for a dead writer's
        initiated = _uploads(s3, store.prefix)[0]["Initiated"]
        younger = S3BlobStore(store.config, stale_upload_seconds=(datetime.now(UTC) - initiated).total_seconds() + 3600)
        assert younger.clean_temp() == 0
        assert [u["UploadId"] for u in _uploads(s3, store.prefix)] == [mine]
        assert store.clean_temp() == 1
        assert _uploads(s3, store.prefix) == []
        assert [u["UploadId"] for u in _uploads(s3, "elsewhere/")] == [other]
    finally:
        client.abort_multipart_upload(Bucket=s3.bucket, Key="elsewhere/dead", UploadId=other)


def test_signed_links_are_presigned_s3_urls_with_the_filename(s3, store):
    _write(store, "jobs/j/outputs/i/pred.csv", b"t,label\n1,idle\n")
    signer = UrlSigner(b"k" * 32, 600, presigner=store)
    before = int(time.time())
    url, expires = signer.sign("http://jobport.example", "jobs/j/outputs/i/pred.csv", "pred_part_0.csv")
    assert url.startswith(f"{s3.endpoint_url}/{s3.bucket}/{store.prefix}jobs/j/outputs/i/pred.csv?")
    query = parse_qs(urlsplit(url).query)
    stamped = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    assert int(query["X-Amz-Expires"][0]) == 600 and before + 600 <= expires <= stamped + 600 <= expires + 1
    r = httpx.get(url)  # no credentials: the signature is the permission
    assert r.status_code == 200 and r.content == b"t,label\n1,idle\n"
    assert r.headers["content-disposition"] == 'attachment; filename="pred_part_0.csv"'
    assert r.headers["content-type"].startswith("text/csv")

    url, _ = signer.sign("http://jobport.example", "jobs/j/outputs/i/pred.csv", "résultat.csv")
    disposition = httpx.get(url).headers["content-disposition"]
    assert "filename*=UTF-8''r%C3%A9sultat.csv" in disposition
    pinned, _ = signer.sign("http://jobport.example", "jobs/j/outputs/i/pred.csv", "pred.csv", now=1000)
    assert pinned.startswith("http://jobport.example/blobs/")  # a pinned clock gets the server's own link


def test_the_readers_of_the_built_in_pipelines_stream_from_s3(store):
    csv_bytes = machine_csv("run", rows=400, seed=3)
    _write(store, "in.csv", csv_bytes)
    series = read_windows(store.open("in.csv"), ReaderConfig(data_columns=["a", "b", "c"],
                                                             timestamp_column="timestamp", window_size=16,
                                                             step_size=4), name="in.csv")
    assert series.n_windows == (400 - 16) // 4 + 1

    source = readers.InputSource("in.csv", partial(store.open, "in.csv"))
    fmt = RecordFormat("csv")
    names = readers.read_csv_head(source).first_row
    tables = list(readers.csv_column_chunks(source, fmt, names, None, 150, 64))
    assert sum(t.rows for t in tables) == 400 and tables[0].table.column("a")[0].as_py() is not None
    assert sum(c.rows for c in readers.csv_row_chunks(source, fmt, names, 150)) == 400
    assert readers.count_lines(source) == 401

    _write(store, "in.json", b'[{"a": 1}, {"a": 2}, {"a": 3}]')
    _write(store, "in.jsonl", b'{"a": 1}\n{"a": 2}\n')
    json_source = readers.InputSource("in.json", partial(store.open, "in.json"))
    assert [c.records for c in readers.json_array_chunks(json_source, 2)] == [[{"a": 1}, {"a": 2}], [{"a": 3}]]
    jsonl_source = readers.InputSource("in.jsonl", partial(store.open, "in.jsonl"))
    assert [c.records for c in readers.jsonl_chunks(jsonl_source, 10)] == [[{"a": 1}, {"a": 2}]]


def test_a_zip_archive_streams_into_a_writer(store):
    with store.writer("exports/o/1/jobs.zip") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.json", b'{"x": 1}')
        archive.writestr("b.json", b"[]")
    with zipfile.ZipFile(io.BytesIO(store.open("exports/o/1/jobs.zip").read())) as archive:
        assert archive.read("a.json") == b'{"x": 1}' and archive.namelist() == ["a.json", "b.json"]


def test_a_missing_bucket_is_an_unavailable_store_named_in_the_error(s3):
    gone = S3BlobStore(s3_config(s3, "p/", bucket="no-such-bucket"))
    with pytest.raises(BlobStoreUnavailable, match=r"blob store s3://no-such-bucket/p is unavailable: .*NoSuchBucket"):
        _write(gone, "orgs/o/files/f", b"data")
    for call in (gone.exists, gone.open, gone.size):
        with pytest.raises(BlobStoreUnavailable, match="s3://no-such-bucket/p"):
            call("orgs/o/files/f")
    assert gone.clean_temp() == 0  # best effort: logged, never raised


def test_an_unreachable_store_is_unavailable_and_named(s3):
    down = S3BlobStore(s3_config(s3, "", endpoint_url=f"http://127.0.0.1:{free_port()}", max_attempts=1,
                                 connect_timeout_seconds=1.0))
    with pytest.raises(BlobStoreUnavailable) as caught:
        _write(down, "k", b"x")
    err = caught.value
    assert err.status_code == 503 and err.code == "blob_store_unavailable"
    assert re.match(r"blob store s3://unit-blobs is unavailable: writing k: EndpointConnectionError", err.message)
    assert "JOBPORT_BLOBS_URL" in err.suggestion
    assert pickle.loads(pickle.dumps(err)).message == err.message  # crosses process boundaries intact
    with pytest.raises(BlobStoreUnavailable, match="s3://unit-blobs"):
        down.open("k")


def test_the_settings_build_a_picklable_s3_config(s3, tmp_path):
    settings = make_settings(home=tmp_path, **s3.settings_values("/team/a/", s3_part_size_bytes=6 * MIB))
    config = settings.blobs
    assert (config.kind, config.bucket, config.prefix, config.part_size_bytes) == ("s3", s3.bucket, "team/a/", 6 * MIB)
    assert config.url == f"s3://{s3.bucket}/team/a" and "secret_access_key" not in repr(config)
    assert pickle.loads(pickle.dumps(config)) == config
    store = open_store(config)
    assert isinstance(store, S3BlobStore)
    _write(store, "x", b"1")
    assert s3.client().head_object(Bucket=s3.bucket, Key="team/a/x")["ContentLength"] == 1
    env = s3.env("run")
    assert env["JOBPORT_BLOBS_URL"] == f"s3://{s3.bucket}/run" and env["JOBPORT_S3_ENDPOINT_URL"] == s3.endpoint_url


def test_the_environment_of_a_server_process_selects_the_same_store(s3, tmp_path, monkeypatch):
    for name, value in s3.env("run").items():
        monkeypatch.setenv(name, value)
    config = Settings(home=tmp_path).blobs
    assert (config.kind, config.url, config.endpoint_url, config.secret_access_key, config.addressing_style) == (
        "s3", f"s3://{s3.bucket}/run", s3.endpoint_url, s3.secret_access_key, "path")


@pytest.mark.parametrize(("values", "names"), [
    ({"blobs_url": "ftp://bucket/x"}, "blobs_url must be s3://bucket or s3://bucket/prefix"),
    ({"blobs_url": "s3://"}, "blobs_url names no bucket"),
    ({"blobs_url": "s3:///prefix"}, "blobs_url names no bucket"),
    ({"blobs_url": "s3://bad bucket/x"}, "blobs_url names 'bad bucket'"),
    ({"blobs_url": "s3://bucket/../x"}, "blobs_url has a '.' or '..' segment"),
    ({"blobs_url": "s3://bucket", "blob_store": "memory", "executor": "inline"}, "blob_store=memory and blobs_url"),
    ({"blobs_url": "s3://bucket", "s3_endpoint_url": "minio:9000"}, "s3_endpoint_url must start with http"),
    ({"blobs_url": "s3://bucket", "s3_access_key_id": "id"}, "s3_access_key_id and s3_secret_access_key"),
    ({"blobs_url": "s3://bucket", "signed_url_ttl_seconds": 8 * 86400},
     r"signed_url_ttl_seconds \(691200\) is above 604800 \(7 days\)"),
    ({"s3_endpoint_url": "http://minio:9000"}, "blobs_url is not"),
    ({"s3_part_size_bytes": MIB}, "s3.part_size_bytes"),
])
def test_bad_blob_settings_refuse_to_start_naming_the_setting(tmp_path, values, names):
    with pytest.raises(ValidationError, match=names):
        make_settings(home=tmp_path, **values)


def test_without_blobs_url_the_local_store_applies(tmp_path):
    assert make_settings(home=tmp_path).blobs == BlobConfig("local", tmp_path / "blobs")
    assert make_settings(home=tmp_path, blobs_url="", s3_endpoint_url="").blobs.kind == "local"  # empty = unset
