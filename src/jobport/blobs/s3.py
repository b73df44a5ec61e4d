"""S3-compatible blob store (`JOBPORT_BLOBS_URL=s3://bucket/prefix`): AWS S3, or MinIO, Ceph RGW,
moto and other S3-compatible servers by `JOBPORT_S3_ENDPOINT_URL`. Every key lives under the URL's
prefix; API replicas, schedulers and workers on any node share the bucket.

The client is boto3 (the `s3` extra), not obstore: it is the reference S3 client, it presigns GET
links for any endpoint (MinIO, moto, AWS), it exposes the multipart upload primitives this store
streams with, and moto (the test server) speaks exactly its API. It is imported with this module,
which `blobs.open_store` imports only when an S3 store is chosen.

- **Writes** stream: a writer buffers one part (`part_size_bytes`, at least S3's 5 MiB), then
  uploads parts of a multipart upload from a small thread pool (at most `PARTS_IN_FLIGHT` per
  writer, so memory stays near `(PARTS_IN_FLIGHT + 1) * part_size` per writer) and completes it when
  the block exits cleanly; a smaller blob is one `put_object` at that point. S3 makes an object
  visible only at complete/put, so writes are atomic; an exception inside the block aborts the
  upload and nothing appears under the key.
- **Reads** stream the object body through `io.BufferedReader` (`peek`, `readline`); the stream is
  not seekable (the built-in readers, pyarrow's CSV readers included, read sequentially).
- **Links** are presigned GET URLs carrying the download filename (`presigned_url`).
- **Errors**: an unreachable endpoint, denied access, a missing bucket, missing credentials raise
  `BlobStoreUnavailable` (503, naming the store); a missing key stays FileNotFoundError.
- **Temp space**: incomplete multipart uploads older than `STALE_UPLOAD_SECONDS` are aborted by
  `clean_temp` (a bucket lifecycle rule "abort incomplete multipart uploads" is the backstop).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, cast
from urllib.parse import quote

import structlog

from jobport.blobs import MIN_PART_BYTES, NEEDS_BOTO3, BlobConfig
from jobport.blobs.base import BlobStoreUnavailable

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError as err:  # the `s3` extra is not installed
    raise ImportError(NEEDS_BOTO3) from err

log = structlog.get_logger(__name__)

# Other API replicas and workers may be uploading into the same prefix right now: only uploads
# started this long ago are taken for leftovers of a dead writer (no upload of ours takes an hour
# between its first part and its completion at the default limits).
STALE_UPLOAD_SECONDS = 3600.0
PARTS_IN_FLIGHT = 2  # parts of one writer being uploaded while it fills the next
UPLOAD_THREADS = 8  # part uploads in flight in one process, all writers together
READ_BUFFER_BYTES = 1 << 20
_MISSING = {"NoSuchKey", "NoSuchUpload", "NotFound", "404"}  # missing; NoSuchBucket: an unavailable store
_HTTP_CODES = {"400": "BadRequest", "403": "AccessDenied", "404": "NotFound", "503": "SlowDown"}


def make_client(config: BlobConfig) -> Any:
    """A boto3 S3 client for `config` (thread-safe: one per store). Checksums are sent only where
    S3 requires them: several S3-compatible servers refuse the flexible checksums boto3 adds by
    default since 1.36."""
    session = boto3.session.Session(
        aws_access_key_id=config.access_key_id, aws_secret_access_key=config.secret_access_key,
        aws_session_token=config.session_token, region_name=config.region)
    return session.client("s3", endpoint_url=config.endpoint_url, config=Config(
        signature_version="s3v4", s3={"addressing_style": config.addressing_style},
        connect_timeout=config.connect_timeout_seconds, read_timeout=config.read_timeout_seconds,
        retries={"max_attempts": config.max_attempts, "mode": "standard"},
        request_checksum_calculation="when_required", response_checksum_validation="when_required",
        max_pool_connections=UPLOAD_THREADS + 8))


def content_disposition(filename: str) -> str:
    """`attachment` with the filename (RFC 6266: an ASCII fallback plus `filename*` when needed)."""
    plain = filename.replace("\\", "_").replace('"', "_")
    if plain.isascii():
        return f'attachment; filename="{plain}"'
    fallback = plain.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def media_type(filename: str) -> str:
    """The Content-Type of a download, as the server's own `/blobs/...` links send it."""
    return "text/csv" if filename.endswith(".csv") else "application/octet-stream"


def _describe(err: Exception) -> str:
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        code = str(error.get("Code", "") or "")
        code = _HTTP_CODES.get(code, code)
        message = error.get("Message")
        return f"{code} ({message})" if message and message != code else code or str(err)
    return f"{type(err).__name__}: {err}"


