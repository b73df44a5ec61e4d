"""Jobs of an app from inline records (the super.AI surface): one create request is one batch, each
input object one job, run in record mode (the object travels inline as a one-line JSONL input: no
blob, no per-job file). Creating N jobs is one transaction of bulk inserts (batch, jobs, inputs,
events, usage), so 10,000 inputs cost a few statements, not 50,000 ORM flushes.

`submit_records` is the create request's rules, in the order they are checked: the request size
(`superai_inputs_max_bytes`), the app, the job type, the callback URL, then the inputs, given inline
or as the URL of a JSON file (fetched behind the SSRF guard, at most `superai_inputs_max_bytes`),
at most `superai_max_jobs_per_request` of them; `pending: true` or `addToQueue: false` parks them.
"""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import anyio.to_thread
import orjson
from pydantic import BaseModel

from jobport.callbacks.urls import guard_for, validate_callback_url
from jobport.domain.errors import Invalid, Problem, TooLarge
from jobport.domain.ids import new_id
from jobport.domain.statuses import JobStatus
from jobport.outbound import FetchError, UrlGuard, fetch_limited
from jobport.services import app_job_ops, limits
from jobport.services import usage as usage_service
from jobport.services.context import AppContext
from jobport.services.jobs.app_template import AppRun, app_run
from jobport.services.jobs.draft import JobDraft, RecordInput, save_many
from jobport.store.db import transaction, utcnow
from jobport.store.tables import App, Batch

RECORD_FILENAME = "input.jsonl"
RESPONSE_FILENAME = "response.jsonl"
JOB_TYPES = ("DEFAULT", "ONBOARDING", "CALIBRATION")


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


_LINE = re.compile(r"^line (\d+)(:| )")


def record_problems(run: AppRun, inputs: list[dict[str, Any]]) -> list[Problem]:
    """The app pipeline's preflight over the records (as the JSONL its workers will read): inputs
    that do not fit the app (a missing feature, a text where a number goes) are a 400 naming
    `inputs[i]` at creation, never jobs that are billed and then fail."""
    body = b"\n".join(orjson.dumps(record) for record in inputs)
    result = run.template.pipeline.preflight(run.template.config, lambda: io.BytesIO(body))
    if result is None:
        return []
    problems = []
    for p in result.problems[:10]:
        line = _LINE.match(p.message)
        # the pipeline counts lines of its file from 1; line n is the request's inputs[n - 1]
        where = f"inputs[{int(line.group(1)) - 1}]" if line else "inputs"
        message = f"{where}{p.message[line.end() - 1:]}" if line else f"inputs: {p.message}"
        problems.append(Problem(message, where, p.suggestion, p.code))
    return problems


def create_record_jobs(ctx: AppContext, request: RecordJobsRequest) -> tuple[str, list[str]]:
    """Queue (or park) one job per input in one transaction; returns (batch id, job uuids)."""
    app = request.app
    run = app_run(ctx, app, None, record_overrides, "app config")
    problems = record_problems(run, request.inputs)
    if problems:
        raise Invalid.from_problems(problems)
    data_port = run.data_port
    bill = run.bill(1)
    now = utcnow()
    batch_id = str(uuid.uuid4())
    expires_at = now + timedelta(seconds=app.completion_window_seconds) if app.completion_window_seconds else None
    event = (f"Job of batch {batch_id} ({'parked' if request.parked else 'queued'})", {"batch_id": batch_id})
    status = JobStatus.PARKED if request.parked else JobStatus.PENDING
    drafts = [JobDraft(
        run.template, request.org_id,
        [RecordInput.of(data_port, RECORD_FILENAME, new_id("fil"), orjson.dumps(record).decode())],
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
        limits.admit_drafts(ctx, session, drafts)
        save_many(session, drafts)
    if not request.parked:
        ctx.wake_scheduler()
    return batch_id, [d.uuid for d in drafts]


@dataclass(frozen=True)
class RecordSubmission:
    """A create request as the surface received it (`app_ref`: the app's UUID)."""

    org_id: str
    app_ref: str
    surface: str
    inputs: Any = None
    inputs_file_url: str | None = None
    callback_url: str | None = None
    metadata: dict[str, Any] | None = None
    tags: tuple[str, ...] = ()
    pending: bool | None = None
    add_to_queue: bool | None = None
    job_type: str = "DEFAULT"
    only_app: str | None = None  # an app key's app: another app answers 404
    fetched: FetchedInputs | None = None  # the file at inputs_file_url, fetched off the request threads


def check_request_size(ctx: AppContext, num_bytes: int) -> None:
    """413 for a create request body over `superai_inputs_max_bytes`."""
    limit = ctx.settings.superai.inputs_max_bytes
    if num_bytes > limit:
        raise TooLarge(f"request body is larger than {limit} bytes", field="inputs",
                       suggestion="Send at most 4 MB of inputs per request, or use inputsFileUrl.")


def job_type_of(value: str) -> str:
    """The job type in capitals, one of `JOB_TYPES` (any case accepted)."""
    if value.upper() not in JOB_TYPES:
        raise Invalid(f"jobType: {value!r} is not one of {', '.join(JOB_TYPES)}", field="jobType")
    return value.upper()


def is_parked(pending: bool | None, add_to_queue: bool | None) -> bool:
    """Jobs wait parked when asked `pending: true` or `addToQueue: false`; by default they are queued."""
    return bool(pending) or add_to_queue is False


def inputs_of(ctx: AppContext, inputs: Any, inputs_file_url: str | None,
              fetched: FetchedInputs | None = None) -> list[dict[str, Any]]:
    """The input objects of a create request: `inputs` itself, or the JSON array the file at
    `inputs_file_url` holds (exactly one of the two is given); a non-empty array of objects, at most
    `superai_max_jobs_per_request`."""
    if (inputs is None) == (inputs_file_url is None):
        raise Invalid("give either `inputs` or `inputsFileUrl`" if inputs is None else
                      "give only one of `inputs` and `inputsFileUrl`", field="inputs",
                      suggestion="Send the input objects inline, or the URL of a JSON file holding that array.")
    field = "inputs"
    if inputs_file_url is not None:
        inputs = fetched.value if fetched is not None else _fetch_inputs(ctx, inputs_file_url)
        field = "inputsFileUrl"
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, dict) for i in inputs):
        raise Invalid(f"{field}: expected a non-empty array of objects", field=field,
                      suggestion='e.g. "inputs": [{"image_url": "https://..."}]')
    most = ctx.settings.superai.max_jobs_per_request
    if len(inputs) > most:
        raise Invalid(f"{field}: {len(inputs)} inputs is more than {most} per request", field=field,
                      suggestion="Split them over several requests.")
    return inputs


