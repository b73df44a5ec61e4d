"""Creating a job on the native (Archetype) API: validate the body against the pipeline (ports,
files, config, the pipeline's own create checks), replay idempotent requests, queue the job."""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import IntegrityError

from jobport.callbacks.urls import guard_for, validate_callback_url
from jobport.domain.bounds import json_problem
from jobport.domain.errors import Conflict, Invalid, Problem
from jobport.domain.ids import new_id
from jobport.domain.payloads import InputPayload
from jobport.pipelines.registry import deep_merge, default_config
from jobport.pipelines.sdk import RUN_PORT, FileFacts, FileRef, Pipeline
from jobport.services import limits, reference_sets
from jobport.services import pipelines as pipeline_service
from jobport.services.context import AppContext
from jobport.services.jobs import publish as publish_service
from jobport.services.jobs.draft import DraftInput, JobDraft, JobTemplate, ResourcesIn, config_problems, save_one
from jobport.store import files as file_store
from jobport.store import jobs as job_store
from jobport.store.db import transaction
from jobport.store.tables import File, Job


class InputItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file_id: str = Field(min_length=1, max_length=512, description="A file_id from the Files API.")
    metadata: dict[str, Any] | None = Field(None, description="Per-input metadata; n-shot ports need {'class': ...}.")


class ComponentParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parallelism: int | None = Field(None, ge=1, description="Most inputs of this job processed at once.")
    config: dict[str, Any] | None = Field(None, description="Pipeline config; see the pipeline's user_config_schema.")
    resources: ResourcesIn | None = Field(None, description="jobport extension: what each worker of this job "
                                                            "reserves on a Ray cluster (default: the pipeline's).")


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


def _request_hash(body: JobCreate, max_json_depth: int) -> str:
    """The body's fingerprint for idempotent replays; 400 naming the value orjson cannot encode (the
    HTTP surfaces refuse such bodies at the door: this guards other callers)."""
    document = body.model_dump(mode="json")
    try:
        encoded = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        found = json_problem(document, max_json_depth)
        if found is None:
            raise Invalid("the request cannot be stored as JSON", field="body", code="invalid_request") from None
        raise Invalid(found.message, field=found.path or "body", code=found.code,
                      suggestion="Send integers between -2^63 and 2^63-1, finite numbers and shallower "
                                 "documents.") from None
    return hashlib.sha256(encoded).hexdigest()


def _input_problems(pipeline: Pipeline, body: JobCreate, files: dict[str, File], max_inputs: int,
                    satisfied: frozenset[str] = frozenset()) -> list[Problem]:
    spec = pipeline.spec
    problems: list[Problem] = []
    port_names = [p.name for p in spec.inputs]
    total = sum(len(items) for items in body.inputs.values())
    if total > max_inputs:
        problems.append(Problem(f"inputs: {total} items is more than the limit of {max_inputs}", "inputs",
                                "Split the work into several jobs.", "too_many_inputs"))
    for name in body.inputs:
        if spec.input_port(name) is None:
            problems.append(Problem(f"inputs.{name}: unknown port for {spec.key} {spec.version}", f"inputs.{name}",
                                    f"Use one of: {', '.join(port_names)}.", "invalid_port"))
    for port in spec.inputs:
        items = body.inputs.get(port.name) or []
        if port.required and not items and port.name not in satisfied:
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


def _parallelism_and_config(ctx: AppContext, pipeline: Pipeline, body: JobCreate,
                            problems: list[Problem]) -> tuple[int, BaseModel | None]:
    spec = pipeline.spec
    for name in (k for k in body.parameters if k != spec.component):
        problems.append(Problem(f"parameters.{name}: unknown component", f"parameters.{name}",
                                f"This pipeline has one component, '{spec.component}'.", "invalid_parameter"))
    params = body.parameters.get(spec.component) or ComponentParams()
    parallelism = params.parallelism or spec.default_parallelism
    if parallelism > ctx.settings.limits.max_parallelism:
        problems.append(Problem(
            f"parameters.{spec.component}.parallelism: {parallelism} is above the limit of "
            f"{ctx.settings.limits.max_parallelism}", f"parameters.{spec.component}.parallelism", "Lower it.",
            "invalid_parameter"))
    merged = deep_merge(default_config(spec)[spec.component]["config"], params.config or {})
    try:
        return parallelism, spec.config_model.model_validate(merged)
    except ValidationError as err:
        problems.extend(config_problems(err, f"parameters.{spec.component}.config"))
        return parallelism, None


def _input(port_name: str, file: File, metadata: dict[str, Any] | None, tracked: bool) -> DraftInput:
    payload = InputPayload.of_file(file.file_id, file.file_type, file.num_bytes, file.sha256, file.blob_key,
                                   file.attributes, metadata or {})
    return DraftInput(port_name, file.file_id, file.uid, payload, tracked)


