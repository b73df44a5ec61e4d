"""super.AI jobs: one create request is one batch; each input object is one job of the app, run in
record mode (the object travels inline as a one-line JSONL input: no blob, no per-job process).

Creating N jobs is one transaction of bulk inserts (jobs, inputs, references, events, usage), so
10,000 inputs cost a few statements, not 50,000 ORM flushes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import insert, select

from jobport.domain.errors import Invalid, NotFound
from jobport.domain.ids import new_id
from jobport.domain.statuses import InputStatus, JobStatus
from jobport.pipelines.registry import deep_merge
from jobport.services import usage as usage_service
from jobport.services.app_jobs import billing, reference_file, reference_input_row
from jobport.services.apps import resolve_version
from jobport.services.context import AppContext
from jobport.services.jobs import config_problems, worker_key_of
from jobport.store.db import transaction, utcnow
from jobport.store.tables import App, Batch, Job, JobEvent, JobInput, PipelineRow, UsageEntry

JOB_TYPES = ("DEFAULT", "ONBOARDING", "CALIBRATION")
RECORD_FILENAME = "input.jsonl"
RESPONSE_FILENAME = "response.jsonl"


@dataclass(frozen=True)
class CreateJobs:
    org_id: str
    app: App
    inputs: list[dict[str, Any]]
    callback_url: str | None
    metadata: dict[str, Any] | None
    tags: list[str]
    parked: bool
    job_type: str = "DEFAULT"


def record_overrides(config_model) -> dict[str, Any]:
    """Settings that make a file pipeline read one JSON object per line and write one back."""
    fields = set(config_model.model_fields)
    overrides: dict[str, Any] = {}
    if "mime_type" in fields:
        overrides["mime_type"] = "application/x-ndjson"
    if "output_filename" in fields:
        overrides["output_filename"] = RESPONSE_FILENAME
    return overrides


def create_jobs(ctx: AppContext, request: CreateJobs) -> tuple[str, list[str]]:
    """Queue one job per input in one transaction; returns (batch id, job uuids)."""
    app = request.app
    with ctx.sessions() as session:
        version = resolve_version(session, app, None)
    pipeline = ctx.registry.get(app.pipeline_key, version.pipeline_version)
    if pipeline is None:
        raise Invalid(f"app {app.name} needs pipeline {app.pipeline_key} {version.pipeline_version}, which is not "
                      "installed on this server", code="invalid_app")
    spec = pipeline.spec
    data_port = next((p.name for p in spec.inputs if p.tracked), None)
    if data_port is None:
        raise Invalid(f"app {app.name}'s pipeline takes no data input", code="invalid_app")
    try:
        config = spec.config_model.model_validate(deep_merge(version.config, record_overrides(spec.config_model)))
    except ValidationError as err:
        raise Invalid.from_problems(config_problems(err, "app config")) from None
    refs = [(ref["port_name"], reference_file(ref), ref.get("metadata") or {}) for ref in version.references]
    worker_key = worker_key_of(pipeline, config, refs)
    parameters = {spec.component: {"parallelism": 1, "config": config.model_dump(mode="json")}}
    groups, billed = billing(1, version.records_per_group, version.units_per_group)

    now = utcnow()
    batch_id = str(uuid.uuid4())
    expires_at = now + timedelta(seconds=app.completion_window_seconds) if app.completion_window_seconds else None
    status = JobStatus.PARKED if request.parked else JobStatus.PENDING
    jobs, inputs, events, usage = [], [], [], []
    uuids = []
    for record in request.inputs:
        job_id, job_uuid = new_id("job"), str(uuid.uuid4())
        uuids.append(job_uuid)
        line = orjson.dumps(record).decode()
        jobs.append({
            "id": job_id, "uuid": job_uuid, "org_id": request.org_id, "name": None, "pipeline_id": "", "pipeline_type": spec.pipeline_type,
            "pipeline_key": spec.key, "pipeline_version": spec.version, "status": status.value, "priority": 0, "parameters": parameters,
            "parallelism": 1, "worker_key": worker_key, "job_metadata": request.metadata, "tags": list(request.tags),
            "callback_url": request.callback_url, "idempotency_key": None, "request_hash": None, "retry_count": 0,
            "preemption_count": 0, "queue_position": None, "queue_depth": None, "error": None, "created_at": now, "updated_at": now,
            "started_at": None, "completed_at": None, "failed_at": None, "cancelled_at": None, "surface": "superai", "app_id": app.id,
            "app_version": version.version, "record_count": 1, "record_group_count": groups, "billed_usage": billed,
            "batch_id": batch_id, "job_type": request.job_type, "correct": None, "reviewed_response": None, "reviewed_at": None,
            "expires_at": expires_at,
        })
        inputs.append({
            "id": new_id("inp"), "job_id": job_id, "port_name": data_port, "file_id": RECORD_FILENAME, "file_uid": new_id("fil"),
            "tracked": True, "status": InputStatus.PENDING.value, "attempts": 0, "lease_owner": None, "lease_expires_at": None,
            "error_message": None, "created_at": now, "started_at": None, "completed_at": None,
            "data": {"filename": RECORD_FILENAME, "file_type": "application/x-ndjson", "file_extension": "jsonl",
                  "num_bytes": len(line) + 1, "metadata": {}, "file_tags": [], "file_attributes": {"num_lines": 1},
                  "sha256": "", "inline": line + "\n"},
        })
        inputs += [reference_input_row(ref, job_id, now) for ref in version.references]
        events.append({"job_id": job_id, "input_id": None, "level": "INFO", "event_type": "job.created",
                           "message": f"Job of batch {batch_id} ({'parked' if request.parked else 'queued'})",
                           "payload": {"batch_id": batch_id}, "index": None, "created_at": now})
        usage.append({"org_id": request.org_id, "app_id": app.id, "job_id": job_id, "surface": "superai", "records": 1,
                          "record_groups": groups, "billed_units": billed, "created_at": now})

    with transaction(ctx.sessions) as session:
        if not request.parked and usage_service.over_budget(session, request.org_id, billed * len(jobs)):
            for row in jobs:  # over budget at creation: wait SUSPENDED until the budget is raised
                row["status"] = JobStatus.SUSPENDED.value
        pipeline_id = session.scalar(select(PipelineRow.id).where(
            PipelineRow.pipeline_key == spec.key, PipelineRow.pipeline_version == spec.version)) or ""
        for row in jobs:
            row["pipeline_id"] = pipeline_id
        session.add(Batch(id=batch_id, org_id=request.org_id, app_id=app.id, job_count=len(jobs), error=None,
                          callback_sent_at=None, created_at=now))
        session.execute(insert(Job), jobs)
        session.execute(insert(JobInput), inputs)
        session.execute(insert(JobEvent), events)
        session.execute(insert(UsageEntry), usage)
    if not request.parked:
        ctx.wake_scheduler()
    return batch_id, uuids


def queue_parked(ctx: AppContext, org_id: str, app: App, job_refs: list[str] | None = None) -> int:
    """Move the app's PARKED jobs (all, or those named by numeric id / uuid) to the queue."""
    moved = 0
    with transaction(ctx.sessions) as session:
        query = select(Job.id, Job.seq, Job.uuid).where(Job.org_id == org_id, Job.app_id == app.id,
                                                       Job.status == JobStatus.PARKED.value)
        for job_id, seq, job_uuid in session.execute(query).all():
            if job_refs is not None and str(seq) not in job_refs and job_uuid not in job_refs:
                continue
            moved += ctx.transitions.move(session, job_id, JobStatus.PENDING, "Queued from the parked state",
                                        event_type="job.queued")
    if moved:
        ctx.wake_scheduler()
    return moved


def find_job(ctx: AppContext, org_id: str, ref: str) -> Job:
    """A super.AI job by numeric id or uuid."""
    with ctx.sessions() as session:
        if ref.isdigit():
            job = session.scalar(select(Job).where(Job.org_id == org_id, Job.seq == int(ref), Job.surface == "superai"))
        else:
            job = session.scalar(select(Job).where(Job.org_id == org_id, Job.uuid == ref, Job.surface == "superai"))
    if job is None:
        raise NotFound(f"job {ref} not found")
    return job


