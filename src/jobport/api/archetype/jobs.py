"""Job routes (`/v0.5/batch/jobs...`): create, list, get, cancel, retry, delete, queue depths,
inputs, outputs (signed links), events and progress."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response, status

from jobport.api.archetype import render
from jobport.api.archetype.paging import Page
from jobport.api.deps import CtxDep, CurrentOrg, base_url
from jobport.domain.statuses import InputStatus, JobStatus, archetype_status
from jobport.services import jobs as job_service
from jobport.services.jobs import JobCreate
from jobport.store import jobs as job_store

router = APIRouter(prefix="/batch/jobs", tags=["jobs"])

ArchetypeStatus = Literal["PENDING", "ADMITTED", "RUNNING", "COMPLETED", "FAILED", "PREEMPTED", "CANCELLED"]
_ARCHETYPE_TO_INTERNAL = {
    "PENDING": [JobStatus.PENDING, JobStatus.PARKED, JobStatus.SUSPENDED],
    "FAILED": [JobStatus.FAILED, JobStatus.EXPIRED],
}


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a job")
def create_job(
    body: JobCreate, response: Response, ctx: CtxDep, org: CurrentOrg,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> dict:
    job, created = job_service.create_job(ctx, org.id, body, idempotency_key)
    if not created:
        response.status_code = status.HTTP_200_OK
        return _job_with_counts(ctx, job)
    return render.job_public(job, on_create=True)


def _job_with_counts(ctx, job) -> dict:
    with ctx.sessions() as session:
        counts = job_store.input_counts(session, [job.id])[job.id]
    return render.job_public(job, counts)


@router.get("", summary="List jobs, newest first")
def list_jobs(
    ctx: CtxDep, org: CurrentOrg, page: Page,
    pipeline_type: Literal["batch", "training"] | None = None,
    status_: Annotated[ArchetypeStatus | None, Query(alias="status")] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> dict:
    statuses = None
    if status_ is not None:
        statuses = [s.value for s in _ARCHETYPE_TO_INTERNAL.get(status_, [JobStatus(status_)])]
    with ctx.sessions() as session:
        rows, total = job_store.list_jobs(session, org.id, pipeline_type=pipeline_type, statuses=statuses, text=q,
                                          offset=page.offset, limit=page.limit)
        counts = job_store.input_counts(session, [r.id for r in rows])
    return {"total": total, "offset": page.offset, "limit": page.limit,
            "jobs": [render.job_public(r, counts[r.id]) for r in rows]}


@router.get("/queue", summary="Queue depth per pipeline type")
def queue_depths(ctx: CtxDep, org: CurrentOrg) -> dict:
    with ctx.sessions() as session:
        depths = job_store.queue_depths(session)
    return {"queues": [{"pipeline_type": t, "depth": depths.get(t, 0)} for t in ("batch", "training")]}


@router.get("/{job_id}", summary="Get a job with its input progress")
def get_job(job_id: str, ctx: CtxDep, org: CurrentOrg) -> dict:
    return _job_with_counts(ctx, job_service.get_job(ctx, org.id, job_id))


@router.post("/{job_id}/cancel", summary="Cancel a pending or running job (409 otherwise)")
def cancel_job(job_id: str, ctx: CtxDep, org: CurrentOrg) -> dict:
    job = job_service.cancel_job(ctx, org.id, job_id)
    return {"id": job.id, "status": job.status, "cancelled_at": render.iso(job.cancelled_at)}


@router.post("/{job_id}/retry", summary="Re-queue a failed or cancelled job (409 otherwise)")
def retry_job(job_id: str, ctx: CtxDep, org: CurrentOrg) -> dict:
    job = job_service.retry_job(ctx, org.id, job_id)
    return {"id": job.id, "status": archetype_status(job.status), "retry_count": job.retry_count}


@router.delete("/{job_id}", summary="Delete a job with its inputs, outputs, events and progress")
def delete_job(job_id: str, ctx: CtxDep, org: CurrentOrg) -> dict:
    return {"id": job_service.delete_job(ctx, org.id, job_id), "deleted": True}


@router.get("/{job_id}/inputs", summary="List a job's inputs")
def list_inputs(
    job_id: str, request: Request, ctx: CtxDep, org: CurrentOrg, page: Page,
    port_name: str | None = None, status_: Annotated[InputStatus | None, Query(alias="status")] = None,
) -> dict:
    job = job_service.get_job(ctx, org.id, job_id)
    with ctx.sessions() as session:
        rows, total = job_store.list_inputs(session, job.id, port_name, [status_.value] if status_ else None,
                                            page.offset, page.limit)
    url = base_url(request, ctx)
    return {"total": total, "offset": page.offset, "limit": page.limit,
            "inputs": [render.input_public(r, ctx.signer, url) for r in rows]}


@router.get("/{job_id}/inputs/progress", summary="Tracked inputs with their latest progress entry")
def inputs_progress(
    job_id: str, request: Request, ctx: CtxDep, org: CurrentOrg,
    port_name: str | None = None,
    status_: Annotated[list[InputStatus] | None, Query(alias="status")] = None,
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict:
    job = job_service.get_job(ctx, org.id, job_id)
    statuses = [s.value for s in status_] if status_ else [s.value for s in InputStatus if s != InputStatus.REFERENCE]
    with ctx.sessions() as session:
        rows, _ = job_store.list_inputs(session, job.id, port_name, statuses, 0, 1_000_000)
        rows = [r for r in rows if r.tracked]
        rows = list(reversed(rows)) if order == "desc" else rows
        rows = rows[:limit]
        latest = job_store.latest_progress(session, [r.id for r in rows])
    url = base_url(request, ctx)
    items = []
    for row in rows:
        entry = latest.get(row.id)
        items.append({
            "input": render.input_public(row, ctx.signer, url),
            "latest_progress": render.progress_public(entry) if entry else None,
            "step": entry.step if entry else None,
        })
    return {"items": items}


@router.get("/{job_id}/inputs/progress/counts", summary="Tracked input counts by status")
def inputs_progress_counts(job_id: str, ctx: CtxDep, org: CurrentOrg, port_name: str | None = None) -> dict:
    job = job_service.get_job(ctx, org.id, job_id)
    with ctx.sessions() as session:
        counts = job_store.input_counts(session, [job.id], port_name)[job.id]
    return {"job_id": job.id, **counts}


@router.get("/{job_id}/outputs", summary="List outputs with signed download links (valid 1 h, no auth needed)")
def list_outputs(
    job_id: str, request: Request, ctx: CtxDep, org: CurrentOrg, page: Page,
    port_name: str | None = None, input_id: str | None = None,
) -> dict:
    job = job_service.get_job(ctx, org.id, job_id)
    with ctx.sessions() as session:
        rows, total = job_store.list_outputs(session, job.id, port_name, input_id, page.offset, page.limit)
        input_files = job_store.input_file_ids(session, [r.input_id for r in rows if r.input_id])
    url = base_url(request, ctx)
    return {"total": total, "offset": page.offset, "limit": page.limit,
            "outputs": [render.output_public(r, input_files.get(r.input_id), ctx.signer, url) for r in rows]}


@router.get("/{job_id}/events", summary="List job events")
def list_events(
    job_id: str, ctx: CtxDep, org: CurrentOrg, page: Page,
    level: Literal["INFO", "WARN", "ERROR", "SUCCESS", "FAILED"] | None = None,
    event_type: str | None = None, input_id: str | None = None,
) -> dict:
    job = job_service.get_job(ctx, org.id, job_id)
    with ctx.sessions() as session:
        rows, total = job_store.list_events(session, job.id, level, event_type, input_id, page.offset, page.limit)
    return {"total": total, "offset": page.offset, "limit": page.limit, "events": [render.event_public(r) for r in rows]}


@router.get("/{job_id}/progress", summary="List job progress entries")
def list_progress(
    job_id: str, ctx: CtxDep, org: CurrentOrg, page: Page, kind: str | None = None, input_id: str | None = None,
) -> dict:
    job = job_service.get_job(ctx, org.id, job_id)
    with ctx.sessions() as session:
        rows, total = job_store.list_progress(session, job.id, kind, input_id, page.offset, page.limit)
    return {"total": total, "offset": page.offset, "limit": page.limit, "entries": [render.progress_public(r) for r in rows]}
