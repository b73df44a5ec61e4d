"""Job use cases: create (validation, idempotency, queue position), cancel, retry, delete."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import IntegrityError

from jobport.blobs import keys
from jobport.callbacks.urls import guard_for, validate_callback_url
from jobport.domain.errors import Conflict, Invalid, NotFound, Problem
from jobport.domain.ids import new_id
from jobport.domain.statuses import CANCELLABLE, RETRYABLE, TERMINAL, InputStatus, JobStatus
from jobport.pipelines.registry import deep_merge, default_config
from jobport.pipelines.sdk import FileFacts, Pipeline
from jobport.services import pipelines as pipeline_service
from jobport.services.context import AppContext
from jobport.store import files as file_store
from jobport.store import jobs as job_store
from jobport.store.db import transaction, utcnow
from jobport.store.tables import File, Job, JobInput


class InputItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file_id: str = Field(min_length=1, max_length=512, description="A file_id from the Files API.")
    metadata: dict[str, Any] | None = Field(None, description="Per-input metadata; n-shot ports need {'class': ...}.")


class ComponentParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parallelism: int | None = Field(None, ge=1, description="Most inputs of this job processed at once.")
    config: dict[str, Any] | None = Field(None, description="Pipeline config; see the pipeline's user_config_schema.")


class JobCreate(BaseModel):
    """Body of POST /v0.5/batch/jobs; `metadata`, `tags`, `priority`, `callback_url` are jobport extensions."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=500)
    pipeline_type: Literal["batch", "training"]
    pipeline_key: str = Field(min_length=1, max_length=200)
    pipeline_version: str | None = Field(None, max_length=50)
    inputs: dict[str, list[InputItemIn]] = Field(default_factory=dict)
    parameters: dict[str, ComponentParams] = Field(default_factory=dict)
    metadata: dict[str, Any] | None = None
    tags: list[str] = Field(default_factory=list, max_length=100)
    priority: int = Field(0, ge=-1000, le=1000, description="Higher runs first; ties run oldest first.")
    callback_url: str | None = Field(None, max_length=2048, pattern=r"^https?://")


def _request_hash(body: JobCreate) -> str:
    return hashlib.sha256(orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)).hexdigest()


def config_problems(err: ValidationError, prefix: str) -> list[Problem]:
    problems = []
    for item in err.errors():
        loc = ".".join(str(p) for p in item["loc"])
        field = f"{prefix}.{loc}" if loc else prefix
        kind = item["type"]
        if kind == "extra_forbidden":
            message, suggestion = f"{field}: unknown setting", "Remove it; see the pipeline's user_config_schema."
        elif kind == "missing":
            message, suggestion = f"{field}: required setting is missing", "Add it; see the pipeline's user_config_schema."
        else:
            message, suggestion = f"{field}: {item['msg']}", "Fix the value; see the pipeline's user_config_schema."
        problems.append(Problem(message, field, suggestion, "invalid_parameter"))
    return problems


def _validate_inputs(
    pipeline: Pipeline, body: JobCreate, files: dict[str, File], max_inputs: int
) -> list[Problem]:
    spec = pipeline.spec
    problems: list[Problem] = []
    port_names = [p.name for p in spec.inputs]
    total = sum(len(items) for items in body.inputs.values())
    if total > max_inputs:
        problems.append(Problem(f"inputs: {total} items is more than the limit of {max_inputs}", "inputs",
                                "Split the work into several jobs.", "too_many_inputs"))
    for port in body.inputs:
        if spec.input_port(port) is None:
            problems.append(Problem(f"inputs.{port}: unknown port for {spec.key} {spec.version}", f"inputs.{port}",
                                    f"Use one of: {', '.join(port_names)}.", "invalid_port"))
    for port in spec.inputs:
        items = body.inputs.get(port.name) or []
        if port.required and not items:
            problems.append(Problem(f"inputs.{port.name}: required port has no files", f"inputs.{port.name}",
                                    f"Add at least one {{'file_id': ...}} item under inputs['{port.name}'].",
                                    "missing_parameter"))
        for i, item in enumerate(items):
            if item.file_id not in files:
                problems.append(Problem(
                    f"Failed to resolve file inputs: {item.file_id!r} has not been uploaded",
                    f"inputs.{port.name}[{i}].file_id",
                    "Upload it first with POST /v0.5/files (file_id is the uploaded file's basename).",
                    "file_not_found"))
            if port.mode == "n_shot_file_list":
                label = (item.metadata or {}).get("class")
                if not isinstance(label, str) or not label.strip():
                    problems.append(Problem(
                        f"inputs.{port.name}[{i}].metadata.class: n-shot files need a class label",
                        f"inputs.{port.name}[{i}].metadata.class",
                        "Add metadata {'class': '<label>'} to every n-shot file.", "missing_parameter"))
    return problems


