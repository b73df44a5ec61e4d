"""Files: validating names and types, computing attributes while bytes stream in, recording
uploads (the same basename replaces the org's earlier file), listing them page by page, and
downloads (of an org's file, or of any blob through a signed link)."""

from __future__ import annotations

import csv
import hashlib
import io
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jobport.blobs import keys
from jobport.domain.errors import DomainError, Invalid, NotFound
from jobport.domain.ids import new_id
from jobport.domain.times import iso_utc
from jobport.services.context import AppContext
from jobport.store import apps as app_store
from jobport.store import files as file_store
from jobport.store.db import transaction, utcnow
from jobport.store.tables import File, JobOutput

ACCEPTED_TYPES = ("text/csv", "text/plain", "application/json", "image/jpeg", "image/png", "video/mp4")
_BY_EXTENSION = {".csv": "text/csv", ".json": "text/plain", ".jsonl": "text/plain", ".txt": "text/plain",
                 ".text": "text/plain", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
                 ".mp4": "video/mp4"}
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f]")


def clean_file_id(filename: str | None) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or name in {".", ".."} or len(name) > 255 or _BAD_NAME.search(name):
        raise Invalid(
            f"invalid file name {filename!r}",
            code="invalid_file_name",
            field="file",
            suggestion="Send the file as a multipart part named 'file' with a plain basename of at most 255 "
                       "characters.",
        )
    return name


# Model files for apps (`worker.model` of tabular-model): binary, typed by extension only.
MODEL_EXTENSIONS = (".onnx", ".skops")


def resolve_file_type(filename: str, declared: str | None) -> str:
    if filename.lower().endswith(MODEL_EXTENSIONS):
        return "application/octet-stream"
    declared = (declared or "").split(";", 1)[0].strip().lower()
    if declared in ACCEPTED_TYPES:
        return declared
    if declared and declared not in ("application/octet-stream", "multipart/form-data"):
        raise Invalid(
            f"file type {declared!r} is not accepted",
            code="invalid_file_type",
            field="file",
            suggestion=f"Upload one of {', '.join(ACCEPTED_TYPES)} (send JSONL as text/plain), or a model file "
                       f"({', '.join(MODEL_EXTENSIONS)}).",
        )
    ext = ("." + filename.rsplit(".", 1)[-1].lower()) if "." in filename else ""
    guessed = _BY_EXTENSION.get(ext) or mimetypes.guess_type(filename)[0]
    if guessed in ACCEPTED_TYPES:
        return guessed
    raise Invalid(
        f"cannot tell the type of {filename!r}",
        code="invalid_file_type",
        field="file",
        suggestion=f"Give the part a content type among {', '.join(ACCEPTED_TYPES)} or use a known extension.",
    )


class UploadStats:
    """Size, SHA-256 and CSV line/header facts of a stream, computed chunk by chunk."""

    def __init__(self, is_csv: bool, is_text: bool = False) -> None:
        self.is_csv = is_csv
        self.is_text = is_text or is_csv
        self._blank = True
        self.num_bytes = 0
        self._sha = hashlib.sha256()
        self._newlines = 0
        self._head = bytearray()
        self._last = b""

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.num_bytes += len(chunk)
        self._sha.update(chunk)
        if self._blank and chunk.strip():
            self._blank = False
        if self.is_text:
            self._newlines += chunk.count(b"\n")
            if len(self._head) < 65536 and b"\n" not in self._head:
                self._head.extend(chunk[:65536])
            self._last = chunk[-1:]

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    def attributes(self) -> dict[str, Any]:
        if not self.is_text or self.num_bytes == 0:
            return {}
        lines = 0 if self._blank else self._newlines + (0 if self._last == b"\n" else 1)
        if not self.is_csv:
            return {"num_lines": lines}
        first = bytes(self._head).split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").rstrip("\r")
        headers = next(csv.reader(io.StringIO(first)), [])
        return {"num_rows": max(lines - 1, 0), "num_columns": len(headers), "column_headers": headers}


def record_upload(ctx: AppContext, org_id: str, file_id: str, uid: str, file_type: str, stats: UploadStats) -> File:
    """Point the org's `file_id` at the blob just written under `uid`; drop the replaced blob
    unless a job still reads it. An empty file is refused (the caller drops its blob)."""
    if stats.num_bytes == 0:
        raise Invalid(f"file {file_id!r} is empty", field="file", code="invalid_file_size",
                      suggestion="Upload a file with content.")
    now = utcnow()
    replaced_key = None
    with transaction(ctx.sessions) as session:
        row = file_store.get(session, org_id, file_id)
        if row is None:
            row = File(uid=uid, org_id=org_id, file_id=file_id, created_at=now)
            session.add(row)
        elif not file_store.is_referenced(session, row.uid):
            replaced_key = row.blob_key
        row.uid = uid
        row.num_bytes = stats.num_bytes
        row.sha256 = stats.sha256
        row.file_type = file_type
        row.blob_key = keys.org_file(org_id, uid)
        row.attributes = stats.attributes()
        row.updated_at = now
    if replaced_key:
        ctx.blobs.delete(replaced_key)
    return row


def new_file_uid() -> str:
    return new_id("fil")


def app_file_uids(session: Session, app_id: str) -> set[str]:
    """The files an app key sees: those its app's versions were made from (by uid, so a file
    uploaded again under the same name is not its app's any more)."""
    versions = app_store.versions(session, [app_id])[app_id]
    return {ref["file_uid"] for v in versions for ref in v.references if ref.get("file_uid")}


