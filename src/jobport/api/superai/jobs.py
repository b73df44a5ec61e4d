"""super.AI routes (`/v1`), as the official `superai` SDK calls them. Apps are addressed by UUID,
jobs by numeric id or uuid; errors are `{"message": ...}`. Each route parses the wire, calls the
services (`records` for create, `app_job_ops` for the rest) and renders the answer (`render`, shaped
by the models in `schemas`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ValidationError

from jobport.api.deps import CtxDep, CurrentOrg, OnlyApp, base_url
from jobport.api.errors import surface_route
from jobport.api.idempotency import IdempotencyKey
from jobport.api.openapi import errors
from jobport.api.params import NumericId, PageIndex, PageSize, Seconds, page_offset
from jobport.api.superai import render, schemas
from jobport.config import Settings
from jobport.domain.errors import Invalid
from jobport.services import app_job_ops, idempotency
from jobport.services.context import AppContext
from jobport.services.jobs import records

SURFACE = "superai"
router = APIRouter(tags=["super.AI"], route_class=surface_route(render.error_body))

StatusQuery = Annotated[list[str] | None, Query(description="Statuses, repeated or comma-separated.")]
DateQuery = Annotated[str | None, Query(description="ISO 8601, e.g. 2024-01-31T00:00:00Z (UTC if no zone).")]


def _setting(name: str) -> str:
    """How a description names a limit: the setting and its default."""
    return f"`{name}` (default {Settings.default_of(name)})"


def _json_body(model: type[BaseModel], required: bool) -> dict[str, Any]:
    """`openapi_extra` documenting a body the route reads itself (to answer in the surface's words)."""
    return {"requestBody": {"required": required, "content": {"application/json": {
        "schema": model.model_json_schema()}}}}


def _invalid(err: ValidationError) -> Invalid:
    first = err.errors()[0]
    return Invalid(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}",
                   field=str(first["loc"][0]) if first["loc"] else "body")


