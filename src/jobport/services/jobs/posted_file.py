"""Jobs of an app from a file posted with the request (the Gravity surface): an app-bound key runs
its app on the file. `submit` turns the request's settings into config overrides of the app's
pipeline (input mime type, mappings, the output file's name), preflights the file (counts its
records, finds unparsable rows: a 400 before anything is stored), bills the records and inserts job,
inputs and usage row in one transaction. The posted file was already streamed into the job's blob
prefix; on any error the caller deletes that prefix, so nothing is left half-written.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from jobport.domain.errors import Invalid, NotFound, Problem
from jobport.domain.payloads import InputPayload
from jobport.domain.statuses import TERMINAL, JobStatus
from jobport.services import limits
from jobport.services import usage as usage_service
from jobport.services.auth import Principal
from jobport.services.context import AppContext
from jobport.services.files import new_file_uid
from jobport.services.jobs.app_template import app_run
from jobport.services.jobs.draft import DraftInput, JobDraft, save_one
from jobport.store import apps as app_store
from jobport.store import jobs as job_store
from jobport.store.db import transaction, utcnow
from jobport.store.tables import App, Job, JobOutput

OUTPUT_EXTENSIONS = {"text/csv": "csv", "application/json": "json"}
# The records a file's extension names, for a request that gives no type (Gravity's C# client
# sends `mimeType: null`) and a file part without one (or application/octet-stream).
MIME_BY_EXTENSION = {".csv": "text/csv", ".json": "application/json", ".jsonl": "application/x-ndjson",
                     ".ndjson": "application/x-ndjson"}
_UNTYPED_PARTS = {"", "application/octet-stream"}


@dataclass(frozen=True)
class PostedFile:
    """A file already written to `blob_key` by the request handler."""

    filename: str
    blob_key: str
    num_bytes: int
    sha256: str


@dataclass(frozen=True)
class MappingRule:
    source: str
    destination: str
    default_value: Any = None


@dataclass(frozen=True)
class FileJobRequest:
    principal: Principal
    app: App
    file: PostedFile
    mime_type: str
    surface: str
    version: str | None = None
    name: str | None = None
    mapping: list[MappingRule] | None = None
    output_mapping: list[MappingRule] | None = None
    callback_url: str | None = None


def resolve_mime_type(declared: str | None, part_type: str | None, filename: str) -> str:
    """The input's mime type: the request's `mimeType`; else the file part's Content-Type; else,
    for a part without one or with application/octet-stream, what the filename's extension names;
    else a 400 naming `data.mimeType`."""
    if declared:
        return declared
    part = (part_type or "").strip()
    if part.split(";", 1)[0].strip().lower() not in _UNTYPED_PARTS:
        return part
    extension = ("." + filename.rsplit(".", 1)[-1].lower()) if "." in filename else ""
    if extension in MIME_BY_EXTENSION:
        return MIME_BY_EXTENSION[extension]
    raise Invalid(f"data.mimeType is required: the file part {filename!r} has no content type that names its "
                  f"records", field="data.mimeType", code="missing_parameter",
                  suggestion='Set data.mimeType (e.g. "text/csv; header=present"), or send the file part with that '
                             f"Content-Type, or give the file a {', '.join(MIME_BY_EXTENSION)} extension.")


def new_job_uuid() -> str:
    return str(uuid.uuid4())


def bound_app(ctx: AppContext, who: Principal) -> App:
    """The app a key is bound to (the app a Gravity request runs)."""
    if who.app_id is None:
        raise Invalid("this API key is not bound to an app", field="x-api-key", code="key_not_bound",
                      suggestion="Use a key made with `jobport keys create --org ORG --app APP`.")
    with ctx.sessions() as session:
        app = app_store.get_any(session, who.app_id)
    if app is None or app.org_id != who.org.id:
        raise Invalid("the app this API key is bound to no longer exists", field="x-api-key", code="key_not_bound")
    return app


def _overrides(request: FileJobRequest, job_uuid: str, model: type[BaseModel]) -> dict[str, Any]:
    """The request's settings as config overrides of the app's pipeline (only settings it has)."""
    fields = set(model.model_fields)
    overrides: dict[str, Any] = {}
    base_mime = request.mime_type.split(";", 1)[0].strip().lower()
    if "mime_type" in fields:
        overrides["mime_type"] = request.mime_type
    if "output_filename" in fields:
        ext = OUTPUT_EXTENSIONS.get(base_mime, "jsonl" if "json" in base_mime else "dat")
        overrides["output_filename"] = f"data_{job_uuid.replace('-', '')[:8]}.{ext}"
    for key, rules in (("mapping", request.mapping), ("output_mapping", request.output_mapping)):
        if not rules:
            continue
        if key not in fields:
            raise Invalid(f"app {request.app.name} does not take {key}", field=f"data.{key}",
                          code="invalid_parameter", suggestion="Send the request without it.")
        overrides[key] = [{"source": r.source, "destination": r.destination, "default_value": r.default_value}
                          for r in rules]
    return overrides


def submit(ctx: AppContext, request: FileJobRequest, job_id: str, job_uuid: str) -> Job:
    """Validate, bill and queue the job `job_id` / `job_uuid` (chosen before the file was stored:
    the blob lives under the job's prefix and the output file is named after the uuid)."""
    app = request.app
    run = app_run(ctx, app, request.version, lambda model: _overrides(request, job_uuid, model), "data")
    pipeline, config = run.template.pipeline, run.template.config
    records = 1
    result = pipeline.preflight(config, lambda: ctx.blobs.open(request.file.blob_key))
    if result is not None:
        if result.problems:
            raise Invalid.from_problems([Problem(p.message, p.field, p.suggestion, p.code) for p in result.problems])
        records = result.records
    bill = run.bill(records)
    posted = request.file
    payload = InputPayload.of_file(posted.filename, request.mime_type, posted.num_bytes, posted.sha256,
                                   posted.blob_key)
    draft = JobDraft(
        run.template, request.principal.org.id, [DraftInput(run.data_port, posted.filename, new_file_uid(), payload)],
        created_event=(f"Job of app {app.name} {run.version.version}: {records:,} records, "
                       f"{bill.record_groups:,} record groups, {bill.billed_units:,} units billed",
                       {"records": records, "record_groups": bill.record_groups, "billed_units": bill.billed_units}),
        id=job_id, uuid=job_uuid, name=request.name or posted.filename,
        metadata={"input_file_name": posted.filename, "input_mime": request.mime_type},
        callback_url=request.callback_url, surface=request.surface, app_id=app.id, app_version=run.version.version,
        billing=bill)
    with transaction(ctx.sessions) as session:
        if usage_service.over_budget(session, draft.org_id, bill.billed_units):
            draft.status = JobStatus.SUSPENDED  # waits until the org's budget is raised
        limits.admit_drafts(ctx, session, [draft])
        job = save_one(session, draft)
    ctx.wake_scheduler()
    return job


def find_job(ctx: AppContext, who: Principal, job_uuid: str, surface: str) -> Job:
    """A job of `surface` by uuid, if the caller's org (and bound app) owns it."""
    with ctx.sessions() as session:
        job = job_store.get_by_uuid(session, who.org.id, job_uuid)
    if job is None or job.surface != surface or (who.app_id and job.app_id != who.app_id):
        raise NotFound(f"job {job_uuid} not found", field="jobId")
    return job


def latest_jobs(ctx: AppContext, who: Principal, surface: str) -> list[Job]:
    with ctx.sessions() as session:
        return job_store.latest_of_surface(session, who.org.id, surface, who.app_id, ctx.settings.gravity.latest_limit)


async def wait_until_ended(ctx: AppContext, job: Job, seconds: float) -> Job:
    """The job once it ended, or as it is after `seconds` (polls with a growing delay)."""
    deadline = time.monotonic() + seconds
    delay = 0.01
    while JobStatus(job.status) not in TERMINAL and time.monotonic() < deadline:
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, 0.25)
        with ctx.sessions() as session:
            job = job_store.get_any(session, job.id) or job
    return job


