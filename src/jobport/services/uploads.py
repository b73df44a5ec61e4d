"""Direct uploads in parts (Archetype `POST /files/uploads/initiate`, part PUTs, `complete`,
`abort`): the `archetypeai` client's path for large files (`use_proxy=False`).

`initiate` records an upload session and answers one signed PUT link per part (numbered from 1,
`upload_part_size_bytes` each, the last one smaller). A PUT stores its part as a blob of its own
under `uploads/<org>/<upload>/parts/<n>`, records its size and MD5, and answers the MD5 as its
ETag. `checkpoint` confirms parts by their ETags; `initiate` with `resume_if_started` hands back the
open upload of the same file with links for the parts it lacks. `complete` checks the ETags the
client sends against the parts received (every part must have arrived), streams the parts in order
into the org's file blob (computing size, SHA-256 and CSV facts on the way, and each part's MD5
again), points the file id at it as `POST /files` does, and removes the parts. `abort` and expiry
remove the parts; expired sessions are swept at each initiate and by each retention pass. The
file appears only once `complete` succeeded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO

from jobport.blobs import keys
from jobport.blobs.base import BlobStore
from jobport.domain.errors import Conflict, Invalid, NotFound, TooLarge
from jobport.domain.ids import new_id
from jobport.domain.times import as_utc
from jobport.services import files as file_service
from jobport.services.context import AppContext
from jobport.store import uploads as upload_store
from jobport.store.db import transaction, utcnow
from jobport.store.tables import File, Upload, UploadPart

READ_CHUNK = 1 << 20
PART_LINKS_PREFIX = "/uploads"  # where the server takes part PUTs (api/upload_parts.py), under its base URL
_NOT_FOUND_HINT = "Start the upload again with POST /v0.5/files/uploads/initiate."


@dataclass(frozen=True)
class InitiateRequest:
    filename: str
    file_type: str | None
    num_bytes: int
    resume_if_started: bool = False


@dataclass(frozen=True)
class PartLink:
    """Where and what to PUT: `length` bytes of the file from `offset`, to `url` until `expires_at`."""

    part_number: int
    url: str
    offset: int
    length: int
    expires_at: datetime


@dataclass(frozen=True)
class UploadPlan:
    upload: Upload
    parts: list[PartLink]
    is_resume: bool


@dataclass(frozen=True)
class CompletedPart:
    part_number: int
    part_token: str  # the ETag the part's PUT answered


def part_range(upload: Upload, part_number: int) -> tuple[int, int]:
    """(offset, length) of a part (numbered from 1)."""
    offset = (part_number - 1) * upload.part_size
    return offset, min(upload.part_size, upload.num_bytes - offset)


def _link_key(upload_id: str) -> str:
    return f"upload:{upload_id}"  # no blob key looks like this: a part link opens no download


def _part_name(part_number: int) -> str:
    return f"part-{part_number}"


def part_links(ctx: AppContext, upload: Upload, server_url: str,
               numbers: Sequence[int] | None = None) -> list[PartLink]:
    """Signed PUT links of the upload's parts (all, or `numbers`) on the server at `server_url`,
    valid until the upload expires."""
    expires_at = as_utc(upload.expires_at)
    assert expires_at is not None
    expires = int(expires_at.timestamp())
    links = []
    for number in range(1, upload.num_parts + 1) if numbers is None else numbers:
        offset, length = part_range(upload, number)
        signature = ctx.signer.signature(_link_key(upload.id), _part_name(number), expires)
        url = (f"{server_url.rstrip('/')}{PART_LINKS_PREFIX}/{upload.id}/parts/{number}"
               f"?expires={expires}&signature={signature}")
        links.append(PartLink(number, url, offset, length, expires_at))
    return links


def _checked_file(request: InitiateRequest) -> tuple[str, str]:
    """(file id, file type) of the request, in the terms of its own fields."""
    try:
        file_id = file_service.clean_file_id(request.filename)
    except Invalid:
        raise Invalid(f"invalid filename {request.filename!r}", field="filename", code="invalid_file_name",
                      suggestion="Give the file's plain basename (at most 255 characters, no control "
                                 "characters).") from None
    try:
        file_type = file_service.resolve_file_type(file_id, request.file_type)
    except Invalid as err:
        raise Invalid(err.message, field="file_type", code="invalid_file_type", suggestion=err.suggestion) from None
    return file_id, file_type


def _part_count(ctx: AppContext, num_bytes: int) -> int:
    limits = ctx.settings.uploads
    if num_bytes < 1:
        raise Invalid("num_bytes must be at least 1", field="num_bytes", code="invalid_file_size",
                      suggestion="Give the file's size in bytes; an empty file cannot be uploaded.")
    count = -(-num_bytes // limits.part_size_bytes)
    if count > limits.max_parts:
        most = limits.part_size_bytes * limits.max_parts
        raise Invalid(f"num_bytes {num_bytes} is above the largest direct upload, {most} bytes "
                      f"({limits.max_parts} parts of {limits.part_size_bytes} bytes)", field="num_bytes",
                      code="invalid_file_size",
                      suggestion="Split the file, or ask the operator to raise JOBPORT_UPLOAD_MAX_PARTS or "
                                 "JOBPORT_UPLOAD_PART_SIZE_BYTES.")
    return count


def initiate(ctx: AppContext, org_id: str, request: InitiateRequest, server_url: str) -> UploadPlan:
    """A new upload session (or, with `resume_if_started`, the open one of the same file)."""
    file_id, file_type = _checked_file(request)
    num_parts = _part_count(ctx, request.num_bytes)
    sweep_expired(ctx)
    now = utcnow()
    with transaction(ctx.sessions) as session:
        found = (upload_store.find_open(session, org_id, file_id, request.num_bytes, file_type, now)
                 if request.resume_if_started else None)
        upload = found or Upload(
            id=new_id("upl"), org_id=org_id, file_id=file_id, file_uid=file_service.new_file_uid(),
            file_type=file_type, num_bytes=request.num_bytes, part_size=ctx.settings.uploads.part_size_bytes,
            num_parts=num_parts, status="open", created_at=now,
            expires_at=now + timedelta(seconds=ctx.settings.uploads.expiry_seconds))
        if found is None:
            session.add(upload)
        received = upload_store.parts(session, upload.id) if found is not None else {}
    missing = [n for n in range(1, upload.num_parts + 1) if n not in received]
    return UploadPlan(upload, part_links(ctx, upload, server_url, missing), is_resume=found is not None)


def _open_upload(ctx: AppContext, org_id: str, upload_id: str) -> Upload:
    with ctx.sessions() as session:
        upload = upload_store.get(session, org_id, upload_id)
    expires_at = as_utc(upload.expires_at) if upload else None
    if upload is None or (upload.status != "completed" and expires_at is not None and expires_at < utcnow()):
        raise NotFound(f"upload {upload_id!r} not found (or expired)", field="upload_id", code="upload_not_found",
                       suggestion=_NOT_FOUND_HINT)
    return upload


def refresh_links(ctx: AppContext, org_id: str, upload_id: str, numbers: Sequence[int] | None,
                  server_url: str) -> list[PartLink]:
    """Fresh links of an open upload's parts (all, or `numbers`)."""
    upload = _require_open(_open_upload(ctx, org_id, upload_id))
    wrong = sorted({n for n in numbers or () if not 1 <= n <= upload.num_parts})
    if wrong:
        raise Invalid(f"upload {upload_id} has parts 1 to {upload.num_parts}; no part {wrong[0]}",
                      field="part_numbers", code="invalid_parameter", suggestion="Ask for parts of the upload only.")
    return part_links(ctx, upload, server_url, numbers)