def _check_files(ctx: AppContext, pipeline: Pipeline, config: BaseModel, body: JobCreate,
                 files: dict[str, File]) -> None:
    """The pipeline's checks that read the input files (`Pipeline.check_files`); 400 on a problem."""
    refs = [FileRef(input_id=file.uid, port_name=port, file_id=file.file_id, filename=file.file_id,
                    metadata=item.metadata or {}, sha256=file.sha256, num_bytes=file.num_bytes,
                    opener=partial(ctx.blobs.open, file.blob_key), path=ctx.blobs.local_path(file.blob_key))
            for port, items in body.inputs.items() for item in items if (file := files.get(item.file_id))]
    problems = [Problem(p.message, p.field, p.suggestion, p.code) for p in pipeline.check_files(config, refs)]
    if problems:
        raise Invalid.from_problems(problems)


def _draft(ctx: AppContext, session: Any, org_id: str, body: JobCreate) -> JobDraft:
    row = pipeline_service.resolve(session, body.pipeline_key, body.pipeline_version, body.pipeline_type)
    pipeline = ctx.registry.get(row.pipeline_key, row.pipeline_version)
    if pipeline is None:
        raise Invalid(f"pipeline {row.pipeline_key} {row.pipeline_version} is not installed on this server",
                      field="pipeline_version", code="invalid_pipeline",
                      suggestion="Pick a version listed by GET /v0.5/batch/registry/pipelines.")
    files = file_store.get_many(session, org_id, [i.file_id for items in body.inputs.values() for i in items])
    params_in = body.parameters.get(pipeline.spec.component)
    shared = reference_sets.for_create(ctx, org_id, pipeline, params_in.config if params_in else None,
                                       {port for port, items in body.inputs.items() if items})
    problems = _input_problems(pipeline, body, files, ctx.settings.limits.max_inputs_per_job,
                               frozenset([shared.port]) if shared else frozenset())
    parallelism, config = _parallelism_and_config(ctx, pipeline, body, problems)
    if not problems and config is not None:
        facts = {port: [FileFacts(i.file_id, files[i.file_id].num_bytes, files[i.file_id].attributes, i.metadata or {})
                        for i in items] for port, items in body.inputs.items()}
        if shared:  # a named reference set's recordings: the n-shot files, checked like uploaded ones
            facts[shared.port] = shared.facts
        problems += [Problem(p.message, p.field, p.suggestion, p.code) for p in pipeline.check_create(config, facts)]
        problems += publish_service.target_problems(session, org_id, row.pipeline_key, config)
        problems += reference_sets.target_problems(ctx, org_id, config)
    if problems:
        raise Invalid.from_problems(problems)
    assert config is not None
    _check_files(ctx, pipeline, config, body, files)
    inputs = [_input(port.name, files[item.file_id], item.metadata, port.tracked)
              for port in pipeline.spec.inputs for item in body.inputs.get(port.name, [])]
    inputs += shared.inputs if shared else []
    params = body.parameters.get(pipeline.spec.component)
    resources = params.resources.overrides() if params and params.resources else None
    template = JobTemplate(pipeline, row.id, config, parallelism, [i for i in inputs if not i.tracked], resources)
    tracked = [i for i in inputs if i.tracked]
    if pipeline.spec.runs_once and not tracked:  # one run over the references: one input to process
        tracked = [DraftInput(RUN_PORT, "run.json", new_id("fil"), InputPayload.of_record("run.json", "{}"))]
    return JobDraft(template, org_id, tracked, created_event=("", None), name=body.name,
                    priority=body.priority, metadata=body.metadata, tags=body.tags, callback_url=body.callback_url)


def create_job(ctx: AppContext, org_id: str, body: JobCreate, idempotency_key: str | None = None) -> tuple[Job, bool]:
    """Validate and queue a job. Returns (job, created); created is False for an idempotent replay."""
    request_hash = _request_hash(body, ctx.settings.limits.max_json_depth)
    if body.callback_url:
        validate_callback_url(body.callback_url, guard_for(ctx.settings))
    if idempotency_key:
        with ctx.sessions() as session:
            existing = job_store.get_by_idempotency_key(session, org_id, idempotency_key)
        if existing is not None:
            return _replay(existing, request_hash)
    with ctx.sessions() as session:  # checks (some read files) run outside the write transaction
        draft = _draft(ctx, session, org_id, body)
    with transaction(ctx.sessions) as session:
        draft.idempotency_key, draft.request_hash = idempotency_key, request_hash
        limits.admit_drafts(ctx, session, [draft])
        try:
            job = save_one(session, draft)
        except IntegrityError:
            session.rollback()
            if idempotency_key:
                with ctx.sessions() as other:
                    existing = job_store.get_by_idempotency_key(other, org_id, idempotency_key)
                if existing is not None:
                    return _replay(existing, request_hash)
            raise
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
