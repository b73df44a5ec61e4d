"""OpenAI File objects: an uploaded file (purpose `batch`) or one the server wrote (`batch_output`).
Its bytes are a jobport file named by the OpenAI id (so batches read it as a job input and the native
API lists it); `openai_files` holds the filename, purpose and expiry. An expired file is gone: it
answers 404 and is deleted when next looked at."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from jobport.blobs import keys
from jobport.domain.errors import Invalid, NotFound
from jobport.domain.times import as_utc
from jobport.services.context import AppContext
from jobport.services.openai_batches.views import FileContent, FileView
from jobport.store import files as file_store
from jobport.store import openai_batches as store
from jobport.store.db import transaction, utcnow
from jobport.store.tables import File, OpenAIFile

UPLOAD_PURPOSES = ("batch",)
ALL_PURPOSES = ("batch", "batch_output")
_NOT_FOUND = "List your files with GET /v1/files."


def new_file_id() -> str:
    return f"file-{uuid.uuid4().hex[:24]}"


def view(row: OpenAIFile) -> FileView:
    return FileView(row.id, row.filename, row.purpose, row.num_bytes, row.created_at, row.expires_at)


def check_purpose(purpose: str | None) -> str:
    if not purpose:
        raise Invalid("Missing required parameter: 'purpose'.", field="purpose", code="missing_required_parameter",
                      suggestion="Send a form field purpose=batch.")
    if purpose not in UPLOAD_PURPOSES:
        raise Invalid(f"Invalid value for 'purpose': {purpose!r}.", field="purpose", code="invalid_value",
                      suggestion="This server takes files for the Batch API only: purpose=batch.")
    return purpose


def add_file(session: Session, org_id: str, file_id: str, uid: str, filename: str, purpose: str, num_bytes: int,
             sha256: str, expires_at: datetime | None = None) -> OpenAIFile:
    """The rows of a file whose blob is written at `keys.org_file(org_id, uid)` (in the caller's transaction)."""
    now = utcnow()
    session.add(File(uid=uid, org_id=org_id, file_id=file_id, num_bytes=num_bytes, sha256=sha256,
                     file_type="text/plain", blob_key=keys.org_file(org_id, uid),
                     attributes={"filename": filename, "purpose": purpose}, created_at=now, updated_at=now))
    row = OpenAIFile(id=file_id, org_id=org_id, file_uid=uid, filename=filename, purpose=purpose,
                     num_bytes=num_bytes, created_at=now, expires_at=expires_at)
    session.add(row)
    return row


def record_upload(ctx: AppContext, org_id: str, uid: str, filename: str, purpose: str, num_bytes: int,
                  sha256: str) -> FileView:
    """The File object of an upload whose bytes are already at `keys.org_file(org_id, uid)`."""
    check_purpose(purpose)
    if num_bytes == 0:
        raise Invalid("The file is empty.", field="file", code="empty_file",
                      suggestion="Upload a JSONL file with one request per line.")
    with transaction(ctx.sessions) as session:
        row = add_file(session, org_id, new_file_id(), uid, filename, purpose, num_bytes, sha256)
    return view(row)


def _expired(row: OpenAIFile) -> bool:
    expires = as_utc(row.expires_at)
    return expires is not None and expires <= utcnow()


def _found(ctx: AppContext, org_id: str, file_id: str) -> tuple[OpenAIFile, File]:
    with ctx.sessions() as session:
        found = store.get_file(session, org_id, file_id)
    if found is not None and _expired(found[0]):
        delete(ctx, org_id, file_id)
        found = None
    if found is None:
        raise NotFound(f"No such File object: {file_id}", field="file_id", suggestion=_NOT_FOUND)
    return found


def get(ctx: AppContext, org_id: str, file_id: str) -> FileView:
    return view(_found(ctx, org_id, file_id)[0])


def content(ctx: AppContext, org_id: str, file_id: str) -> FileContent:
    row, file = _found(ctx, org_id, file_id)
    return FileContent(row.filename, file.num_bytes, file.blob_key)


def delete(ctx: AppContext, org_id: str, file_id: str) -> str:
    """Delete the file (its blob too, unless a job still reads it); the id."""
    with transaction(ctx.sessions) as session:
        found = store.get_file(session, org_id, file_id)
        if found is None:
            raise NotFound(f"No such File object: {file_id}", field="file_id", suggestion=_NOT_FOUND)
        row, file = found
        referenced = file_store.is_referenced(session, file.uid)
        session.delete(row)
        session.delete(file)
    if not referenced:
        ctx.blobs.delete(file.blob_key)
    return file_id


def list_page(ctx: AppContext, org_id: str, purpose: str | None, after: str | None, limit: int,
              order: str) -> tuple[list[FileView], bool]:
    """A page of the org's files (`order` desc: newest first) after the file `after`, and whether more follow."""
    if purpose is not None and purpose not in ALL_PURPOSES:
        raise Invalid(f"Invalid value for 'purpose': {purpose!r}.", field="purpose", code="invalid_value",
                      suggestion=f"Use one of {', '.join(ALL_PURPOSES)}.")
    with ctx.sessions() as session:
        after_seq = None
        if after is not None:
            after_seq = store.file_seq(session, org_id, after)
            if after_seq is None:
                raise Invalid(f"Invalid value for 'after': no file {after!r}.", field="after", code="invalid_value",
                              suggestion="Pass the id of the last file of the previous page.")
        rows = store.list_files(session, org_id, purpose, after_seq, limit + 1, newest_first=order == "desc")
    live = [row for row in rows if not _expired(row)]
    return [view(row) for row in live[:limit]], len(rows) > limit
