"""Signed part uploads of direct uploads (`PUT /uploads/<upload id>/parts/<n>?expires=&signature=`):
no auth header, the link is the permission, as with the presigned part URLs a cloud store hands
out. `POST /v0.5/files/uploads/initiate` gives the links. The body is the part's raw bytes (exactly
its `length`), streamed into the blob store; the answer's `ETag` header is what `complete` (and
`parts/checkpoint`) take as the part's `part_token`. Errors are answered in the Archetype format."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from starlette.types import Scope

from jobport.api.deps import CtxDep
from jobport.api.errors import surface_route
from jobport.api.openapi import errors
from jobport.api.surfaces import surface_for_path
from jobport.services import uploads as upload_service

PREFIX = upload_service.PART_LINKS_PREFIX
router = APIRouter(tags=["files"], route_class=surface_route(surface_for_path(PREFIX).error_body))
_PART_PATH = re.compile(rf"^{PREFIX}/[^/]+/parts/[^/]+$")
MOST_PARTS = 100_000  # the largest `upload_max_parts` the settings allow


def is_part_upload(scope: Scope) -> bool:
    """Whether a request is a part PUT: its body is a file part, not JSON (no JSON body limit)."""
    return scope.get("method") == "PUT" and bool(_PART_PATH.match(scope.get("path", "")))


class PartReceived(BaseModel):
    """The part was stored; `etag` (also the `ETag` header) is its MD5, the part's `part_token`."""

    upload_id: str
    part_number: int
    num_bytes: int
    etag: str


@router.put(PREFIX + "/{upload_id}/parts/{part_number}", summary="Upload one part of a direct upload (signed link)",
            response_model=PartReceived, responses=errors(403, 404, 409, 413),
            openapi_extra={"requestBody": {"required": True, "content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary",
                           "description": "Exactly the part's `length` bytes from its `offset` in the file."}}}}})
async def put_part(
    upload_id: Annotated[str, Path(max_length=64)],
    part_number: Annotated[int, Path(ge=1, le=MOST_PARTS)],
    request: Request, response: Response, ctx: CtxDep,
    expires: Annotated[int, Query(ge=0, le=2**62, description="Unix time the link stops working (the upload's "
                                                               "expiry).")],
    signature: Annotated[str, Query(max_length=128, description="HMAC-SHA256 of the upload, part and expiry.")],
) -> dict[str, Any]:
    target = await run_in_threadpool(upload_service.part_target, ctx, upload_id, part_number, expires, signature,
                                     request.headers.get("content-length"))
    sink = await run_in_threadpool(upload_service.PartSink, ctx.blobs, target)
    remote = ctx.blobs.local_path(target.blob_key) is None  # S3: writes go over the network, off the loop
    try:
        async for chunk in request.stream():
            if remote:
                await run_in_threadpool(sink.write, chunk)
            else:
                sink.write(chunk)
        etag = await run_in_threadpool(upload_service.finish_part, ctx, sink)
    except BaseException:
        sink.abort()
        raise
    response.headers["ETag"] = f'"{etag}"'
    return {"upload_id": upload_id, "part_number": part_number, "num_bytes": target.length, "etag": etag}