def get(ctx: AppContext, org_id: str, file_id: str, only_app: str | None = None) -> File:
    """The org's file `file_id`; NotFound also when it is not a file of `only_app` (an app key's)."""
    with ctx.sessions() as session:
        row = file_store.get(session, org_id, file_id)
        if row is not None and only_app is not None and row.uid not in app_file_uids(session, only_app):
            row = None
    if row is None:
        raise NotFound(f"file {file_id!r} not found", suggestion="List your files with GET /v0.5/files/metadata.")
    return row


def delete(ctx: AppContext, org_id: str, file_id: str) -> File:
    with transaction(ctx.sessions) as session:
        row = file_store.get(session, org_id, file_id)
        if row is None:
            raise NotFound(f"file {file_id!r} not found", suggestion="List your files with GET /v0.5/files/metadata.")
        referenced = file_store.is_referenced(session, row.uid)
        session.delete(row)
    if not referenced:
        ctx.blobs.delete(row.blob_key)
    return row


def metadata(row: File) -> dict[str, Any]:
    return {
        "file_id": row.file_id,
        "file_uid": row.uid,
        "is_valid": True,
        "file_type": row.file_type,
        "num_bytes": row.num_bytes,
        "file_status": "FILE_STATUS_INGESTED",
        "file_attributes": row.attributes,
        "ingested": True,
        "file_index": None,
        "file_tags": [],
        "sha256": row.sha256,
        "created_at": iso_utc(row.created_at),
        "updated_at": iso_utc(row.updated_at),
    }


# ---- listing ------------------------------------------------------------------------------------

# Where a page of files starts or ends: (updated_at, uid) of a file, the order of the listing.
Position = tuple[datetime, str]


@dataclass(frozen=True)
class FilePage:
    """Files newest first, with the positions to continue from: `older_after` (the next page, pass
    it as `after`) and `newer_before` (the previous page, pass it as `before`); None at an end."""

    files: list[File]
    has_more: bool
    older_after: Position | None
    newer_before: Position | None


def list_page(ctx: AppContext, org_id: str, limit: int, after: Position | None = None,
              before: Position | None = None, only_app: str | None = None) -> FilePage:
    """Up to `limit` of the org's files (of `only_app` alone, for an app key), newest first: from
    the newest, past `after` (older files) or up to `before` (newer files, still listed newest
    first). Give at most one of them."""
    with ctx.sessions() as session:
        uids = app_file_uids(session, only_app) if only_app is not None else None
        rows, has_more = file_store.page(session, org_id, limit, after, before, uids)
    if not rows:
        return FilePage(rows, has_more, None, None)
    # Older files exist when reading forwards found more, or when reading back (the page we came from);
    # newer ones when we came forwards past a cursor, or reading back found more.
    older = has_more or before is not None
    newer = after is not None or (before is not None and has_more)
    return FilePage(rows, has_more, _position(rows[-1]) if older else None, _position(rows[0]) if newer else None)


def _position(row: File) -> Position:
    return row.updated_at, row.uid


def summary(ctx: AppContext, org_id: str, only_app: str | None = None) -> dict[str, Any]:
    """`num_files`, `num_bytes` and `file_types` (number of files per content type) of the org (of
    `only_app`'s files, for an app key)."""
    with ctx.sessions() as session:
        uids = app_file_uids(session, only_app) if only_app is not None else None
        return file_store.summary(session, org_id, uids)


# ---- downloads ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Download:
    """Bytes to stream to a client, read lazily from the blob store."""

    filename: str
    media_type: str
    num_bytes: int
    chunks: Iterator[bytes]


class LinkRefused(DomainError):
    """A signed link whose signature does not match, or that has expired."""

    status_code = 403
    default_code = "invalid_signature"


def download(ctx: AppContext, org_id: str, file_id: str, only_app: str | None = None) -> Download:
    """The org's file `file_id` (NotFound if it has none of that name, or it is not `only_app`'s)."""
    row = get(ctx, org_id, file_id, only_app)
    return Download(row.file_id, row.file_type, row.num_bytes, ctx.blobs.iter_chunks(row.blob_key))


def signed_download(ctx: AppContext, key: str, filename: str, expires: int, signature: str) -> Download:
    """The blob behind a signed link (`UrlSigner.sign`): LinkRefused (403) if the signature does not
    match or the link expired, NotFound if the blob is gone."""
    if not ctx.signer.verify(key, filename, expires, signature):
        raise LinkRefused("download link is invalid or has expired",
                          suggestion=f"List the outputs again to get a fresh link "
                                     f"(links last {_duration(ctx.signer.ttl_seconds)}).")
    media_type = "text/csv" if filename.endswith(".csv") else "application/octet-stream"
    kept = _output_in_row(ctx, key)
    if kept is not None:
        return Download(filename, media_type, len(kept), iter([kept]))
    if not ctx.blobs.exists(key):
        raise NotFound("the file behind this link no longer exists", suggestion="The job may have been deleted.")
    return Download(filename, media_type, ctx.blobs.size(key), ctx.blobs.iter_chunks(key))


def _output_in_row(ctx: AppContext, key: str) -> bytes | None:
    """The bytes of a job output kept in its database row (a small output of a chunked job)."""
    job_id = keys.job_of_output(key)
    if job_id is None:
        return None
    with ctx.sessions() as session:
        return session.scalar(select(JobOutput.content).where(JobOutput.job_id == job_id, JobOutput.blob_key == key,
                                                              JobOutput.content.is_not(None)))


def _duration(seconds: int) -> str:
    """`1 hour`, `2 hours`, `90 seconds`."""
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{seconds} seconds"
