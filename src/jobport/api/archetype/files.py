"""Files API routes (`/v0.5/files...`), as the `archetypeai` client calls them."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from jobport.api.deps import CtxDep, CurrentOrg
from jobport.api.multipart import FileReceiver, receive_file
from jobport.domain.errors import Invalid
from jobport.services import files as file_service
from jobport.store import files as file_store

router = APIRouter(prefix="/files", tags=["files"])


async def _upload(request: Request, ctx, org, is_base64: bool) -> dict:
    receiver = FileReceiver(ctx.blobs, org.id, ctx.settings.max_upload_bytes, is_base64=is_base64)
    await receive_file(request, receiver)
    assert receiver.stats is not None and receiver.file_id and receiver.file_type
    if receiver.stats.num_bytes == 0:
        receiver.abort()
        raise Invalid(f"file {receiver.file_id!r} is empty", field="file", code="invalid_file_size",
                      suggestion="Upload a file with content.")
    try:
        row = await run_in_threadpool(
            file_service.record_upload, ctx, org.id, receiver.file_id, receiver.uid, receiver.file_type, receiver.stats
        )
    except BaseException:
        receiver.abort()
        raise
    return {"is_valid": True, "file_id": row.file_id, "file_uid": row.uid, "num_bytes": row.num_bytes,
            "file_type": row.file_type, "file_attributes": row.attributes}


@router.post("", summary="Upload a file (multipart, part 'file')")
async def upload_file(request: Request, ctx: CtxDep, org: CurrentOrg) -> dict:
    return await _upload(request, ctx, org, is_base64=False)


@router.post("/base64", summary="Upload a file whose multipart part holds base64 text")
async def upload_base64(request: Request, ctx: CtxDep, org: CurrentOrg) -> dict:
    return await _upload(request, ctx, org, is_base64=True)


def _encode_cursor(updated_at: datetime, uid: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([updated_at.isoformat(), uid])).decode().rstrip("=")


def _decode_cursor(value: str, name: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        at, uid = orjson.loads(raw)
        return datetime.fromisoformat(at), uid
    except (binascii.Error, ValueError, TypeError):
        raise Invalid(f"{name}: not a cursor from this API", field=name, code="invalid_parameter",
                      suggestion="Pass next_cursor or prev_cursor from a previous page unchanged.") from None


@router.get("/metadata", summary="One page of file metadata, newest first")
def list_metadata(
    ctx: CtxDep, org: CurrentOrg,
    limit: Annotated[int | None, Query(ge=1)] = None,
    after: str | None = None,
    before: str | None = None,
) -> dict:
    if after and before:
        raise Invalid("after and before are mutually exclusive", field="after", code="invalid_parameter",
                      suggestion="Pass only one of them.")
    limit = limit or ctx.settings.files_page_default
    if limit > ctx.settings.page_max:
        raise Invalid(f"limit: at most {ctx.settings.page_max}", field="limit", code="invalid_parameter",
                      suggestion=f"Use a limit between 1 and {ctx.settings.page_max}.")
    after_c = _decode_cursor(after, "after") if after else None
    before_c = _decode_cursor(before, "before") if before else None
    with ctx.sessions() as session:
        rows, has_more = file_store.page(session, org.id, limit, after_c, before_c)
    data = [file_service.metadata(r) for r in rows]
    next_cursor = _encode_cursor(rows[-1].updated_at, rows[-1].uid) if rows and (has_more or before) else None
    prev_cursor = _encode_cursor(rows[0].updated_at, rows[0].uid) if rows and (after or (before and has_more)) else None
    return {"data": data, "has_more": has_more,
            "next_cursor": next_cursor, "prev_cursor": prev_cursor}


@router.get("/metadata/{file_id}", summary="Metadata of one file")
def get_metadata(file_id: str, ctx: CtxDep, org: CurrentOrg) -> dict:
    return file_service.metadata(file_service.get(ctx, org.id, file_id))


@router.get("/info", summary="Summary of the org's files")
def files_info(ctx: CtxDep, org: CurrentOrg) -> dict:
    with ctx.sessions() as session:
        return file_store.summary(session, org.id)


@router.get("/download/{file_id}", summary="Download a file's bytes")
def download_file(file_id: str, ctx: CtxDep, org: CurrentOrg) -> StreamingResponse:
    row = file_service.get(ctx, org.id, file_id)
    return StreamingResponse(
        ctx.blobs.iter_chunks(row.blob_key), media_type=row.file_type,
        headers={"Content-Disposition": f'attachment; filename="{row.file_id}"', "Content-Length": str(row.num_bytes)},
    )


@router.delete("/delete/{file_id}", summary="Delete a file")
def delete_file(file_id: str, ctx: CtxDep, org: CurrentOrg) -> dict:
    row = file_service.delete(ctx, org.id, file_id)
    return {"file_id": row.file_id, "file_uid": row.uid, "deleted": True}