def rename(ctx: AppContext, who: Principal, job_uuid: str, surface: str, name: str) -> Job:
    job = find_job(ctx, who, job_uuid, surface)
    with transaction(ctx.sessions) as session:
        row = job_store.get_any(session, job.id)
        assert row is not None
        row.name, row.updated_at = name, utcnow()
        session.flush()
        session.expunge(row)
    return row


def result_output(ctx: AppContext, who: Principal, job_uuid: str, surface: str, port_name: str) -> JobOutput:
    """The output file of a job that completed (400 before, or if it ended without one)."""
    job = find_job(ctx, who, job_uuid, surface)
    status = JobStatus(job.status)
    if status is not JobStatus.COMPLETED:
        state = "has not finished" if status not in TERMINAL else f"ended without a result ({status.value.lower()})"
        raise Invalid(f"job {job_uuid} {state}; its result link is available once its status is success",
                      field="jobId", code="job_not_finished", suggestion="Poll GET /api/v1/jobs/{id} until success.")
    with ctx.sessions() as session:
        outputs, _ = job_store.list_outputs(session, job.id, port_name, None, 0, 1)
    if not outputs:
        raise Invalid(f"job {job_uuid} has no output file", field="jobId", code="no_output")
    first: JobOutput = outputs[0]
    return first