def _require_open(upload: Upload) -> Upload:
    if upload.status != "open":
        raise Conflict(f"upload {upload.id} is {upload.status}", field="upload_id", code="upload_not_open",
                       suggestion="Parts can only be sent to an open upload; start a new one with POST "
                                  "/v0.5/files/uploads/initiate.")
    return upload


# ---- part PUTs ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PartTarget:
    upload_id: str
    blob_key: str
    part_number: int
    length: int


def part_target(ctx: AppContext, upload_id: str, part_number: int, expires: int, signature: str,
                declared_length: str | None) -> PartTarget:
    """Where a signed part PUT goes: 403 for a link that is not signed or has expired, 404 for an
    upload that is gone, 409 when it is no longer open, 400 when the declared length is not the part's."""
    if not ctx.signer.verify(_link_key(upload_id), _part_name(part_number), expires, signature):
        raise file_service.LinkRefused("upload part link is invalid or has expired", field="signature",
                                       suggestion=f"Ask for fresh links with POST /v0.5/files/uploads/{upload_id}"
                                                  "/parts/urls, or start the upload again.")
    with ctx.sessions() as session:
        upload = upload_store.get_any(session, upload_id)
    if upload is None:
        raise NotFound(f"upload {upload_id!r} not found", field="upload_id", code="upload_not_found",
                       suggestion=_NOT_FOUND_HINT)
    _require_open(upload)
    if not 1 <= part_number <= upload.num_parts:
        raise NotFound(f"upload {upload_id} has no part {part_number}", field="part_number", code="not_found")
    _, length = part_range(upload, part_number)
    if declared_length is not None and declared_length.strip() != str(length):
        raise Invalid(f"part {part_number} is {length} bytes; the request declares {declared_length}",
                      field="Content-Length", code="invalid_part_size",
                      suggestion="PUT exactly the part's `length` bytes from its `offset` in the file.")
    return PartTarget(upload.id, keys.upload_part(upload.org_id, upload.id, part_number), part_number, length)


