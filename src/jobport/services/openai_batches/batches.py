"""OpenAI batches: create (validate the input file, then queue one jobport job of the `openai-batch`
pipeline: billed, quota-checked and fairly scheduled like every job), retrieve, cancel and list.
While the job runs the batch's status and request counts are read from it; once the job ends the
batch is finalized (`assembly`) and its stored status is final."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from jobport.callbacks.urls import guard_for, validate_callback_url
from jobport.domain.errors import Conflict, Invalid, NotFound
from jobport.domain.payloads import InputPayload
from jobport.domain.pricing import billing
from jobport.domain.statuses import TERMINAL, JobStatus
from jobport.services import limits
from jobport.services import pipelines as pipeline_service
from jobport.services.context import AppContext
from jobport.services.jobs.draft import Billing, DraftInput, JobDraft, JobTemplate, save_one
from jobport.services.openai_batches import assembly, validation
from jobport.services.openai_batches.views import BatchView
from jobport.store import openai_batches as store
from jobport.store.db import transaction, utcnow
from jobport.store.tables import File, OpenAIBatch

PIPELINE_KEY = "openai-batch"
SURFACE = "openai"
FINAL = ("completed", "failed", "expired", "cancelled")
TIMES = ("in_progress_at", "expires_at", "finalizing_at", "completed_at", "failed_at", "expired_at",
         "cancelling_at", "cancelled_at")
_WINDOW = re.compile(r"^([1-9][0-9]{0,6})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_NOT_FOUND = "List your batches with GET /v1/batches."


def new_batch_id() -> str:
    return f"batch_{uuid.uuid4().hex}"


def window_seconds(window: str, most: int) -> int:
    """`24h` (OpenAI's only value), or as a jobport extension any `<n>s|m|h|d` up to `most` seconds."""
    match = _WINDOW.match(window)
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)] if match else 0
    if not match or seconds > most:
        raise Invalid(f"Invalid value for 'completion_window': {window!r}.", field="completion_window",
                      code="invalid_value", suggestion=f'Use "24h" (or up to {most} seconds, e.g. "30m"; setting '
                                                       f"JOBPORT_OPENAI_MAX_COMPLETION_WINDOW_SECONDS).")
    return seconds


def check_endpoint(endpoint: str) -> None:
    if endpoint not in validation.SUPPORTED_ENDPOINTS:
        raise Invalid(f"Invalid value for 'endpoint': {endpoint!r} is not supported by this server.",
                      field="endpoint", code="invalid_value",
                      suggestion=f"Use one of {', '.join(validation.SUPPORTED_ENDPOINTS)}.")


def create(ctx: AppContext, org_id: str, input_file_id: str, endpoint: str, completion_window: str,
           metadata: dict[str, str] | None, output_expires_seconds: int | None,
           callback_url: str | None) -> BatchView:
    check_endpoint(endpoint)
    seconds = window_seconds(completion_window, ctx.settings.openai.max_completion_window_seconds)
    if callback_url:
        validate_callback_url(callback_url, guard_for(ctx.settings), field="callback_url")
    with ctx.sessions() as session:
        found = store.get_file(session, org_id, input_file_id)
    if found is None:
        raise NotFound(f"No such File object: {input_file_id}", field="input_file_id",
                       suggestion="Upload the input file with POST /v1/files (purpose=batch) first.")
    row, file = found
    if row.purpose != "batch":
        raise Invalid(f"File {input_file_id} has purpose {row.purpose!r}, not 'batch'.", field="input_file_id",
                      code="invalid_value", suggestion="Upload the input file with purpose=batch.")
    settings = ctx.settings.openai
    with ctx.blobs.open(file.blob_key) as handle:
        checked = validation.check_file(handle, endpoint, settings.max_requests_per_batch,
                                        settings.max_reported_errors)
    now = utcnow()
    batch = OpenAIBatch(id=new_batch_id(), org_id=org_id, endpoint=endpoint, input_file_id=input_file_id,
                        completion_window=completion_window, batch_metadata=metadata,
                        output_expires_after={"seconds": output_expires_seconds} if output_expires_seconds else None,
                        request_total=checked.requests, request_completed=0, request_failed=0, input_tokens=0,
                        output_tokens=0, created_at=now)
    if checked.error_count:
        batch.status, batch.failed_at, batch.request_total = "failed", now, 0
        batch.errors = {"object": "list", "data": checked.errors}
        with transaction(ctx.sessions) as session:
            session.add(batch)
        return view(batch, {})
    with transaction(ctx.sessions) as session:
        expires_at = now + timedelta(seconds=seconds)
        draft = _draft(ctx, session, org_id, batch, file, checked.requests, callback_url, expires_at)
        limits.admit_drafts(ctx, session, [draft])
        save_one(session, draft)
        batch.job_id, batch.status, batch.in_progress_at, batch.expires_at = draft.id, "in_progress", now, expires_at
        session.add(batch)
    ctx.wake_scheduler()
    return view(batch, {})


