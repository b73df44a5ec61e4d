"""Jobs of an app from a file posted with the request (the Gravity surface; super.AI later).

`submit` validates the request against the app version's pipeline (config overrides such as the
input mime type and mappings, then a streaming preflight of the file that counts its records and
finds unparsable rows), bills the records, and inserts the job, its inputs and the usage-ledger row
in one transaction. The posted file was already streamed into the job's blob prefix; on any error
the caller deletes it, so nothing is left half-written.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from jobport.domain.errors import Invalid, Problem
from jobport.domain.ids import new_id
from jobport.domain.statuses import InputStatus, JobStatus
from jobport.pipelines.registry import deep_merge
from jobport.services import usage as usage_service
from jobport.services.apps import resolve_version
from jobport.services.context import AppContext
from jobport.services.files import new_file_uid
from jobport.services.jobs import config_problems, worker_key_of
from jobport.store import apps as app_store
from jobport.store import jobs as job_store
from jobport.store.db import transaction, utcnow
from jobport.store.tables import App, File, Job, JobInput, PipelineRow, UsageEntry


@dataclass(frozen=True)
class PostedFile:
    """A file already written to `blob_key` by the request handler."""

    filename: str
    mime_type: str
    blob_key: str
    num_bytes: int
    sha256: str


@dataclass(frozen=True)
class AppJobRequest:
    org_id: str
    app: App
    version: str | None
    name: str | None
    file: PostedFile
    config_overrides: dict[str, Any]
    surface: str
    metadata: dict[str, Any] | None = None
    callback_url: str | None = None


def billing(records: int, records_per_group: int, units_per_group: int) -> tuple[int, int]:
    """(record groups, billed units): every started group of `records_per_group` costs `units_per_group`."""
    groups = math.ceil(records / records_per_group) if records else 0
    return groups, groups * units_per_group


def _data_port(pipeline) -> str:
    for port in pipeline.spec.inputs:
        if port.tracked:
            return port.name
    raise Invalid(f"pipeline {pipeline.spec.key} has no data input port", code="invalid_pipeline")


def new_job_uuid() -> str:
    return str(uuid.uuid4())


def submit(ctx: AppContext, request: AppJobRequest, job_id: str, job_uuid: str) -> Job:
    """Validate, bill and queue the job `job_id` / `job_uuid` (chosen before the file was stored:
    the blob lives under the job's prefix and the output file is named after the uuid)."""
    app = request.app
    with ctx.sessions() as session:
        version = resolve_version(session, app, request.version)
    pipeline = ctx.registry.get(app.pipeline_key, version.pipeline_version)
    if pipeline is None:
        raise Invalid(f"app {app.name} version {version.version} needs pipeline {app.pipeline_key} "
                      f"{version.pipeline_version}, which is not installed", field="version", code="invalid_version")
    spec = pipeline.spec
    try:
        config = spec.config_model.model_validate(deep_merge(version.config, request.config_overrides))
    except ValidationError as err:
        raise Invalid.from_problems(config_problems(err, "data")) from None

    records = 1
    preflight: Callable[..., Any] | None = getattr(pipeline, "preflight", None)
    if preflight is not None:
        result = preflight(config, lambda: ctx.blobs.open(request.file.blob_key))
        if result.problems:
            raise Invalid.from_problems([Problem(p.message, p.field, p.suggestion, getattr(p, "code", "invalid_file"))
                                         for p in result.problems])
        records = result.records
    groups, billed = billing(records, version.records_per_group, version.units_per_group)

    refs = [(ref["port_name"], reference_file(ref), ref.get("metadata") or {}) for ref in version.references]
    now = utcnow()
    job = Job(
        id=job_id, uuid=job_uuid, org_id=request.org_id, name=request.name or request.file.filename,
        pipeline_id=f"{spec.key}@{spec.version}", pipeline_type=spec.pipeline_type, pipeline_key=spec.key,
        pipeline_version=spec.version, status=JobStatus.PENDING.value, priority=0,
        parameters={spec.component: {"parallelism": 1, "config": config.model_dump(mode="json")}},
        parallelism=1, worker_key=worker_key_of(pipeline, config, refs),
        job_metadata={"input_file_name": request.file.filename, "input_mime": request.file.mime_type,
                      **(request.metadata or {})},
        tags=[], callback_url=request.callback_url, idempotency_key=None, request_hash=None, retry_count=0,
        preemption_count=0,
        created_at=now, updated_at=now, surface=request.surface, app_id=app.id, app_version=version.version,
        record_count=records, record_group_count=groups, billed_usage=billed,
    )
    with transaction(ctx.sessions) as session:
        if usage_service.over_budget(session, request.org_id, billed):
            job.status = JobStatus.SUSPENDED.value  # waits until the org's budget is raised
        job.pipeline_id = session.scalar(select(PipelineRow.id).where(
            PipelineRow.pipeline_key == spec.key, PipelineRow.pipeline_version == spec.version)) or job.pipeline_id
        session.add(job)
        session.flush()
        session.add(JobInput(
            id=new_id("inp"), job_id=job.id, port_name=_data_port(pipeline), file_id=request.file.filename,
            file_uid=new_file_uid(), tracked=True, status=InputStatus.PENDING.value, attempts=0, created_at=now,
            data={"filename": request.file.filename, "file_type": request.file.mime_type,
                  "file_extension": request.file.filename.rsplit(".", 1)[-1].lower() if "." in request.file.filename else "",
                  "num_bytes": request.file.num_bytes, "metadata": {}, "file_tags": [], "file_attributes": {},
                  "sha256": request.file.sha256, "blob_key": request.file.blob_key},
        ))
        for ref in version.references:
            session.add(JobInput(**reference_input_row(ref, job.id, now)))
        app_store.add_usage(session, UsageEntry(
            org_id=request.org_id, app_id=app.id, job_id=job.id, surface=request.surface, records=records,
            record_groups=groups, billed_units=billed, created_at=now))
        session.flush()
        job.queue_position, job.queue_depth = job_store.queue_stats(session, job)
        job_store.add_event(session, job.id, "INFO", "job.created",
                            f"Job of app {app.name} {version.version}: {records:,} records, {groups:,} record groups, "
                            f"{billed:,} units billed; queued at position {job.queue_position} of {job.queue_depth}",
                            {"records": records, "record_groups": groups, "billed_units": billed,
                             "queue_position": job.queue_position, "queue_depth": job.queue_depth})
        for warning in pipeline.config_warnings(config):
            job_store.add_event(session, job.id, "WARN", "config.warning", warning)
    ctx.wake_scheduler()
    return job


def reference_input_row(ref: dict[str, Any], job_id: str, now) -> dict[str, Any]:
    """The reference input row of a job for one of its app version's copied reference files."""
    return {
        "id": new_id("inp"), "job_id": job_id, "port_name": ref["port_name"], "file_id": ref["file_id"], "file_uid": ref["file_uid"],
        "tracked": False, "status": InputStatus.REFERENCE.value, "attempts": 0, "lease_owner": None, "lease_expires_at": None,
        "error_message": None, "created_at": now, "started_at": None, "completed_at": None,
        "data": {"filename": ref["file_id"], "file_type": ref["file_type"], "file_extension": "",
              "num_bytes": ref["num_bytes"], "metadata": ref.get("metadata") or {}, "file_tags": [],
              "file_attributes": ref.get("attributes") or {}, "sha256": ref["sha256"], "blob_key": ref["blob_key"]},
    }


def reference_file(ref: dict[str, Any]) -> File:
    """Just enough of a File for the worker key (the copied blob's sha256)."""
    return File(uid=ref["file_uid"], file_id=ref["file_id"], sha256=ref["sha256"], num_bytes=ref["num_bytes"],
                blob_key=ref["blob_key"], file_type=ref["file_type"], attributes=ref.get("attributes") or {})