def _fetch_inputs(ctx: AppContext, url: str) -> Any:
    """The JSON value of the file at `url`, fetched behind the SSRF guard (`fetch_allow_private_networks`),
    at most `superai_inputs_max_bytes`, within `fetch_timeout_seconds`."""
    guard = UrlGuard(allow_private=ctx.settings.fetch.allow_private_networks,
                      setting="JOBPORT_FETCH_ALLOW_PRIVATE_NETWORKS")
    try:
        fetched = fetch_limited(url, max_bytes=ctx.settings.superai.inputs_max_bytes, guard=guard,
                                timeout=ctx.settings.fetch.timeout_seconds)
    except FetchError as err:
        if err.kind == "too_large":
            raise TooLarge(f"inputsFileUrl: {err.message}", field="inputsFileUrl") from None
        raise Invalid(f"inputsFileUrl: {err.message}", field="inputsFileUrl", code=f"fetch_{err.kind}") from None
    try:
        return orjson.loads(fetched.content)
    except orjson.JSONDecodeError as err:
        raise Invalid(f"inputsFileUrl: the file is not JSON ({err})", field="inputsFileUrl",
                      suggestion="Serve a JSON array of input objects.") from None


def submit_records(ctx: AppContext, submission: RecordSubmission) -> tuple[str, list[str]]:
    """Check a create request (after its size: see the module) and create its jobs as one batch;
    returns (batch id, job uuids)."""
    app = app_job_ops.app_of(ctx, submission.org_id, submission.app_ref, submission.only_app)
    job_type = job_type_of(submission.job_type)
    if submission.callback_url:
        validate_callback_url(submission.callback_url, guard_for(ctx.settings), field="callbackUrl")
    inputs = inputs_of(ctx, submission.inputs, submission.inputs_file_url, submission.fetched)
    return create_record_jobs(ctx, RecordJobsRequest(
        org_id=submission.org_id, app=app, inputs=inputs, surface=submission.surface,
        callback_url=submission.callback_url, metadata=submission.metadata, tags=submission.tags,
        parked=is_parked(submission.pending, submission.add_to_queue), job_type=job_type))


@dataclass(frozen=True)
class FetchedInputs:
    """The JSON value of a create request's inputsFileUrl file, fetched already."""

    value: Any


async def submit_records_off_pool(ctx: AppContext, submission: RecordSubmission) -> tuple[str, list[str]]:
    """`submit_records` from the event loop, its database work in the request thread pool and its
    inputsFileUrl fetch in a fetch thread of the org's own share (`limits.fetch_off_pool`: at most
    `fetch_max_per_org` at once, 429 beyond), so that slow fetches never hold request threads.
    The app, job type and callback URL are checked before the fetch, and again with the create."""
    url = submission.inputs_file_url
    if url is not None and submission.inputs is None:
        await anyio.to_thread.run_sync(_check_target, ctx, submission)
        value = await limits.fetch_off_pool(ctx, submission.org_id, lambda: _fetch_inputs(ctx, url))
        submission = replace(submission, fetched=FetchedInputs(value))
    return await anyio.to_thread.run_sync(submit_records, ctx, submission)


def _check_target(ctx: AppContext, submission: RecordSubmission) -> None:
    """What `submit_records` checks before the inputs: the app, the job type, the callback URL."""
    app_job_ops.app_of(ctx, submission.org_id, submission.app_ref, submission.only_app)
    job_type_of(submission.job_type)
    if submission.callback_url:
        validate_callback_url(submission.callback_url, guard_for(ctx.settings), field="callbackUrl")