class S3BlobStore:
    """The blob store of one bucket and prefix (see the module docstring)."""

    def __init__(self, config: BlobConfig, stale_upload_seconds: float = STALE_UPLOAD_SECONDS) -> None:
        if config.kind != "s3" or not config.bucket:
            raise ValueError(f"not an S3 blob config: {config!r}")
        if config.part_size_bytes < MIN_PART_BYTES:
            raise ValueError(f"part_size_bytes must be at least {MIN_PART_BYTES} (S3's smallest part)")
        self.config = config
        self.url = config.url
        self.bucket = config.bucket
        self.prefix = config.prefix
        self.part_size = config.part_size_bytes
        self.stale_upload_seconds = stale_upload_seconds
        self.client = make_client(config)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def object_key(self, key: str) -> str:
        """The S3 key of blob `key`: under the prefix; ValueError for a key that would leave it."""
        if not key or key.startswith("/") or any(part in (".", "..") for part in key.split("/")):
            raise ValueError(f"blob key escapes the store: {key!r}")
        return self.prefix + key

    def unavailable(self, doing: str, err: Exception) -> BlobStoreUnavailable:
        reason = f"{doing}: {_describe(err)}"
        log.warning("blob store unavailable", store=self.url, reason=reason)
        return BlobStoreUnavailable(self.url, reason)

    @contextmanager
    def translate(self, doing: str, key: str | None = None) -> Iterator[None]:
        """botocore errors -> BlobStoreUnavailable; with `key`, a missing object -> FileNotFoundError."""
        try:
            yield
        except ClientError as err:
            if key is not None and str(err.response.get("Error", {}).get("Code", "")) in _MISSING:
                raise FileNotFoundError(f"no blob {key!r} in {self.url}") from None
            raise self.unavailable(doing, err) from err
        except BotoCoreError as err:
            raise self.unavailable(doing, err) from err

    def uploads(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="s3-upload")
            return self._pool

    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        upload = _Upload(self, key)
        try:
            yield cast(BinaryIO, upload)  # a RawIOBase: it writes like the file the protocol promises
            upload.commit()
        except BaseException:
            upload.abort()
            raise
        finally:
            upload.close()

    def _body(self, key: str) -> Any:
        with self.translate(f"reading {key}", key):
            return self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"]

    def open(self, key: str) -> BinaryIO:
        return io.BufferedReader(_BodyReader(self, key, self._body(key)), buffer_size=READ_BUFFER_BYTES)

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            with self.translate(f"reading {key}", key):
                head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
                return head
        except FileNotFoundError:
            # a HEAD answers a bare 404 for a missing bucket too: tell the two apart
            with self.translate(f"checking bucket {self.bucket}"):
                self.client.head_bucket(Bucket=self.bucket)
            return None

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise FileNotFoundError(f"no blob {key!r} in {self.url}")
        return int(head["ContentLength"])

    def delete(self, key: str) -> None:
        with self.translate(f"deleting {key}"):
            self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))

    def delete_prefix(self, prefix: str) -> None:
        """The blob named `prefix` (without its trailing `/`) and every blob under `prefix/`."""
        base = self.object_key(prefix.rstrip("/"))
        doing = f"deleting {prefix}"
        batch = [base]
        with self.translate(doing):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base + "/"):
                batch += [item["Key"] for item in page.get("Contents", [])]
                while len(batch) >= 1000:
                    self._delete_objects(batch[:1000], doing)
                    batch = batch[1000:]
            self._delete_objects(batch, doing)

    def _delete_objects(self, keys: list[str], doing: str) -> None:
        if not keys:
            return
        answer = self.client.delete_objects(
            Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True})
        errors = answer.get("Errors") or []
        if errors:
            first = errors[0]
            raise self.unavailable(doing, RuntimeError(f"{len(errors)} not deleted, e.g. {first.get('Key')}: "
                                                       f"{first.get('Code')} ({first.get('Message')})"))

    def local_path(self, key: str) -> str | None:
        return None

    def iter_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        return self._chunks(key, self._body(key), chunk_size)  # requested now: a missing blob raises here

    def _chunks(self, key: str, body: Any, chunk_size: int) -> Iterator[bytes]:
        try:
            while True:
                with self.translate(f"reading {key}"):
                    chunk = body.read(chunk_size)
                if not chunk:
                    return
                yield chunk
        finally:
            body.close()

    def presigned_url(self, key: str, filename: str, ttl_seconds: int) -> str | None:
        params = {"Bucket": self.bucket, "Key": self.object_key(key), "ResponseContentType": media_type(filename),
                  "ResponseContentDisposition": content_disposition(filename)}
        with self.translate(f"signing a link to {key}"):
            return str(self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl_seconds))

    def clean_temp(self) -> int:
        """Abort incomplete multipart uploads under the prefix started over `stale_upload_seconds`
        ago; how many. Best effort: an unavailable store is logged and counted as nothing done (the
        scheduler calls this at start, and a store that is down then must not stop it)."""
        cutoff = datetime.now(UTC) - timedelta(seconds=self.stale_upload_seconds)
        removed = 0
        try:
            with self.translate("listing multipart uploads"):
                pages = self.client.get_paginator("list_multipart_uploads").paginate(
                    Bucket=self.bucket, Prefix=self.prefix)
                stale = [upload for page in pages for upload in page.get("Uploads", [])
                         if upload["Initiated"] < cutoff]
            for upload in stale:
                removed += self._abort_stale(upload["Key"], upload["UploadId"])
        except BlobStoreUnavailable:
            return removed
        if removed:
            log.info("aborted stale multipart uploads", store=self.url, count=removed)
        return removed

    def _abort_stale(self, key: str, upload_id: str) -> int:
        try:
            with self.translate(f"aborting a stale upload of {key}", key):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except FileNotFoundError:  # NoSuchUpload-like answers: another process got there first
            return 0
        return 1


