"""Jobs of an app from inline records (the super.AI surface): one create request is one batch, each
input object one job, run in record mode (the object travels inline as a one-line JSONL input: no
blob, no per-job file). Creating N jobs is one transaction of bulk inserts (batch, jobs, inputs,
events, usage), so 10,000 inputs cost a few statements, not 50,000 ORM flushes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from pydantic import BaseModel

from jobport.domain.ids import new_id
from jobport.domain.payloads import InputPayload
from jobport.domain.statuses import JobStatus
from jobport.services import usage as usage_service
from jobport.services.context import AppContext
from jobport.services.jobs.app_template import app_run
from jobport.services.jobs.draft import DraftInput, JobDraft, save_many
from jobport.store.db import transaction, utcnow
from jobport.store.tables import App, Batch

RECORD_FILENAME = "input.jsonl"
RESPONSE_FILENAME = "response.jsonl"


@dataclass(frozen=True)
class RecordJobsRequest:
    org_id: str
    app: App
    inputs: list[dict[str, Any]]
    surface: str
    callback_url: str | None = None
    metadata: dict[str, Any] | None = None
    tags: tuple[str, ...] = ()
    parked: bool = False
    job_type: str = "DEFAULT"


def record_overrides(model: type[BaseModel]) -> dict[str, Any]:
    """Settings that make a file pipeline read one JSON object per line and write one back."""
    fields = set(model.model_fields)
    overrides: dict[str, Any] = {}
    if "mime_type" in fields:
        overrides["mime_type"] = "application/x-ndjson"
    if "output_filename" in fields:
        overrides["output_filename"] = RESPONSE_FILENAME
    return overrides


def create_record_jobs(ctx: AppContext, request: RecordJobsRequest) -> tuple[str, list[str]]:
    """Queue (or park) one job per input in one transaction; returns (batch id, job uuids)."""
    app = request.app
    run = app_run(ctx, app, None, record_overrides, "app config")
    data_port = run.data_port
    bill = run.bill(1)
    now = utcnow()
    batch_id = str(uuid.uuid4())
    expires_at = now + timedelta(seconds=app.completion_window_seconds) if app.completion_window_seconds else None
    event = (f"Job of batch {batch_id} ({'parked' if request.parked else 'queued'})", {"batch_id": batch_id})
    status = JobStatus.PARKED if request.parked else JobStatus.PENDING
    drafts = [JobDraft(
        run.template, request.org_id,
        [DraftInput(data_port, RECORD_FILENAME, new_id("fil"),
                    InputPayload.of_record(RECORD_FILENAME, orjson.dumps(record).decode()))],
        created_event=event, status=status, metadata=request.metadata, tags=list(request.tags),
        callback_url=request.callback_url, surface=request.surface, app_id=app.id, app_version=run.version.version,
        billing=bill, batch_id=batch_id, job_type=request.job_type, expires_at=expires_at,
    ) for record in request.inputs]
    with transaction(ctx.sessions) as session:
        if not request.parked and usage_service.over_budget(session, request.org_id, bill.billed_units * len(drafts)):
            for draft in drafts:  # over budget at creation: wait SUSPENDED until the budget is raised
                draft.status = JobStatus.SUSPENDED
        session.add(Batch(id=batch_id, org_id=request.org_id, app_id=app.id, job_count=len(drafts), error=None,
                          callback_sent_at=None, created_at=now))
        session.flush()
        save_many(session, drafts)
    if not request.parked:
        ctx.wake_scheduler()
    return batch_id, [d.uuid for d in drafts]