class PartSink:
    """Receives a part's bytes into its blob, checking its length; `close` stores the blob and
    answers its ETag (the MD5); `finish_part` then records it."""

    def __init__(self, blobs: BlobStore, target: PartTarget) -> None:
        self.target = target
        self.received = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._cm: AbstractContextManager[BinaryIO] | None = blobs.writer(target.blob_key)
        self._fh = self._cm.__enter__()

    def write(self, data: bytes) -> None:
        self.received += len(data)
        if self.received > self.target.length:
            raise TooLarge(f"part {self.target.part_number} is larger than its {self.target.length} bytes",
                           field="body", code="invalid_part_size",
                           suggestion="PUT exactly the part's `length` bytes from its `offset` in the file.")
        self._md5.update(data)
        self._fh.write(data)

    def close(self) -> str:
        if self.received != self.target.length:
            raise Invalid(f"part {self.target.part_number} has {self.received} bytes; it is {self.target.length}",
                          field="body", code="invalid_part_size",
                          suggestion="PUT exactly the part's `length` bytes from its `offset` in the file.")
        assert self._cm is not None
        cm, self._cm = self._cm, None
        cm.__exit__(None, None, None)
        return self._md5.hexdigest()

    def abort(self) -> None:
        """Drop what was written (nothing appears under the part's key)."""
        if self._cm is not None:
            cm, self._cm = self._cm, None
            try:
                cm.__exit__(RuntimeError, RuntimeError("aborted"), None)
            except RuntimeError:
                pass


def finish_part(ctx: AppContext, sink: PartSink) -> str:
    """Store the part received by `sink` and record its size and ETag; the ETag."""
    etag = sink.close()
    with transaction(ctx.sessions) as session:
        upload_store.record_part(session, sink.target.upload_id, sink.target.part_number, sink.target.length, etag,
                                 utcnow())
    return etag


def checkpoint(ctx: AppContext, org_id: str, upload_id: str,
               parts: Sequence[CompletedPart]) -> tuple[list[int], int]:
    """Confirm parts by the ETags their PUTs answered (400 for a part not received or another ETag):
    the numbers of every part received so far, and how many parts the upload has. The client sends
    checkpoints without waiting for them, so one may come while (or after) the upload completes: it
    is answered all the same; only an aborted upload refuses it."""
    upload = _open_upload(ctx, org_id, upload_id)
    if upload.status == "aborted":
        _require_open(upload)
    with ctx.sessions() as session:
        received = upload_store.parts(session, upload.id)
    _check_tokens(upload, received, parts)
    return sorted(received), upload.num_parts


# ---- complete, abort, expiry --------------------------------------------------------------------

def _clean_token(token: str) -> str:
    return token.strip().removeprefix("W/").strip('"').lower()


def _check_tokens(upload: Upload, received: dict[int, UploadPart], parts: Sequence[CompletedPart]) -> None:
    """Each part the client names must be one the server received, with the ETag its PUT answered."""
    for index, part in enumerate(parts):
        stored = received.get(part.part_number)
        if not 1 <= part.part_number <= upload.num_parts or stored is None:
            where = "has no such part" if not 1 <= part.part_number <= upload.num_parts else "has not received it"
            raise Invalid(f"part {part.part_number}: upload {upload.id} {where} (parts 1 to {upload.num_parts})",
                          field=f"parts[{index}].part_number", code="invalid_parts",
                          suggestion="PUT each part to its link first; name only parts of the upload.")
        if _clean_token(part.part_token) != stored.etag:
            raise Invalid(f"part {part.part_number}: part_token {part.part_token!r} is not the ETag of the part "
                          f"received", field=f"parts[{index}].part_token", code="invalid_part_token",
                          suggestion="Send the ETag header the part's PUT answered, or PUT the part again.")


def _check_all_received(upload: Upload, received: dict[int, UploadPart]) -> None:
    missing = [n for n in range(1, upload.num_parts + 1) if n not in received]
    if missing:
        raise Invalid(f"upload {upload.id} lacks {len(missing)} of its {upload.num_parts} parts, the first is part "
                      f"{missing[0]}", field="parts", code="invalid_parts",
                      suggestion=f"PUT every part to its link before completing (POST /v0.5/files/uploads/"
                                 f"{upload.id}/parts/urls gives fresh links).")