class _BodyReader(io.RawIOBase):
    """A botocore StreamingBody as a raw stream (for io.BufferedReader); read errors name the store."""

    def __init__(self, store: S3BlobStore, key: str, body: Any) -> None:
        self._store = store
        self._key = key
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with self._store.translate(f"reading {self._key}"):
            data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class _Upload(io.RawIOBase):
    """The file a writer yields: bytes go to a buffer; each full part is uploaded in the background
    (a multipart upload is started with the first one); `commit` finishes, `abort` leaves nothing."""

    def __init__(self, store: S3BlobStore, key: str) -> None:
        self._store = store
        self._name = key
        self._key = store.object_key(key)
        self._buffer = bytearray()
        self._written = 0
        self._upload_id: str | None = None
        self._parts: list[Future[dict[str, Any]]] = []

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._written

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed blob writer")
        view = memoryview(data).cast("B")
        self._buffer += view
        self._written += len(view)
        size = self._store.part_size
        while len(self._buffer) >= size:
            self._send_part(bytes(self._buffer[:size]))
            del self._buffer[:size]
        return len(view)

    def _send_part(self, body: bytes) -> None:
        store = self._store
        if self._upload_id is None:
            with store.translate(f"writing {self._name}"):
                started = store.client.create_multipart_upload(Bucket=store.bucket, Key=self._key)
            self._upload_id = str(started["UploadId"])
        if len(self._parts) >= PARTS_IN_FLIGHT:
            self._parts[-PARTS_IN_FLIGHT].result()  # back-pressure; raises the part's error
        self._parts.append(store.uploads().submit(self._upload_part, len(self._parts) + 1, body))

    def _upload_part(self, number: int, body: bytes) -> dict[str, Any]:
        store = self._store
        with store.translate(f"writing {self._name} (part {number})"):
            answer = store.client.upload_part(Bucket=store.bucket, Key=self._key, UploadId=self._upload_id,
                                              PartNumber=number, Body=body)
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def commit(self) -> None:
        store = self._store
        if self._upload_id is None:
            with store.translate(f"writing {self._name}"):
                store.client.put_object(Bucket=store.bucket, Key=self._key, Body=bytes(self._buffer))
            return
        if self._buffer:
            self._send_part(bytes(self._buffer))
            self._buffer.clear()
        parts = [part.result() for part in self._parts]
        with store.translate(f"writing {self._name}"):
            store.client.complete_multipart_upload(Bucket=store.bucket, Key=self._key, UploadId=self._upload_id,
                                                   MultipartUpload={"Parts": parts})

    def abort(self) -> None:
        """Stop the upload: wait for parts in flight, then abort it (a failure to abort is logged:
        `clean_temp` removes the upload later); nothing appears under the key."""
        for part in self._parts:
            part.cancel()
        wait(self._parts)
        self._buffer.clear()
        if self._upload_id is None:
            return
        store = self._store
        try:
            with store.translate(f"aborting the upload of {self._name}"):
                store.client.abort_multipart_upload(Bucket=store.bucket, Key=self._key, UploadId=self._upload_id)
        except BlobStoreUnavailable:
            log.warning("multipart upload left behind", store=store.url, key=self._name, upload_id=self._upload_id)
