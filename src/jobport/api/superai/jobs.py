"""super.AI routes (`/v1`), as the official `superai` SDK calls them. Apps are addressed by UUID,
jobs by numeric id or uuid; errors are `{"message": ...}`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobport.api.deps import CtxDep, CurrentOrg, base_url
from jobport.api.errors import surface_route
from jobport.api.superai import render
from jobport.callbacks.urls import guard_for, validate_callback_url
from jobport.domain.errors import Invalid, NotFound, TooLarge
from jobport.outbound import UrlGuard
from jobport.outbound.fetch import FetchError, fetch_limited
from jobport.services import app_job_ops
from jobport.services.context import AppContext
from jobport.services.jobs import control, records
from jobport.store import apps as app_store
from jobport.store.tables import App, Org

SURFACE = "superai"
router = APIRouter(tags=["super.AI"], route_class=surface_route(render.error_body))


class CreateJobsIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    callbackUrl: str | None = Field(None, max_length=2048)
    inputs: Any = None
    inputsFileUrl: str | None = Field(None, max_length=2048)
    metadata: dict[str, Any] | None = None
    tags: list[str] = Field(default_factory=list, max_length=100)
    pending: bool | None = None
    addToQueue: bool | None = None
    jobType: str = "DEFAULT"
    labeler: str | None = None


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    response: Any = None
    correct: bool | None = None


class TagsIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    tags: list[str] = Field(min_length=1, max_length=100)


def _app(ctx: AppContext, org: Org, app_id: str) -> App:
    with ctx.sessions() as session:
        app = app_store.get(session, org.id, app_id)
    if app is None:
        raise NotFound(f"app {app_id} not found", field="app_id", suggestion="Use the app's UUID (GET /v0.5/apps).")
    return app


def _inputs_from(ctx: AppContext, body: CreateJobsIn) -> list[dict[str, Any]]:
    if (body.inputs is None) == (body.inputsFileUrl is None):
        raise Invalid("give either `inputs` or `inputsFileUrl`" if body.inputs is None else
                      "give only one of `inputs` and `inputsFileUrl`", field="inputs",
                      suggestion="Send the input objects inline, or the URL of a JSON file holding that array.")
    limit = ctx.settings.superai_inputs_max_bytes
    if body.inputsFileUrl is not None:
        guard = UrlGuard(allow_private=ctx.settings.fetch_allow_private_networks)
        try:
            fetched = fetch_limited(body.inputsFileUrl, max_bytes=limit, guard=guard,
                                    timeout=ctx.settings.fetch_timeout_seconds)
        except FetchError as err:
            if err.kind == "too_large":
                raise TooLarge(f"inputsFileUrl: {err.message}", field="inputsFileUrl") from None
            raise Invalid(f"inputsFileUrl: {err.message}", field="inputsFileUrl", code=f"fetch_{err.kind}") from None
        try:
            inputs = orjson.loads(fetched.content)
        except orjson.JSONDecodeError as err:
            raise Invalid(f"inputsFileUrl: the file is not JSON ({err})", field="inputsFileUrl",
                          suggestion="Serve a JSON array of input objects.") from None
        field = "inputsFileUrl"
    else:
        inputs, field = body.inputs, "inputs"
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, dict) for i in inputs):
        raise Invalid(f"{field}: expected a non-empty array of objects", field=field,
                      suggestion='e.g. "inputs": [{"image_url": "https://..."}]')
    if len(inputs) > ctx.settings.superai_max_jobs_per_request:
        raise Invalid(f"{field}: {len(inputs)} inputs is more than {ctx.settings.superai_max_jobs_per_request} per "
                      "request", field=field, suggestion="Split them over several requests.")
    return inputs


@router.post("/apps/{app_id}/jobs", summary="Create jobs (one request = one batch)")
async def create_jobs(app_id: str, request: Request, ctx: CtxDep, org: CurrentOrg) -> dict:
    raw = await request.body()
    if len(raw) > ctx.settings.superai_inputs_max_bytes:
        raise TooLarge(f"request body is larger than {ctx.settings.superai_inputs_max_bytes} bytes", field="inputs",
                       suggestion="Send at most 4 MB of inputs per request, or use inputsFileUrl.")
    try:
        body = CreateJobsIn.model_validate(orjson.loads(raw or b"null"))
    except orjson.JSONDecodeError:
        raise Invalid("request body is not valid JSON", field="body") from None
    except ValidationError as err:
        first = err.errors()[0]
        raise Invalid(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}",
                      field=str(first["loc"][0]) if first["loc"] else "body") from None
    app = _app(ctx, org, app_id)
    if body.jobType.upper() not in app_job_ops.JOB_TYPES:
        raise Invalid(f"jobType: {body.jobType!r} is not one of {', '.join(app_job_ops.JOB_TYPES)}", field="jobType")
    if body.callbackUrl:
        await run_in_threadpool(validate_callback_url, body.callbackUrl, guard_for(ctx.settings), field="callbackUrl")
    inputs = await run_in_threadpool(_inputs_from, ctx, body)
    parked = bool(body.pending) or body.addToQueue is False
    batch_id, uuids = await run_in_threadpool(records.create_record_jobs, ctx, records.RecordJobsRequest(
        org_id=org.id, app=app, inputs=inputs, surface=SURFACE, callback_url=body.callbackUrl,
        metadata=body.metadata, tags=tuple(body.tags), parked=parked, job_type=body.jobType.upper()))
    answer: dict[str, Any] = {"message": "Jobs submitted", "batchId": batch_id, "jobCount": len(uuids)}
    if len(uuids) == 1:
        answer["uuid"] = uuids[0]
    return answer


@router.post("/apps/{app_id}/jobs/queue", summary="Queue parked jobs (all, or `jobIds`)")
async def queue_jobs(app_id: str, request: Request, ctx: CtxDep, org: CurrentOrg) -> dict:
    raw = await request.body()
    ids = None
    if raw.strip():
        value = orjson.loads(raw)
        ids = [str(i) for i in value.get("jobIds", [])] if isinstance(value, dict) and "jobIds" in value else None
    moved = await run_in_threadpool(control.queue_parked, ctx, org.id, _app(ctx, org, app_id).id, ids)
    return {"message": f"{moved} jobs queued", "queued": moved}


def _date(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{name}: {value!r} is not a date", field=name, suggestion="Use the format 2024-01-31T00:00:00Z.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _filters(createdStartDate=None, createdEndDate=None, completedStartDate=None, completedEndDate=None,
             statusIn=None, tags=None, correct=None, batchId=None, idSearch=None) -> app_job_ops.JobFilter:
    statuses: list[str] = []
    for item in statusIn or []:
        statuses += [s for s in item.split(",") if s.strip()]
    return app_job_ops.JobFilter(
        created_start=_date(createdStartDate, "createdStartDate"), created_end=_date(createdEndDate, "createdEndDate"),
        completed_start=_date(completedStartDate, "completedStartDate"),
        completed_end=_date(completedEndDate, "completedEndDate"), status_in=tuple(statuses), tags=tuple(tags or []),
        correct=correct, batch_id=batchId, id_search=idSearch)


@router.get("/apps/{app_id}/jobs", summary="List jobs (without responses)")
def list_jobs(app_id: str, ctx: CtxDep, org: CurrentOrg,
              page: Annotated[int, Query(ge=0)] = 0, size: Annotated[int | None, Query(ge=1)] = None,
              sortBy: str = "id", orderBy: str = "asc",
              createdStartDate: str | None = None, createdEndDate: str | None = None,
              completedStartDate: str | None = None, completedEndDate: str | None = None,
              statusIn: Annotated[list[str] | None, Query()] = None, tags: Annotated[list[str] | None, Query()] = None,
              correct: bool | None = None) -> dict:
    size = size or ctx.settings.superai_page_default
    if size > ctx.settings.superai_page_max:
        raise Invalid(f"size: at most {ctx.settings.superai_page_max} jobs per page", field="size",
                      suggestion="Ask for a smaller page and walk the pages.")
    app = _app(ctx, org, app_id)
    f = _filters(createdStartDate, createdEndDate, completedStartDate, completedEndDate, statusIn, tags, correct)
    jobs, lines, total = app_job_ops.list_jobs(ctx, org.id, app.id, SURFACE, f, page, size, sortBy, orderBy)
    return {"jobs": [render.job_public(j, lines.get(j.id)) for j in jobs], "total": total, "pageSize": size,
            "pageNumber": page, "pages": -(-total // size)}


@router.get("/jobs/{job_id}", summary="One job (numeric id or uuid)")
def get_job(job_id: str, ctx: CtxDep, org: CurrentOrg) -> dict:
    job = app_job_ops.find_job(ctx, org.id, job_id, SURFACE)
    return render.job_public(job, app_job_ops.input_line(ctx, job))


@router.get("/jobs/{job_id}/response", summary="The job's output")
def get_response(job_id: str, ctx: CtxDep, org: CurrentOrg) -> dict:
    job = app_job_ops.find_job(ctx, org.id, job_id, SURFACE)
    body: dict[str, Any] = {"id": str(job.seq), "uuid": job.uuid, "status": render.status_of(job),
                            "response": app_job_ops.job_response(ctx, job)}
    if job.error:
        body["error"] = job.error
    return body


@router.post("/jobs/{job_id}/cancel", summary="Cancel (SCHEDULED, IN_PROGRESS or SUSPENDED jobs)")
async def cancel_job(job_id: str, ctx: CtxDep, org: CurrentOrg) -> dict:
    job = await run_in_threadpool(app_job_ops.find_job, ctx, org.id, job_id, SURFACE)
    job = await run_in_threadpool(app_job_ops.cancel, ctx, job)
    return get_job(str(job.seq), ctx, org)


@router.post("/jobs/{job_id}/restart", summary="Restart a FAILED, CANCELED or EXPIRED job")
async def restart_job(job_id: str, ctx: CtxDep, org: CurrentOrg) -> dict:
    job = await run_in_threadpool(app_job_ops.find_job, ctx, org.id, job_id, SURFACE)
    job = await run_in_threadpool(app_job_ops.restart, ctx, job)
    return get_job(str(job.seq), ctx, org)


@router.patch("/jobs/{job_id}/review", summary="Edit the output and/or mark it correct")
async def review_job(job_id: str, body: ReviewIn, ctx: CtxDep, org: CurrentOrg) -> dict:
    job = await run_in_threadpool(app_job_ops.find_job, ctx, org.id, job_id, SURFACE)
    job = await run_in_threadpool(app_job_ops.review, ctx, job, body.response, body.correct,
                                   render.job_callback)
    return {"message": "Job reviewed", "id": str(job.seq), "status": render.status_of(job), "correct": job.correct}


@router.get("/apps/{app_id}/batches", summary="Batches whose jobs are not all processed")
def list_batches(app_id: str, ctx: CtxDep, org: CurrentOrg, all: bool = False) -> dict:
    app = _app(ctx, org, app_id)
    rows = app_job_ops.batches(ctx, org.id, app.id, unprocessed_only=not all)
    return {"batches": [render.batch_public(b, None, counts) for b, counts in rows]}


@router.get("/apps/{app_id}/batches/{batch_id}", summary="One batch with its job ids")
def get_batch(app_id: str, batch_id: str, ctx: CtxDep, org: CurrentOrg) -> dict:
    app = _app(ctx, org, app_id)
    row, jobs, counts = app_job_ops.batch(ctx, org.id, app.id, batch_id)
    return render.batch_public(row, jobs, counts)


@router.put("/apps/{app_id}/jobs/tags", summary="Add tags to the jobs named by the query")
def add_tags(app_id: str, body: TagsIn, ctx: CtxDep, org: CurrentOrg, idSearch: str | None = None,
             batchId: str | None = None, createdStartDate: str | None = None) -> dict:
    app = _app(ctx, org, app_id)
    f = _filters(createdStartDate=createdStartDate, batchId=batchId, idSearch=idSearch)
    updated = app_job_ops.change_tags(ctx, org.id, app.id, SURFACE, f, body.tags, add=True, callback_body=render.job_callback)
    return {"message": "Tags added", "updated": updated}


@router.delete("/apps/{app_id}/jobs/tags", summary="Remove tags from the jobs named by the query")
def remove_tags(app_id: str, body: TagsIn, ctx: CtxDep, org: CurrentOrg, idSearch: str | None = None,
                batchId: str | None = None, createdStartDate: str | None = None) -> dict:
    app = _app(ctx, org, app_id)
    f = _filters(createdStartDate=createdStartDate, batchId=batchId, idSearch=idSearch)
    updated = app_job_ops.change_tags(ctx, org.id, app.id, SURFACE, f, body.tags, add=False, callback_body=render.job_callback)
    return {"message": "Tags removed", "updated": updated}


@router.post("/apps/{app_id}/job_responses", summary="Export jobs with responses (an operation)")
async def export_jobs(app_id: str, ctx: CtxDep, org: CurrentOrg,
                      createdStartDate: str | None = None, createdEndDate: str | None = None,
                      completedStartDate: str | None = None, completedEndDate: str | None = None,
                      statusIn: Annotated[list[str] | None, Query()] = None, batchId: str | None = None,
                      idSearch: str | None = None, sendEmail: bool | None = None, withHistory: bool | None = None) -> dict:
    app = _app(ctx, org, app_id)
    f = _filters(createdStartDate, createdEndDate, completedStartDate, completedEndDate, statusIn,
                 batchId=batchId, idSearch=idSearch)
    op = await run_in_threadpool(app_job_ops.export_responses, ctx, org.id, app.id, SURFACE, f, render.job_public)
    return {"operationId": op.id}


@router.get("/operations/{app_id}/{operation_id}", summary="An export operation's status")
def get_operation(app_id: str, operation_id: int, ctx: CtxDep, org: CurrentOrg) -> dict:
    op = app_job_ops.operation(ctx, org.id, _app(ctx, org, app_id).id, operation_id)
    return {"id": op.id, "status": op.status, "kind": op.kind, "jobCount": op.job_count, "error": op.error,
            "created": render.iso(op.created_at), "completed": render.iso(op.completed_at)}


@router.post("/operations/{app_id}/{operation_id}/download-url", summary="A signed link to the export's zip")
def download_url(app_id: str, operation_id: int, request: Request, ctx: CtxDep, org: CurrentOrg,
                 secondsTtl: Annotated[int, Query(ge=1)] = 60) -> dict:
    op = app_job_ops.operation(ctx, org.id, _app(ctx, org, app_id).id, operation_id)
    if op.status != "COMPLETED" or not op.blob_key:
        raise Invalid(f"operation {operation_id} is {op.status}; a download URL exists once it is COMPLETED",
                      field="operation_id", code="invalid_state")
    ttl = min(secondsTtl, ctx.settings.signed_url_ttl_seconds)
    url, expires = ctx.signer.sign(base_url(request, ctx), op.blob_key, f"jobs_{operation_id}.zip", ttl=ttl)
    return {"downloadUrl": url, "expires": expires}
