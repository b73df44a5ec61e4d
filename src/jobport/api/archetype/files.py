"""Files API routes (`/v0.5/files...`), as the `archetypeai` client calls them (direct uploads in
parts, `/v0.5/files/uploads...`, live in `uploads.py`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from jobport.api.archetype import render, schemas, uploads
from jobport.api.archetype.paging import FilesPage, encode_cursor
from jobport.api.deps import CtxDep, CurrentOrg, OnlyApp, OrgWide
from jobport.api.errors import surface_route
from jobport.api.idempotency import IdempotencyKey
from jobport.api.multipart import FileReceiver, receive_file, upload_body
from jobport.api.openapi import errors
from jobport.services import files as file_service
from jobport.services import idempotency
from jobport.services.context import AppContext

router = APIRouter(prefix="/files", tags=["files"], route_class=surface_route(render.error_body))
router.include_router(uploads.router)  # /files/uploads/...: direct uploads in parts

BINARY = {"schema": {"type": "string", "format": "binary"}}
FILE_CONTENT = {200: {"description": "The file's bytes, with its content type",
                      "content": dict.fromkeys((*file_service.ACCEPTED_TYPES, "application/octet-stream"), BINARY)}}


async def _upload(request: Request, ctx: AppContext, org_id: str, is_base64: bool, key: str | None
                  ) -> dict[str, Any]:
    receiver = FileReceiver(ctx.blobs, org_id, ctx.settings.limits.max_upload_bytes, is_base64=is_base64)
    await receive_file(request, receiver)
    stats, file_id, file_type = receiver.stats, receiver.file_id, receiver.file_type
    assert stats is not None and file_id and file_type

    def record() -> idempotency.Answer:
        row = file_service.record_upload(ctx, org_id, file_id, receiver.uid, file_type, stats)
        return idempotency.Answer(200, {"is_valid": True, "file_id": row.file_id, "file_uid": row.uid,
                                        "num_bytes": row.num_bytes, "file_type": row.file_type,
                                        "file_attributes": row.attributes})

    digest = idempotency.fingerprint(file_id, stats.sha256, is_base64)
    try:
        answer = await run_in_threadpool(idempotency.run_once, ctx, org_id, "files", key, digest, record)
    except BaseException:
        receiver.abort()
        raise
    if answer.replayed:
        receiver.abort()  # the first upload stands; this copy of the same bytes is not kept
    return answer.body  # type: ignore[no-any-return]


@router.post("", summary="Upload a file (multipart, part 'file')", response_model=schemas.FileUploaded,
             responses=errors(400, 413), openapi_extra=upload_body(is_base64=False))
async def upload_file(request: Request, ctx: CtxDep, org: OrgWide, idempotency_key: IdempotencyKey = None
                      ) -> dict[str, Any]:
    """The part's basename is the file's id; uploading a name again replaces the org's file of that
    name. The size limit is setting `max_upload_bytes` (see the body)."""
    return await _upload(request, ctx, org.id, False, idempotency_key)


@router.post("/base64", summary="Upload a file whose multipart part holds base64 text",
             response_model=schemas.FileUploaded, responses=errors(400, 413), openapi_extra=upload_body(is_base64=True))
async def upload_base64(request: Request, ctx: CtxDep, org: OrgWide, idempotency_key: IdempotencyKey = None
                        ) -> dict[str, Any]:
    """Like `POST /files`, with the part's text decoded from base64; the size limit (setting
    `max_upload_bytes`) applies to the decoded file."""
    return await _upload(request, ctx, org.id, True, idempotency_key)


@router.get("/metadata", summary="One page of file metadata, newest first", response_model=schemas.FileList)
def list_metadata(ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp, page: FilesPage) -> dict[str, Any]:
    found = file_service.list_page(ctx, org.id, page.limit, page.after, page.before, only_app)
    return {"data": [file_service.metadata(r) for r in found.files], "has_more": found.has_more,
            "next_cursor": encode_cursor(found.older_after), "prev_cursor": encode_cursor(found.newer_before)}


@router.get("/metadata/{file_id}", summary="Metadata of one file", response_model=schemas.FilePublic,
            responses=errors(404))
def get_metadata(file_id: str, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp) -> dict[str, Any]:
    return file_service.metadata(file_service.get(ctx, org.id, file_id, only_app))


@router.get("/info", summary="Summary of the org's files", response_model=schemas.FilesSummary)
def files_info(ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp) -> dict[str, Any]:
    return file_service.summary(ctx, org.id, only_app)


@router.get("/download/{file_id}", summary="Download a file's bytes", response_class=StreamingResponse,
            responses={**FILE_CONTENT, **errors(404)})
def download_file(file_id: str, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp) -> StreamingResponse:
    found = file_service.download(ctx, org.id, file_id, only_app)
    return StreamingResponse(found.chunks, media_type=found.media_type, headers={
        "Content-Disposition": f'attachment; filename="{found.filename}"', "Content-Length": str(found.num_bytes)})


@router.delete("/delete/{file_id}", summary="Delete a file", response_model=schemas.FileDeleted,
               responses=errors(404))
def delete_file(file_id: str, ctx: CtxDep, org: OrgWide) -> dict[str, Any]:
    row = file_service.delete(ctx, org.id, file_id)
    return {"file_id": row.file_id, "file_uid": row.uid, "deleted": True}
