"""OpenAI Batch API routes, mounted under `/v1` beside the super.AI surface (whose paths are
`/v1/apps/...`, `/v1/jobs/...`, `/v1/operations/...`: none collide): `/v1/files` (upload, list,
retrieve, content, delete) and `/v1/batches` (create, retrieve, cancel, list). Org-wide keys only."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from jobport.api.deps import CtxDep, OrgWide
from jobport.api.errors import surface_route
from jobport.api.idempotency import IdempotencyKey
from jobport.api.multipart import FileReceiver, receive_file
from jobport.api.openai import render, schemas
from jobport.api.openapi import errors
from jobport.domain.errors import Invalid, TooLarge
from jobport.services import idempotency
from jobport.services.context import AppContext
from jobport.services.openai_batches import batches as batch_service
from jobport.services.openai_batches import files as file_service

router = APIRouter(tags=["openai"], route_class=surface_route(render.error_body))

BINARY = {"schema": {"type": "string", "format": "binary"}}
CONTENT: dict[int | str, dict[str, Any]] = {
    200: {"description": "The file's bytes (JSONL)", "content": {"application/octet-stream": BINARY}}}
UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file", "purpose"],
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": "The JSONL input file, at most `openai_max_file_bytes` (default 200 MiB): "
                                           "413 above"},
                   "purpose": {"type": "string", "enum": list(file_service.UPLOAD_PURPOSES)}},
}}}}}
Limit = Annotated[int | None, Query(ge=1, description="Page size: default `openai_page_default` (20), at most "
                                                      "`openai_page_max` (10000).")]
After = Annotated[str | None, Query(max_length=64, description="The id of the last object of the previous page.")]


def _limit(ctx: AppContext, limit: int | None) -> int:
    settings = ctx.settings.openai
    if limit is not None and limit > settings.page_max:
        raise Invalid(f"Invalid value for 'limit': {limit} is above {settings.page_max}.", field="limit",
                      code="invalid_value", suggestion=f"Ask for at most {settings.page_max} (openai_page_max).")
    return limit or settings.page_default


@router.post("/files", summary="Upload a file (multipart `file` + `purpose=batch`)", response_model=schemas.FileObject,
             responses=errors(413), openapi_extra=UPLOAD_BODY)
async def create_file(request: Request, ctx: CtxDep, org: OrgWide) -> dict[str, Any]:
    most = ctx.settings.openai.max_file_bytes
    receiver = FileReceiver(ctx.blobs, org.id, most, any_type=True)
    fields: dict[str, bytes] = {}
    try:
        await receive_file(request, receiver, fields)
    except TooLarge:
        raise TooLarge(f"The file is larger than the limit of {most} bytes.", field="file",
                       suggestion="Split the requests into several batches, or ask the operator to raise "
                                  "JOBPORT_OPENAI_MAX_FILE_BYTES.") from None
    stats = receiver.stats
    assert stats is not None and receiver.file_id
    try:
        purpose = fields.get("purpose", b"").decode("utf-8", errors="replace").strip()
        found = await run_in_threadpool(file_service.record_upload, ctx, org.id, receiver.uid, receiver.file_id,
                                        purpose, stats.num_bytes, stats.sha256)
    except BaseException:
        receiver.abort()
        raise
    return render.file_object(found)


@router.get("/files", summary="List files, newest first (`order=asc`: oldest first)", response_model=schemas.FileList)
def list_files(ctx: CtxDep, org: OrgWide, limit: Limit = None, after: After = None,
               purpose: Annotated[str | None, Query(max_length=32)] = None,
               order: Literal["asc", "desc"] = "desc") -> dict[str, Any]:
    found, has_more = file_service.list_page(ctx, org.id, purpose, after, _limit(ctx, limit), order)
    return render.page([render.file_object(f) for f in found], has_more)


@router.get("/files/{file_id}", summary="One file", response_model=schemas.FileObject, responses=errors(404))
def retrieve_file(file_id: str, ctx: CtxDep, org: OrgWide) -> dict[str, Any]:
    return render.file_object(file_service.get(ctx, org.id, file_id))


@router.get("/files/{file_id}/content", summary="A file's bytes", response_class=StreamingResponse,
            responses={**CONTENT, **errors(404)})
def file_content(file_id: str, ctx: CtxDep, org: OrgWide) -> StreamingResponse:
    found = file_service.content(ctx, org.id, file_id)
    return StreamingResponse(ctx.blobs.iter_chunks(found.blob_key), media_type="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{found.filename}"', "Content-Length": str(found.num_bytes)})


@router.delete("/files/{file_id}", summary="Delete a file", response_model=schemas.FileDeleted, responses=errors(404))
def delete_file(file_id: str, ctx: CtxDep, org: OrgWide) -> dict[str, Any]:
    return {"id": file_service.delete(ctx, org.id, file_id), "object": "file", "deleted": True}


@router.post("/batches", summary="Create a batch from an uploaded input file", response_model=schemas.Batch,
             responses=errors(404, 409))
def create_batch(body: schemas.BatchCreate, ctx: CtxDep, org: OrgWide,
                 idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    """The input file is validated here: a file that fails validation gives a `failed` batch whose
    `errors.data` lists the lines; otherwise the batch runs as a jobport job."""
    made: list[dict[str, Any]] = []

    def create() -> idempotency.Answer:
        expires = body.output_expires_after.seconds if body.output_expires_after else None
        made.append(render.batch_object(batch_service.create(
            ctx, org.id, body.input_file_id, body.endpoint, body.completion_window, body.metadata, expires,
            body.callback_url)))
        return idempotency.Answer(200, {"batch": made[0]["id"]})

    digest = idempotency.fingerprint(body.model_dump(mode="json"))
    answer = idempotency.run_once(ctx, org.id, "openai.batches", idempotency_key, digest, create)
    return made[0] if made else render.batch_object(batch_service.get(ctx, org.id, answer.body["batch"]))


@router.get("/batches", summary="List batches, newest first", response_model=schemas.BatchList)
def list_batches(ctx: CtxDep, org: OrgWide, limit: Limit = None, after: After = None) -> dict[str, Any]:
    found, has_more = batch_service.list_page(ctx, org.id, after, _limit(ctx, limit))
    return render.page([render.batch_object(b) for b in found], has_more)


@router.get("/batches/{batch_id}", summary="One batch", response_model=schemas.Batch, responses=errors(404))
def retrieve_batch(batch_id: str, ctx: CtxDep, org: OrgWide) -> dict[str, Any]:
    return render.batch_object(batch_service.get(ctx, org.id, batch_id))


@router.post("/batches/{batch_id}/cancel", summary="Cancel a batch in progress (finished lines are kept)",
             response_model=schemas.Batch, responses=errors(404, 409))
def cancel_batch(batch_id: str, ctx: CtxDep, org: OrgWide) -> dict[str, Any]:
    return render.batch_object(batch_service.cancel(ctx, org.id, batch_id))