def _draft(ctx: AppContext, session: Any, org_id: str, batch: OpenAIBatch, file: File, requests: int,
           callback_url: str | None, expires_at: datetime) -> JobDraft:
    row = pipeline_service.resolve(session, PIPELINE_KEY, None, "batch")
    pipeline = ctx.registry.get(row.pipeline_key, row.pipeline_version)
    if pipeline is None:
        raise Conflict(f"the {PIPELINE_KEY} pipeline is not installed on this server", code="pipeline_missing",
                       suggestion="Ask the operator to install jobport with its built-in pipelines.")
    settings = ctx.settings.openai
    embeddings = batch.endpoint == validation.EMBEDDINGS
    config = pipeline.spec.config_model.model_validate({
        "endpoint": batch.endpoint,
        "chunk_lines": settings.embedding_chunk_lines if embeddings else settings.chunk_lines,
        "default_max_tokens": settings.chat_default_max_tokens, "max_tokens_limit": settings.chat_max_tokens,
        "max_embedding_inputs": settings.embedding_max_inputs})
    port = pipeline.spec.inputs[0].name
    payload = InputPayload.of_file(file.file_id, file.file_type, file.num_bytes, file.sha256, file.blob_key,
                                   file.attributes, {})
    pricing = pipeline.spec.pricing
    groups, units = billing(requests, pricing.records_per_group, pricing.units_per_group)
    template = JobTemplate(pipeline, row.id, config)
    return JobDraft(template, org_id, [DraftInput(port, file.file_id, file.uid, payload)],
                    created_event=(f"OpenAI batch {batch.id}: {requests:,} requests to {batch.endpoint}", None),
                    name=f"OpenAI batch {batch.id}", metadata={"openai_batch_id": batch.id},
                    callback_url=callback_url, surface=SURFACE, billing=Billing(requests, groups, units),
                    expires_at=expires_at)


def view(batch: OpenAIBatch, progress: dict[str, Any]) -> BatchView:
    status = batch.status
    completed, failed = batch.request_completed, batch.request_failed
    tokens = {"input_tokens": batch.input_tokens or 0, "output_tokens": batch.output_tokens or 0}
    if status not in FINAL:
        completed, failed = int(progress.get("completed", 0)), int(progress.get("failed", 0))
        tokens = progress
    return BatchView(
        id=batch.id, status=status, endpoint=batch.endpoint, input_file_id=batch.input_file_id,
        completion_window=batch.completion_window, created_at=batch.created_at, total=batch.request_total,
        completed=completed, failed=failed, metadata=batch.batch_metadata,
        errors=batch.errors,
        output_file_id=batch.output_file_id, error_file_id=batch.error_file_id, job_id=batch.job_id,
        input_tokens=int(tokens.get("input_tokens", 0)), output_tokens=int(tokens.get("output_tokens", 0)),
        times={name: getattr(batch, name) for name in TIMES})


def _current(ctx: AppContext, batches: list[OpenAIBatch]) -> list[BatchView]:
    """Views of `batches` as they are now: a batch whose job ended is finalized first."""
    with ctx.sessions() as session:
        jobs = store.jobs_by_id(session, [b.job_id for b in batches if b.job_id and b.status not in FINAL])
        progress = store.latest_progress(session, list(jobs))
    views = []
    for batch in batches:
        job = jobs.get(batch.job_id or "")
        if job is not None and JobStatus(job.status) in TERMINAL:
            batch = assembly.finalize(ctx, batch, job)
        elif job is None and batch.job_id is not None and batch.status not in FINAL:
            batch = assembly.finalize_orphan(ctx, batch)
        views.append(view(batch, progress.get(batch.job_id or "", {})))
    return views


def _owned(ctx: AppContext, org_id: str, batch_id: str) -> OpenAIBatch:
    with ctx.sessions() as session:
        batch = store.get_batch(session, org_id, batch_id)
    if batch is None:
        raise NotFound(f"No batch found with id '{batch_id}'.", field="batch_id", suggestion=_NOT_FOUND)
    return batch


def get(ctx: AppContext, org_id: str, batch_id: str) -> BatchView:
    return _current(ctx, [_owned(ctx, org_id, batch_id)])[0]


def cancel(ctx: AppContext, org_id: str, batch_id: str) -> BatchView:
    """Cancel: the job stops (finished lines are kept and written), the batch is `cancelling` until
    it is next read, then `cancelled`. A batch that already ended is a 409."""
    batch = _owned(ctx, org_id, batch_id)
    if batch.status in ("cancelling", "cancelled"):
        return get(ctx, org_id, batch_id)
    moved = False
    with transaction(ctx.sessions) as session:
        if batch.status == "in_progress" and batch.job_id is not None:
            moved = ctx.transitions.move(session, batch.job_id, JobStatus.CANCELLED, "Cancelled by request (OpenAI "
                                         "batch cancel)", level="WARN")
            if moved:
                store.update_batch_if(session, batch.id, ["in_progress"],
                                      {"status": "cancelling", "cancelling_at": utcnow()})
    if not moved:
        current = get(ctx, org_id, batch_id)
        raise Conflict(f"Cannot cancel a batch with status {current.status}.", field="batch_id",
                       code="batch_not_cancellable", suggestion="Only a batch in progress can be cancelled.")
    assert batch.job_id is not None
    ctx.stop_running(batch.job_id)
    with ctx.sessions() as session:
        fresh = store.get_batch(session, org_id, batch_id)
        progress = store.latest_progress(session, [batch.job_id])
    assert fresh is not None
    return view(fresh, progress.get(batch.job_id, {}))


def list_page(ctx: AppContext, org_id: str, after: str | None, limit: int) -> tuple[list[BatchView], bool]:
    """The org's batches newest first, after the batch `after`; and whether more follow."""
    with ctx.sessions() as session:
        after_seq = None
        if after is not None:
            after_seq = store.batch_seq(session, org_id, after)
            if after_seq is None:
                raise Invalid(f"Invalid value for 'after': no batch {after!r}.", field="after", code="invalid_value",
                              suggestion="Pass the id of the last batch of the previous page.")
        rows = store.list_batches(session, org_id, after_seq, limit + 1)
    return _current(ctx, rows[:limit]), len(rows) > limit
