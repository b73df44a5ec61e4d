"""Gravity routes: `POST /api/v1/jobs` (multipart `data` + `file`), `GET /api/v1/jobs/latest`,
`GET/PUT /api/v1/jobs/{id}` and `GET /api/v1/jobs/result-link/{id}`. Job ids are the job's UUID."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobport.api.deps import CtxDep, CurrentPrincipal, base_url
from jobport.api.gravity.render import envelope, job_public
from jobport.api.multipart import FileReceiver, receive_file
from jobport.blobs import keys
from jobport.callbacks.urls import guard_for, validate_callback_url
from jobport.domain.errors import Invalid, NotFound, Problem
from jobport.domain.ids import new_id
from jobport.domain.statuses import TERMINAL, JobStatus
from jobport.services import app_jobs
from jobport.services import files as file_service
from jobport.services.apps import resolve_version
from jobport.services.auth import Principal
from jobport.services.context import AppContext
from jobport.store import apps as app_store
from jobport.store import jobs as job_store
from jobport.store.db import transaction, utcnow
from jobport.store.tables import Job

router = APIRouter(tags=["gravity"])

OUTPUT_PORT = "worker.result"
_EXTENSIONS = {"text/csv": "csv", "application/json": "json"}


class MappingRuleIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    source: str = Field(min_length=1, max_length=1000)
    destination: str = Field(min_length=1, max_length=1000)
    defaultValue: Any = None


class JobData(BaseModel):
    """The `data` part. Unknown keys (groupId, isGrouped, containerId...) are ignored."""

    model_config = ConfigDict(extra="ignore")
    version: str | None = Field(None, max_length=50)
    mimeType: str = Field(min_length=1, max_length=200)
    name: str | None = Field(None, max_length=500)
    jobName: str | None = Field(None, max_length=500)
    mapping: list[MappingRuleIn] | None = None
    outputMapping: list[MappingRuleIn] | None = None
    callbackUrl: str | None = Field(None, max_length=2048, description="jobport extension: POST the job when it ends.")


class RenameIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = Field(None, min_length=1, max_length=500)
    jobName: str | None = Field(None, min_length=1, max_length=500)


def _parse_data(fields: dict[str, bytes]) -> JobData:
    raw = fields.get("data")
    if raw is None or not raw.strip():
        raise Invalid("missing 'data' form field", field="data", code="missing_parameter",
                      suggestion='Send a form field "data" holding JSON such as {"mimeType": "text/csv; header=present"}.')
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise Invalid(f"'data' is not valid JSON: {err}", field="data", code="invalid_json",
                      suggestion="Send the job settings as a JSON object (json.dumps(config)).") from None
    if not isinstance(value, dict):
        raise Invalid("'data' must be a JSON object", field="data", code="invalid_json")
    try:
        return JobData.model_validate(value)
    except ValidationError as err:
        problems = []
        for item in err.errors():
            loc = "data." + ".".join(str(p) for p in item["loc"])
            message = f"{loc} is required" if item["type"] == "missing" else f"{loc}: {item['msg']}"
            suggestion = 'Give the input mime type, e.g. "text/csv; header=present".' if loc == "data.mimeType" else ""
            problems.append(Problem(message, loc, suggestion, "invalid_parameter"))
        raise Invalid.from_problems(problems) from None


def _overrides(ctx: AppContext, app, data: JobData, job_uuid: str) -> dict[str, Any]:
    """The request's settings as config overrides of the app's pipeline (only settings it has)."""
    with ctx.sessions() as session:
        row = resolve_version(session, app, data.version)  # the version the job will run (400 if none)
    pipeline = ctx.registry.get(app.pipeline_key, row.pipeline_version)
    pipeline_fields = set(pipeline.spec.config_model.model_fields) if pipeline else set()
    overrides: dict[str, Any] = {}
    base_mime = data.mimeType.split(";", 1)[0].strip().lower()
    if "mime_type" in pipeline_fields:
        overrides["mime_type"] = data.mimeType
    if "output_filename" in pipeline_fields:
        ext = _EXTENSIONS.get(base_mime, "jsonl" if "json" in base_mime else "dat")
        overrides["output_filename"] = f"data_{job_uuid.replace('-', '')[:8]}.{ext}"
    for key, rules in (("mapping", data.mapping), ("output_mapping", data.outputMapping)):
        if not rules:
            continue
        if key not in pipeline_fields:
            raise Invalid(f"app {app.name} does not take {key}", field=f"data.{key}", code="invalid_parameter",
                          suggestion="Send the request without it.")
        overrides[key] = [{"source": r.source, "destination": r.destination, "default_value": r.defaultValue}
                          for r in rules]
    return overrides


def _bound_app(ctx: AppContext, who: Principal):
    if who.app_id is None:
        raise Invalid("this API key is not bound to an app", field="x-api-key", code="key_not_bound",
                      suggestion="Use a key made with `jobport keys create --org ORG --app APP`.")
    with ctx.sessions() as session:
        app = app_store.get_any(session, who.app_id)
    if app is None or app.org_id != who.org.id:
        raise Invalid("the app this API key is bound to no longer exists", field="x-api-key", code="key_not_bound")
    return app


def _load(ctx: AppContext, who: Principal, job_uuid: str) -> Job:
    with ctx.sessions() as session:
        job = job_store.get_by_uuid(session, who.org.id, job_uuid)
    if job is None or job.surface != "gravity" or (who.app_id and job.app_id != who.app_id):
        raise NotFound(f"job {job_uuid} not found", field="jobId")
    return job


async def _wait(ctx: AppContext, job: Job, seconds: float) -> Job:
    deadline = time.monotonic() + seconds
    delay = 0.01
    while JobStatus(job.status) not in TERMINAL and time.monotonic() < deadline:
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, 0.25)
        with ctx.sessions() as session:
            job = job_store.get_any(session, job.id) or job
    return job


@router.post("", summary="Create a job: multipart `data` (JSON settings) + `file`")
async def create_job(request: Request, ctx: CtxDep, who: CurrentPrincipal) -> dict:
    app = _bound_app(ctx, who)
    job_id = new_id("job")
    receiver = FileReceiver(ctx.blobs, who.org.id, ctx.settings.max_upload_bytes, any_type=True,
                            blob_key=keys.job_input(job_id, file_service.new_file_uid()))
    fields: dict[str, bytes] = {}
    await receive_file(request, receiver, fields)
    try:
        data = _parse_data(fields)
        assert receiver.stats is not None and receiver.file_id
        if receiver.stats.num_bytes == 0:
            raise Invalid(f"file {receiver.file_id!r} is empty", field="file", code="invalid_file_size",
                          suggestion="Send a file with records.")
        if data.callbackUrl:
            await run_in_threadpool(validate_callback_url, data.callbackUrl, guard_for(ctx.settings),
                                    field="data.callbackUrl")
        job_uuid = app_jobs.new_job_uuid()
        posted = app_jobs.PostedFile(filename=receiver.file_id, mime_type=data.mimeType, blob_key=receiver.blob_key,
                                     num_bytes=receiver.stats.num_bytes, sha256=receiver.stats.sha256)
        submission = app_jobs.AppJobRequest(
            org_id=who.org.id, app=app, version=data.version, name=data.name or data.jobName, file=posted,
            config_overrides=await run_in_threadpool(_overrides, ctx, app, data, job_uuid), surface="gravity",
            callback_url=data.callbackUrl)
        job = await run_in_threadpool(app_jobs.submit, ctx, submission, job_id, job_uuid)
    except BaseException:
        ctx.blobs.delete_prefix(keys.job_prefix(job_id))
        raise
    if (job.record_count or 0) <= ctx.settings.gravity_sync_max_records:
        job = await _wait(ctx, job, ctx.settings.gravity_wait_seconds)
    return envelope(job_public(job))


@router.get("/latest", summary="The caller's latest jobs, newest first")
def latest_jobs(ctx: CtxDep, who: CurrentPrincipal) -> dict:
    with ctx.sessions() as session:
        jobs = job_store.latest_of_surface(session, who.org.id, "gravity", who.app_id, ctx.settings.gravity_latest_limit)
    return envelope([job_public(j) for j in jobs])


@router.get("/result-link/{job_id}", summary="A signed link to the job's output file (no auth needed; expires)")
def result_link(job_id: str, request: Request, ctx: CtxDep, who: CurrentPrincipal) -> dict:
    job = _load(ctx, who, job_id)
    status = JobStatus(job.status)
    if status is not JobStatus.COMPLETED:
        state = "has not finished" if status not in TERMINAL else f"ended without a result ({status.value.lower()})"
        raise Invalid(f"job {job_id} {state}; its result link is available once its status is success",
                      field="jobId", code="job_not_finished", suggestion="Poll GET /api/v1/jobs/{id} until success.")
    with ctx.sessions() as session:
        outputs, _ = job_store.list_outputs(session, job.id, OUTPUT_PORT, None, 0, 1)
    if not outputs:
        raise Invalid(f"job {job_id} has no output file", field="jobId", code="no_output")
    url, _ = ctx.signer.sign(base_url(request, ctx), outputs[0].blob_key, outputs[0].filename)
    return envelope(url)


@router.get("/{job_id}", summary="One job")
def get_job(job_id: str, ctx: CtxDep, who: CurrentPrincipal) -> dict:
    return envelope(job_public(_load(ctx, who, job_id)))


@router.put("/{job_id}", summary="Rename a job")
async def rename_job(job_id: str, request: Request, ctx: CtxDep, who: CurrentPrincipal) -> dict:
    try:
        body = RenameIn.model_validate(orjson.loads(await request.body() or b"null"))
    except (orjson.JSONDecodeError, ValidationError) as err:
        raise Invalid(f"expected a JSON object {{\"name\": \"...\"}}: {err}", field="name", code="invalid_parameter",
                      suggestion="Send Content-Type: application/json with a name of 1 to 500 characters.") from None
    name = body.name or body.jobName
    if not name:
        raise Invalid("name is required", field="name", code="missing_parameter",
                      suggestion='Send {"name": "new name"}.')
    job = _load(ctx, who, job_id)
    with transaction(ctx.sessions) as session:
        row = job_store.get_any(session, job.id)
        row.name = name
        row.updated_at = utcnow()
        session.flush()
        session.expunge(row)
    return envelope(job_public(row))
