"""A job's error report (`GET /v0.5/batch/jobs/{id}/errors`): every failed input with the id the
caller knows it by, its error code and message; JSON Lines, or CSV when `Accept` asks for text/csv."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from jobport.api.archetype import render
from jobport.api.deps import CtxDep, CurrentOrg, OnlyApp
from jobport.api.errors import surface_route
from jobport.api.openapi import errors
from jobport.services.jobs import error_report

router = APIRouter(prefix="/batch/jobs", tags=["jobs"], route_class=surface_route(render.error_body))

_BINARY = {"schema": {"type": "string", "format": "binary"}}  # a download, like every file route
_CONTENT = {"application/x-ndjson": _BINARY, "text/csv": _BINARY}


@router.get("/{job_id}/errors", summary="The job's failed inputs: caller-side id, error code and message",
            description="One line per failed input (JSON Lines; CSV with a header row when `Accept: text/csv`). "
                        f"Columns: {', '.join(error_report.COLUMNS)}. An empty body: nothing failed.",
            response_class=StreamingResponse, responses={200: {"content": _CONTENT}, **errors(404)})
def job_errors(job_id: str, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp,
               accept: Annotated[str | None, Header()] = None) -> StreamingResponse:
    rows = error_report.error_rows(ctx, org.id, job_id, only_app)
    if accept and "text/csv" in accept:
        return StreamingResponse(error_report.as_csv(rows), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{job_id}-errors.csv"'})
    return StreamingResponse(error_report.as_jsonl(rows), media_type="application/x-ndjson")
