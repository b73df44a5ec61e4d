"""Signed blob downloads (`GET /blobs/<key>?filename=&expires=&signature=`): no auth header."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from jobport.api.deps import CtxDep
from jobport.domain.errors import DomainError, NotFound


class LinkRefused(DomainError):
    status_code = 403
    default_code = "invalid_signature"


router = APIRouter(tags=["downloads"])


@router.get("/blobs/{key:path}", summary="Download through a signed link")
def download_blob(
    key: str, ctx: CtxDep, filename: str, expires: int, signature: Annotated[str, Query(max_length=128)]
) -> StreamingResponse:
    if not ctx.signer.verify(key, filename, expires, signature):
        raise LinkRefused("download link is invalid or has expired",
                          suggestion="List the outputs again to get a fresh link (links last 1 hour).")
    if not ctx.blobs.exists(key):
        raise NotFound("the file behind this link no longer exists", suggestion="The job may have been deleted.")
    media = "text/csv" if filename.endswith(".csv") else "application/octet-stream"
    return StreamingResponse(
        ctx.blobs.iter_chunks(key), media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Content-Length": str(ctx.blobs.size(key))},
    )