def worker_key_of(pipeline: Pipeline, config: BaseModel, refs: list[tuple[str, File, dict]]) -> str:
    document = {
        "pipeline": [pipeline.spec.key, pipeline.spec.version],
        "config": pipeline.load_key(config),
        "references": [[port, f.sha256, meta] for port, f, meta in refs],
    }
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _input_data(file: File, metadata: dict[str, Any]) -> dict[str, Any]:
    ext = file.file_id.rsplit(".", 1)[-1].lower() if "." in file.file_id else ""
    return {
        "filename": file.file_id,
        "file_type": file.file_type,
        "file_extension": ext,
        "num_bytes": file.num_bytes,
        "metadata": metadata,
        "file_tags": [],
        "file_attributes": file.attributes,
        "sha256": file.sha256,
        "blob_key": file.blob_key,
    }


def create_job(ctx: AppContext, org_id: str, body: JobCreate, idempotency_key: str | None = None) -> tuple[Job, bool]:
    """Validate and queue a job. Returns (job, created); created is False for an idempotent replay."""
    request_hash = _request_hash(body)
    if body.callback_url:
        validate_callback_url(body.callback_url, guard_for(ctx.settings))
    if idempotency_key:
        with ctx.sessions() as session:
            existing = job_store.get_by_idempotency_key(session, org_id, idempotency_key)
        if existing is not None:
            return _replay(existing, request_hash)

    with transaction(ctx.sessions) as session:
        row = pipeline_service.resolve(session, body.pipeline_key, body.pipeline_version, body.pipeline_type)
        pipeline = ctx.registry.get(row.pipeline_key, row.pipeline_version)
        if pipeline is None:
            raise Invalid(f"pipeline {row.pipeline_key} {row.pipeline_version} is not installed on this server",
                          field="pipeline_version", code="invalid_pipeline",
                          suggestion="Pick a version listed by GET /v0.5/batch/registry/pipelines.")
        spec = pipeline.spec
        file_ids = [item.file_id for items in body.inputs.values() for item in items]
        files = file_store.get_many(session, org_id, file_ids)
        problems = _validate_inputs(pipeline, body, files, ctx.settings.max_inputs_per_job)

        unknown_components = [k for k in body.parameters if k != spec.component]
        for name in unknown_components:
            problems.append(Problem(f"parameters.{name}: unknown component", f"parameters.{name}",
                                    f"This pipeline has one component, '{spec.component}'.", "invalid_parameter"))
        params = body.parameters.get(spec.component) or ComponentParams()
        parallelism = params.parallelism or spec.default_parallelism
        if parallelism > ctx.settings.max_parallelism:
            problems.append(Problem(
                f"parameters.{spec.component}.parallelism: {parallelism} is above the limit of {ctx.settings.max_parallelism}",
                f"parameters.{spec.component}.parallelism", "Lower it.", "invalid_parameter"))
        merged = deep_merge(default_config(spec)[spec.component]["config"], params.config or {})
        config = None
        try:
            config = spec.config_model.model_validate(merged)
        except ValidationError as err:
            problems.extend(config_problems(err, f"parameters.{spec.component}.config"))
        if not problems and config is not None:
            facts = {
                port: [FileFacts(i.file_id, files[i.file_id].num_bytes, files[i.file_id].attributes, i.metadata or {})
                       for i in items]
                for port, items in body.inputs.items()
            }
            for p in pipeline.check_create(config, facts):
                problems.append(Problem(p.message, p.field, p.suggestion, p.code))
        if problems:
            raise Invalid.from_problems(problems)
        assert config is not None

        resolved_config = config.model_dump(mode="json")
        refs = [
            (port.name, files[item.file_id], item.metadata or {})
            for port in spec.inputs if not port.tracked
            for item in body.inputs.get(port.name, [])
        ]
        now = utcnow()
        job = Job(
            id=new_id("job"), uuid=str(uuid.uuid4()), org_id=org_id, name=body.name,
            pipeline_id=row.id, pipeline_type=spec.pipeline_type, pipeline_key=spec.key, pipeline_version=spec.version,
            status=JobStatus.PENDING.value, priority=body.priority,
            parameters={spec.component: {"parallelism": parallelism, "config": resolved_config}},
            parallelism=parallelism, worker_key=worker_key_of(pipeline, config, refs),
            job_metadata=body.metadata, tags=body.tags, callback_url=body.callback_url,
            idempotency_key=idempotency_key, request_hash=request_hash,
            retry_count=0, preemption_count=0, created_at=now, updated_at=now,
        )
        session.add(job)
        for port in spec.inputs:
            for item in body.inputs.get(port.name, []):
                file = files[item.file_id]
                session.add(JobInput(
                    id=new_id("inp"), job_id=job.id, port_name=port.name, file_id=file.file_id, file_uid=file.uid,
                    data=_input_data(file, item.metadata or {}), tracked=port.tracked,
                    status=(InputStatus.PENDING if port.tracked else InputStatus.REFERENCE).value,
                    attempts=0, created_at=now,
                ))
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            if idempotency_key:
                with ctx.sessions() as other:
                    existing = job_store.get_by_idempotency_key(other, org_id, idempotency_key)
                if existing is not None:
                    return _replay(existing, request_hash)
            raise
        job.queue_position, job.queue_depth = job_store.queue_stats(session, job)
        job_store.add_event(session, job.id, "INFO", "job.created",
                            f"Job queued at position {job.queue_position} of {job.queue_depth}",
                            {"queue_position": job.queue_position, "queue_depth": job.queue_depth})
        for warning in pipeline.config_warnings(config):
            job_store.add_event(session, job.id, "WARN", "config.warning", warning)
    ctx.wake_scheduler()
    return job, True


