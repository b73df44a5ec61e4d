"""Job routes (`/v0.5/batch/jobs...`): create, list, get, cancel, retry, delete, queue depths,
inputs, outputs (signed links), events and progress."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response, status

from jobport.api.archetype import render, schemas, traces
from jobport.api.archetype.paging import Page
from jobport.api.deps import CtxDep, CurrentOrg, OnlyApp, OrgWide, base_url
from jobport.api.errors import surface_route
from jobport.api.openapi import errors
from jobport.domain.statuses import InputStatus, JobStatus, archetype_status
from jobport.services.jobs import control, queries
from jobport.services.jobs.create import JobCreate, create_job

router = APIRouter(prefix="/batch/jobs", tags=["jobs"], route_class=surface_route(render.error_body))

ArchetypeStatus = Literal["PENDING", "ADMITTED", "RUNNING", "COMPLETED", "FAILED", "PREEMPTED", "CANCELLED"]
_ARCHETYPE_TO_INTERNAL = {
    "PENDING": [JobStatus.PENDING, JobStatus.PARKED, JobStatus.SUSPENDED],
    "FAILED": [JobStatus.FAILED, JobStatus.EXPIRED],
}


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a job", response_model=schemas.JobPublic,
             response_model_exclude_unset=True, responses={200: {"model": schemas.JobPublic,
                                                                 "description": "Idempotent replay: the original job"},
                                                           **errors(409)})
def create(
    body: JobCreate, response: Response, ctx: CtxDep, org: OrgWide,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> dict[str, Any]:
    job, created = create_job(ctx, org.id, body, idempotency_key)
    if not created:
        response.status_code = status.HTTP_200_OK
        found = queries.counts_of(ctx, job)
        return render.job_public(found.job, found.counts)
    return render.job_public(job, on_create=True)


@router.get("", summary="List jobs, newest first", response_model=schemas.JobList)
def list_jobs(
    ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp, page: Page,
    pipeline_type: Literal["batch", "training"] | None = None,
    status_: Annotated[ArchetypeStatus | None, Query(alias="status")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in the name or pipeline key, or a job id")] = None,
) -> dict[str, Any]:
    statuses = None
    if status_ is not None:
        statuses = [s.value for s in _ARCHETYPE_TO_INTERNAL.get(status_, [JobStatus(status_)])]
    found = queries.list_jobs(ctx, org.id, pipeline_type=pipeline_type, statuses=statuses, text=q,
                              offset=page.offset, limit=page.limit, app_id=only_app)
    return {"total": found.total, "offset": page.offset, "limit": page.limit,
            "jobs": [render.job_public(j.job, j.counts) for j in found.items]}


@router.get("/queue", summary="Queue depth per pipeline type", response_model=schemas.QueueDepths)
def queue_depths(ctx: CtxDep, org: CurrentOrg) -> dict[str, Any]:
    depths = queries.queue_depths(ctx)
    return {"queues": [{"pipeline_type": t, "depth": depths.get(t, 0)} for t in ("batch", "training")]}


@router.get("/{job_id}", summary="Get a job with its input progress", response_model=schemas.JobPublic,
            responses=errors(404))
def get_job(job_id: str, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp) -> dict[str, Any]:
    found = queries.job_with_counts(ctx, org.id, job_id, only_app)
    return render.job_public(found.job, found.counts)


@router.post("/{job_id}/cancel", summary="Cancel a pending or running job (409 otherwise)",
             response_model=schemas.JobCancelled, responses=errors(404, 409))
def cancel_job(job_id: str, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp) -> dict[str, Any]:
    job = control.cancel_job(ctx, org.id, job_id, only_app)
    return {"id": job.id, "status": job.status, "cancelled_at": render.iso(job.cancelled_at)}


@router.post("/{job_id}/retry", summary="Re-queue a failed or cancelled job (409 otherwise)",
             response_model=schemas.JobRetried, responses=errors(404, 409))
def retry_job(job_id: str, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp) -> dict[str, Any]:
    job = control.retry_job(ctx, org.id, job_id, app_id=only_app)
    return {"id": job.id, "status": archetype_status(job.status), "retry_count": job.retry_count}


@router.delete("/{job_id}", summary="Delete a job with its inputs, outputs, events and progress",
               response_model=schemas.JobDeleted, responses=errors(404))
def delete_job(job_id: str, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp) -> dict[str, Any]:
    return {"id": control.delete_job(ctx, org.id, job_id, only_app), "deleted": True}


@router.get("/{job_id}/inputs", summary="List a job's inputs", response_model=schemas.JobInputList,
            responses=errors(404))
def list_inputs(
    job_id: str, request: Request, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp, page: Page,
    port_name: str | None = None, status_: Annotated[InputStatus | None, Query(alias="status")] = None,
) -> dict[str, Any]:
    found = queries.list_inputs(ctx, org.id, job_id, port_name, status_, page.offset, page.limit, only_app)
    url = base_url(request, ctx)
    return {"total": found.total, "offset": page.offset, "limit": page.limit,
            "inputs": [render.input_public(r, ctx.signer, url) for r in found.items]}


@router.get("/{job_id}/inputs/progress", summary="Tracked inputs with their latest progress entry",
            response_model=schemas.InputsProgress, responses=errors(404))
def inputs_progress(
    job_id: str, request: Request, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp,
    port_name: str | None = None,
    status_: Annotated[list[InputStatus] | None, Query(alias="status")] = None,
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    found = queries.inputs_progress(ctx, org.id, job_id, port_name, status_, order == "desc", limit, only_app)
    url = base_url(request, ctx)
    return {"items": [{
        "input": render.input_public(item.input, ctx.signer, url),
        "latest_progress": render.progress_public(item.latest) if item.latest else None,
        "step": item.latest.step if item.latest else None,
    } for item in found]}


@router.get("/{job_id}/inputs/progress/counts", summary="Tracked input counts by status",
            response_model=schemas.InputCounts, responses=errors(404))
def inputs_progress_counts(job_id: str, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp,
                           port_name: str | None = None) -> dict[str, Any]:
    found = queries.input_counts(ctx, org.id, job_id, port_name, only_app)
    return {"job_id": found.job.id, **found.counts}


@router.get("/{job_id}/outputs", summary="List outputs with signed download links (no auth needed until they expire)",
            response_model=schemas.JobOutputList, responses=errors(404))
def list_outputs(
    job_id: str, request: Request, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp, page: Page,
    port_name: str | None = None, input_id: str | None = None,
) -> dict[str, Any]:
    found = queries.list_outputs(ctx, org.id, job_id, port_name, input_id, page.offset, page.limit, only_app)
    url = base_url(request, ctx)
    return {"total": found.total, "offset": page.offset, "limit": page.limit,
            "outputs": [render.output_public(r.output, r.input_file_id, ctx.signer, url) for r in found.items]}


@router.get("/{job_id}/events", summary="List job events", response_model=schemas.EventList, responses=errors(404))
def list_events(
    job_id: str, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp, page: Page,
    level: Literal["INFO", "WARN", "ERROR", "SUCCESS", "FAILED"] | None = None,
    event_type: str | None = None, input_id: str | None = None,
) -> dict[str, Any]:
    found = queries.list_events(ctx, org.id, job_id, level, event_type, input_id, page.offset, page.limit, only_app)
    return {"total": found.total, "offset": page.offset, "limit": page.limit,
            "events": [render.event_public(r) for r in found.items]}


@router.get("/{job_id}/progress", summary="List job progress entries", response_model=schemas.ProgressList,
            responses=errors(404))
def list_progress(
    job_id: str, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp, page: Page, kind: str | None = None,
    input_id: str | None = None,
) -> dict[str, Any]:
    found = queries.list_progress(ctx, org.id, job_id, kind, input_id, page.offset, page.limit, only_app)
    return {"total": found.total, "offset": page.offset, "limit": page.limit,
            "entries": [render.progress_public(r) for r in found.items]}


router.include_router(traces.router)  # /{job_id}/inputs/progress/traces