def _json_of(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Invalid("request body is not valid JSON", field="body") from None


def _create_body(raw: bytes) -> schemas.CreateJobsIn:
    try:
        return schemas.CreateJobsIn.model_validate(_json_of(raw or b"null"))
    except ValidationError as err:
        raise _invalid(err) from None


def _queue_refs(raw: bytes) -> list[str] | None:
    """The jobs a queue request names (numeric ids or uuids); None (all parked jobs) when the body
    is empty, not an object, or has no `jobIds`."""
    value = _json_of(raw) if raw.strip() else None
    if not isinstance(value, dict):
        return None
    try:
        job_ids = schemas.SuperAIQueueIn.model_validate(value).jobIds
    except ValidationError as err:
        raise _invalid(err) from None
    return None if job_ids is None else [str(i) for i in job_ids]


def _date(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{name}: {value!r} is not a date", field=name,
                      suggestion="Use the format 2024-01-31T00:00:00Z.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _filters(createdStartDate: str | None = None, createdEndDate: str | None = None,
             completedStartDate: str | None = None, completedEndDate: str | None = None,
             statusIn: list[str] | None = None, tags: list[str] | None = None, correct: bool | None = None,
             batchId: str | None = None, idSearch: str | None = None) -> app_job_ops.JobFilter:
    statuses: list[str] = []
    for item in statusIn or []:
        statuses += [s for s in item.split(",") if s.strip()]
    return app_job_ops.JobFilter(
        created_start=_date(createdStartDate, "createdStartDate"), created_end=_date(createdEndDate, "createdEndDate"),
        completed_start=_date(completedStartDate, "completedStartDate"),
        completed_end=_date(completedEndDate, "completedEndDate"), status_in=tuple(statuses), tags=tuple(tags or []),
        correct=correct, batch_id=batchId, id_search=idSearch)


def _job_body(ctx: AppContext, job: Any) -> dict[str, Any]:
    return render.job_public(job, app_job_ops.input_line(ctx, job))


@router.post("/apps/{app_id}/jobs", summary="Create jobs (one request = one batch)",
             description=f"One job per input object. The body is at most {_setting('superai_inputs_max_bytes')} "
                         f"bytes (413 above), and so is the file at `inputsFileUrl`; at most "
                         f"{_setting('superai_max_jobs_per_request')} inputs per request. `uuid` is answered only "
                         "when one job was made.",
             response_model=schemas.SuperAIJobsCreated, response_model_exclude_unset=True,
             responses=errors(404, 413), openapi_extra=_json_body(schemas.CreateJobsIn, required=True))
async def create_jobs(app_id: str, request: Request, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp,
                      idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
    raw = await request.body()
    records.check_request_size(ctx, len(raw))
    body = _create_body(raw)

    async def create() -> idempotency.Answer:
        batch_id, uuids = await records.submit_records_off_pool(ctx, records.RecordSubmission(
            org_id=org.id, app_ref=app_id, surface=SURFACE, inputs=body.inputs, inputs_file_url=body.inputsFileUrl,
            callback_url=body.callbackUrl, metadata=body.metadata, tags=tuple(body.tags), pending=body.pending,
            add_to_queue=body.addToQueue, job_type=body.jobType, only_app=only_app))
        return idempotency.Answer(200, render.jobs_created(batch_id, uuids))

    answer = await idempotency.run_once_async(ctx, org.id, "superai.jobs", idempotency_key,
                                              idempotency.fingerprint(app_id, body.model_dump(mode="json")), create)
    return answer.body  # type: ignore[no-any-return]


@router.post("/apps/{app_id}/jobs/queue", summary="Queue parked jobs (all, or `jobIds`)",
             response_model=schemas.SuperAIJobsQueued, responses=errors(404),
             openapi_extra=_json_body(schemas.SuperAIQueueIn, required=False))
async def queue_jobs(app_id: str, request: Request, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp) -> dict[str, Any]:
    refs = _queue_refs(await request.body())
    moved = await run_in_threadpool(app_job_ops.queue_parked, ctx, org.id, app_id, refs, only_app)
    return {"message": f"{moved} jobs queued", "queued": moved}


@router.get("/apps/{app_id}/jobs", summary="List jobs (without responses)",
            description=f"`size` defaults to {_setting('superai_page_default')}, at most "
                        f"{_setting('superai_page_max')}; a larger one is a 400.",
            response_model=schemas.SuperAIJobList, responses=errors(404))
def list_jobs(app_id: str, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp,
              page: PageIndex = 0, size: PageSize = None,
              sortBy: str = "id", orderBy: str = "asc",
              createdStartDate: DateQuery = None, createdEndDate: DateQuery = None,
              completedStartDate: DateQuery = None, completedEndDate: DateQuery = None,
              statusIn: StatusQuery = None, tags: Annotated[list[str] | None, Query()] = None,
              correct: bool | None = None) -> dict[str, Any]:
    size = app_job_ops.page_size(ctx, size)
    page_offset(page, size)
    app = app_job_ops.app_of(ctx, org.id, app_id, only_app)
    f = _filters(createdStartDate, createdEndDate, completedStartDate, completedEndDate, statusIn, tags, correct)
    jobs, lines, total = app_job_ops.list_jobs(ctx, org.id, app.id, SURFACE, f, page, size, sortBy, orderBy)
    return render.job_list(jobs, lines, total, page, size)


@router.get("/jobs/{job_id}", summary="One job (numeric id or uuid)", response_model=schemas.SuperAIJob,
            responses=errors(404))
def get_job(job_id: str, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp) -> dict[str, Any]:
    return _job_body(ctx, app_job_ops.find_job(ctx, org.id, job_id, SURFACE, only_app))


@router.get("/jobs/{job_id}/response", summary="The job's output", response_model=schemas.SuperAIJobResponse,
            response_model_exclude_unset=True, responses=errors(404))
def get_response(job_id: str, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp) -> dict[str, Any]:
    job = app_job_ops.find_job(ctx, org.id, job_id, SURFACE, only_app)
    return render.job_response(job, app_job_ops.job_response(ctx, job))


@router.post("/jobs/{job_id}/cancel", summary="Cancel (SCHEDULED, IN_PROGRESS or SUSPENDED jobs)",
             response_model=schemas.SuperAIJob, responses=errors(404, 409))
def cancel_job(job_id: str, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp) -> dict[str, Any]:
    job = app_job_ops.cancel(ctx, app_job_ops.find_job(ctx, org.id, job_id, SURFACE, only_app))
    return _job_body(ctx, job)


@router.post("/jobs/{job_id}/restart", summary="Restart a FAILED, CANCELED or EXPIRED job",
             response_model=schemas.SuperAIJob, responses=errors(404, 409))
def restart_job(job_id: str, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp) -> dict[str, Any]:
    job = app_job_ops.restart(ctx, app_job_ops.find_job(ctx, org.id, job_id, SURFACE, only_app))
    return _job_body(ctx, job)


@router.patch("/jobs/{job_id}/review", summary="Edit the output and/or mark it correct",
              response_model=schemas.SuperAIReviewed, responses=errors(404))
def review_job(job_id: str, body: schemas.SuperAIReviewIn, ctx: CtxDep, org: CurrentOrg,
               only_app: OnlyApp) -> dict[str, Any]:
    job = app_job_ops.find_job(ctx, org.id, job_id, SURFACE, only_app)
    job = app_job_ops.review(ctx, job, body.response, body.correct, render.job_callback)
    return render.job_reviewed(job)


@router.get("/apps/{app_id}/batches", summary="Batches whose jobs are not all processed (`all=true`: every batch)",
            response_model=schemas.SuperAIBatchList, responses=errors(404))
def list_batches(app_id: str, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp, all: bool = False) -> dict[str, Any]:
    app = app_job_ops.app_of(ctx, org.id, app_id, only_app)
    rows = app_job_ops.batches(ctx, org.id, app.id, unprocessed_only=not all)
    return {"batches": [render.batch_public(b, None, counts) for b, counts in rows]}


@router.get("/apps/{app_id}/batches/{batch_id}", summary="One batch with its job ids",
            response_model=schemas.SuperAIBatchWithJobs, responses=errors(404))
def get_batch(app_id: str, batch_id: str, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp) -> dict[str, Any]:
    app = app_job_ops.app_of(ctx, org.id, app_id, only_app)
    row, jobs, counts = app_job_ops.batch(ctx, org.id, app.id, batch_id)
    return render.batch_public(row, jobs, counts)


@router.put("/apps/{app_id}/jobs/tags", summary="Add tags to the jobs named by the query",
            response_model=schemas.SuperAITagsChanged, responses=errors(404))
def add_tags(app_id: str, body: schemas.SuperAITagsIn, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp,
             idSearch: str | None = None, batchId: str | None = None,
             createdStartDate: DateQuery = None) -> dict[str, Any]:
    app = app_job_ops.app_of(ctx, org.id, app_id, only_app)
    f = _filters(createdStartDate=createdStartDate, batchId=batchId, idSearch=idSearch)
    updated = app_job_ops.change_tags(ctx, org.id, app.id, SURFACE, f, body.tags, add=True,
                                      callback_body=render.job_callback)
    return {"message": "Tags added", "updated": updated}


@router.delete("/apps/{app_id}/jobs/tags", summary="Remove tags from the jobs named by the query",
               response_model=schemas.SuperAITagsChanged, responses=errors(404))
def remove_tags(app_id: str, body: schemas.SuperAITagsIn, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp,
                idSearch: str | None = None, batchId: str | None = None,
                createdStartDate: DateQuery = None) -> dict[str, Any]:
    app = app_job_ops.app_of(ctx, org.id, app_id, only_app)
    f = _filters(createdStartDate=createdStartDate, batchId=batchId, idSearch=idSearch)
    updated = app_job_ops.change_tags(ctx, org.id, app.id, SURFACE, f, body.tags, add=False,
                                      callback_body=render.job_callback)
    return {"message": "Tags removed", "updated": updated}


@router.post("/apps/{app_id}/job_responses", summary="Export jobs with responses (an operation)",
             description="`sendEmail` and `withHistory` are accepted and ignored.",
             response_model=schemas.SuperAIExportStarted, responses=errors(404))
def export_jobs(app_id: str, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp,
                createdStartDate: DateQuery = None, createdEndDate: DateQuery = None,
                completedStartDate: DateQuery = None, completedEndDate: DateQuery = None,
                statusIn: StatusQuery = None, batchId: str | None = None, idSearch: str | None = None,
                sendEmail: bool | None = None, withHistory: bool | None = None) -> dict[str, Any]:
    app = app_job_ops.app_of(ctx, org.id, app_id, only_app)
    f = _filters(createdStartDate, createdEndDate, completedStartDate, completedEndDate, statusIn,
                 batchId=batchId, idSearch=idSearch)
    op = app_job_ops.export_responses(ctx, org.id, app.id, SURFACE, f, render.job_public)
    return {"operationId": op.id}


@router.get("/operations/{app_id}/{operation_id}", summary="An export operation's status",
            response_model=schemas.SuperAIOperation, responses=errors(404))
def get_operation(app_id: str, operation_id: NumericId, ctx: CtxDep, org: CurrentOrg,
                  only_app: OnlyApp) -> dict[str, Any]:
    app = app_job_ops.app_of(ctx, org.id, app_id, only_app)
    return render.operation_public(app_job_ops.operation(ctx, org.id, app.id, operation_id))


@router.post("/operations/{app_id}/{operation_id}/download-url", summary="A signed link to the export's zip",
             description=f"The link lives `secondsTtl` seconds, at most {_setting('signed_url_ttl_seconds')}; "
                         "400 until the operation is COMPLETED.",
             response_model=schemas.SuperAIDownloadUrl, responses=errors(404))
def download_url(app_id: str, operation_id: NumericId, request: Request, ctx: CtxDep, org: CurrentOrg,
                 only_app: OnlyApp,
                 secondsTtl: Seconds = 60) -> dict[str, Any]:
    app = app_job_ops.app_of(ctx, org.id, app_id, only_app)
    url, expires = app_job_ops.export_link(ctx, org.id, app.id, operation_id, base_url(request, ctx), secondsTtl)
    return {"downloadUrl": url, "expires": expires}
