"""Signed blob downloads (`GET /blobs/<key>?filename=&expires=&signature=`): no auth header. The
links come from every surface (Archetype outputs, Gravity result links); errors are answered in the
format of paths outside every surface (Archetype's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from jobport.api.deps import CtxDep
from jobport.api.errors import surface_route
from jobport.api.openapi import errors
from jobport.api.surfaces import surface_for_path
from jobport.services import files as file_service

PREFIX = "/blobs"
router = APIRouter(tags=["downloads"], route_class=surface_route(surface_for_path(PREFIX).error_body))

BINARY = {"schema": {"type": "string", "format": "binary"}}
BLOB_CONTENT = {200: {"description": "The blob's bytes: text/csv for a .csv filename, application/octet-stream else",
                      "content": {"text/csv": BINARY, "application/octet-stream": BINARY}}}


@router.get(PREFIX + "/{key:path}", summary="Download through a signed link", response_class=StreamingResponse,
            responses={**BLOB_CONTENT, **errors(403, 404)})
def download_blob(
    key: str, ctx: CtxDep,
    filename: Annotated[str, Query(description="The name to save the file as (signed with the link).")],
    expires: Annotated[int, Query(description="Unix time the link stops working: it was signed for setting "
                                              "`signed_url_ttl_seconds` (default 3600) from when it was listed.")],
    signature: Annotated[str, Query(max_length=128, description="HMAC-SHA256 of key, filename and expires.")],
) -> StreamingResponse:
    found = file_service.signed_download(ctx, key, filename, expires, signature)
    return StreamingResponse(found.chunks, media_type=found.media_type, headers={
        "Content-Disposition": f'attachment; filename="{found.filename}"', "Content-Length": str(found.num_bytes)})