def _replay(existing: Job, request_hash: str) -> tuple[Job, bool]:
    if existing.request_hash != request_hash:
        raise Conflict(
            "Idempotency-Key was already used with a different request body",
            code="idempotency_key_reused", field="Idempotency-Key",
            suggestion="Send the same body to get the original job back, or use a new Idempotency-Key.",
        )
    return existing, False


def _owned(session, org_id: str, job_id: str) -> Job:
    """The org's job, or 404 (also for another org's job: its existence is not revealed)."""
    job = job_store.get(session, org_id, job_id)
    if job is None:
        raise NotFound(f"job {job_id!r} not found", suggestion="List your jobs with GET /v0.5/batch/jobs.")
    return job


def get_job(ctx: AppContext, org_id: str, job_id: str) -> Job:
    with ctx.sessions() as session:
        return _owned(session, org_id, job_id)


def cancel_job(ctx: AppContext, org_id: str, job_id: str) -> Job:
    with transaction(ctx.sessions) as session:
        job = _owned(session, org_id, job_id)
        if JobStatus(job.status) not in CANCELLABLE or not ctx.transitions.move(
            session, job.id, JobStatus.CANCELLED, "Cancelled by request", level="WARN"
        ):
            raise Conflict(
                f"job {job_id} is {job.status} and can no longer be cancelled",
                code="invalid_state", suggestion="Only PENDING, RUNNING or PREEMPTED jobs can be cancelled.")
        session.refresh(job)
    ctx.stop_running(job_id)
    return job


def retry_job(ctx: AppContext, org_id: str, job_id: str) -> Job:
    with transaction(ctx.sessions) as session:
        job = _owned(session, org_id, job_id)
        if JobStatus(job.status) not in RETRYABLE or not ctx.transitions.move(
            session, job.id, JobStatus.PENDING, "Re-queued by retry",
            event_type="job.retried",
            values={"retry_count": job.retry_count + 1, "error": None, "completed_at": None, "failed_at": None,
                    "cancelled_at": None},
        ):
            raise Conflict(
                f"job {job_id} is {job.status}; only FAILED or CANCELLED jobs can be retried",
                code="invalid_state", suggestion="Wait for the job to end, or cancel it first.")
        failed = [i.id for i in job_store.list_inputs(session, job.id, None, [InputStatus.FAILED.value], 0, 1_000_000)[0]]
        stale_keys = job_store.delete_outputs_of_inputs(session, job.id, failed) if failed else []
        job_store.release_failed(session, failed)
        session.refresh(job)  # the job as this retry left it (the scheduler may move it on at once)
    for key in stale_keys:
        ctx.blobs.delete(key)
    ctx.wake_scheduler()
    return job


def delete_job(ctx: AppContext, org_id: str, job_id: str) -> str:
    job = get_job(ctx, org_id, job_id)
    if JobStatus(job.status) not in TERMINAL:
        with transaction(ctx.sessions) as session:
            ctx.transitions.move(session, job.id, JobStatus.CANCELLED, "Cancelled because the job is being deleted")
        ctx.stop_running(job_id)
    with transaction(ctx.sessions) as session:
        job_store.delete_job(session, job.id)
    ctx.blobs.delete_prefix(keys.job_prefix(job.id))
    return job.id