def _assemble(ctx: AppContext, upload: Upload, received: dict[int, UploadPart]) -> file_service.UploadStats:
    """Stream the parts in order into the file's blob; the blob appears only if every part still
    has the size and MD5 it was received with."""
    stats = file_service.UploadStats(is_csv=upload.file_type == "text/csv",
                                     is_text=upload.file_type in ("text/plain", "application/json"))
    with ctx.blobs.writer(keys.org_file(upload.org_id, upload.file_uid)) as out:
        for number in range(1, upload.num_parts + 1):
            md5, size = hashlib.md5(usedforsecurity=False), 0
            try:
                for chunk in ctx.blobs.iter_chunks(keys.upload_part(upload.org_id, upload.id, number), READ_CHUNK):
                    md5.update(chunk)
                    size += len(chunk)
                    stats.feed(chunk)
                    out.write(chunk)
            except FileNotFoundError:
                size = -1
            if size != received[number].num_bytes or md5.hexdigest() != received[number].etag:
                _forget_part(ctx, upload.id, number)
                raise Invalid(f"part {number} of upload {upload.id} is no longer the part received", field="parts",
                              code="invalid_parts", suggestion="PUT the part again, then complete the upload.")
    return stats


def _forget_part(ctx: AppContext, upload_id: str, part_number: int) -> None:
    with transaction(ctx.sessions) as session:
        upload_store.forget_part(session, upload_id, part_number)


def complete(ctx: AppContext, org_id: str, upload_id: str, parts: Sequence[CompletedPart]) -> File:
    """Assemble the parts into the org's file (replacing a file of the same name) and remove them."""
    upload = _open_upload(ctx, org_id, upload_id)
    if upload.status != "open":
        raise Conflict(f"upload {upload_id} is already {upload.status}", field="upload_id",
                       code="upload_already_completed" if upload.status == "completed" else "upload_not_open",
                       suggestion=f"Read the file with GET /v0.5/files/metadata/{upload.file_id}."
                       if upload.status == "completed" else _NOT_FOUND_HINT)
    with ctx.sessions() as session:
        received = upload_store.parts(session, upload.id)
    _check_tokens(upload, received, parts)
    _check_all_received(upload, received)
    _move_or_conflict(ctx, upload, ("open",), "completing")
    try:
        stats = _assemble(ctx, upload, received)
        try:
            row = file_service.record_upload(ctx, org_id, upload.file_id, upload.file_uid, upload.file_type, stats)
        except BaseException:
            ctx.blobs.delete(keys.org_file(org_id, upload.file_uid))  # no row points at it
            raise
    except BaseException:
        with transaction(ctx.sessions) as session:  # the client may fix the parts and complete again
            upload_store.move(session, upload.id, ("completing",), "open")
        raise
    _move_or_conflict(ctx, upload, ("completing",), "completed")
    ctx.blobs.delete_prefix(keys.upload_prefix(org_id, upload_id))
    return row


def _move_or_conflict(ctx: AppContext, upload: Upload, from_statuses: Sequence[str], to: str) -> None:
    with transaction(ctx.sessions) as session:
        moved = upload_store.move(session, upload.id, from_statuses, to)
    if not moved:
        raise Conflict(f"upload {upload.id} is being completed or was aborted meanwhile", field="upload_id",
                       code="upload_not_open", suggestion="Read the upload's file, or start a new upload.")


def abort(ctx: AppContext, org_id: str, upload_id: str) -> Upload:
    """Drop an upload's parts; its links stop working. Aborting twice is fine; a completed upload 409s."""
    upload = _open_upload(ctx, org_id, upload_id)
    if upload.status != "aborted":
        with transaction(ctx.sessions) as session:
            moved = upload_store.move(session, upload_id, ("open",), "aborted")
        if not moved:
            raise Conflict(f"upload {upload_id} is {upload.status} and cannot be aborted", field="upload_id",
                           code="upload_not_open", suggestion="Delete the file with DELETE /v0.5/files/delete/"
                                                              "{file_id} instead.")
    ctx.blobs.delete_prefix(keys.upload_prefix(org_id, upload_id))
    upload.status = "aborted"
    return upload


def sweep_expired(ctx: AppContext, now: datetime | None = None) -> int:
    """Remove up to `upload_sweep_batch` uploads expired at `now` (their parts, then their rows); how
    many. Each initiate sweeps, and so does each retention pass."""
    limits = ctx.settings.uploads
    with ctx.sessions() as session:
        gone = upload_store.expired(session, now or utcnow(), timedelta(seconds=limits.expiry_seconds),
                                    limits.sweep_batch)
    for upload in gone:
        ctx.blobs.delete_prefix(keys.upload_prefix(upload.org_id, upload.id))
    with transaction(ctx.sessions) as session:
        upload_store.delete_many(session, [u.id for u in gone])
    return len(gone)
