"""`GET /v0.5/batch/jobs/{id}/inputs/progress/traces`: a job's input progress in time buckets,
with an ETag (`If-None-Match` answers 304 while nothing changed)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, Field

from jobport.api.archetype import render
from jobport.api.deps import CtxDep, CurrentOrg, OnlyApp
from jobport.api.errors import surface_route
from jobport.api.openapi import errors
from jobport.services.jobs import traces as trace_service

router = APIRouter(tags=["jobs"], route_class=surface_route(render.error_body))


class TraceFiles(BaseModel):
    completed: int = Field(description="Tracked inputs completed by `t`.")
    failed: int = Field(description="Tracked inputs failed by `t`.")


class TraceItems(BaseModel):
    success: int = Field(description="Items processed successfully by `t`.")
    failed: int = Field(description="Items that failed by `t`.")


class TracePoint(BaseModel):
    t: str = Field(description="The end of the bucket; the counts are the state at that time.")
    step: str | None = Field(description="The step of the latest progress entry by `t`.")
    files: TraceFiles
    items: dict[str, TraceItems] = Field(description="Per progress kind (e.g. `inference`).")


class InputTraces(BaseModel):
    job_id: str
    bucket_seconds: float = Field(description="Width of a bucket: the span from the job's start to "
                                              "`latest_event_at`, divided by `buckets`.")
    latest_event_at: str | None
    points: list[TracePoint]


@router.get("/{job_id}/inputs/progress/traces", summary="Input progress in time buckets (ETag; 304 if unchanged)",
            response_model=InputTraces, responses=errors(404))
def inputs_progress_traces(
    job_id: str, response: Response, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp,
    buckets: Annotated[int | None, Query(description=f"Number of buckets, clamped to {trace_service.BUCKETS_MIN}.."
                                                     f"{trace_service.BUCKETS_MAX} (default "
                                                     f"{trace_service.BUCKETS_DEFAULT}).")] = None,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match", max_length=2000)] = None,
) -> Any:
    """Answers 304 Not Modified, without a body, when `If-None-Match` holds the traces' ETag."""
    found = trace_service.input_traces(ctx, org.id, job_id, buckets, if_none_match, only_app)
    if found.body is None:
        return Response(status_code=304, headers={"ETag": found.etag})
    response.headers["ETag"] = found.etag
    return found.body
