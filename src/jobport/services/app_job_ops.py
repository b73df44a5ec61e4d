"""Use cases on the jobs of an app beyond create (the super.AI surface's projects): finding the app,
a job by numeric id or uuid, lists with filters and their page size, responses, queueing parked
jobs, cancel/restart rules, review, tags, batches and bulk exports (a zip holding a JSON list of
jobs with responses, fetched through a signed link). `surface` names the jobs' surface: a job is
visible here only on the surface it was created on."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session

from jobport.blobs import keys
from jobport.callbacks import outbox
from jobport.domain.bounds import stored_int
from jobport.domain.errors import Invalid, NotFound
from jobport.domain.payloads import InputPayload
from jobport.domain.statuses import TERMINAL, JobStatus, from_superai_status, superai_status
from jobport.services.context import AppContext
from jobport.services.jobs import control
from jobport.services.paging import fold_counts
from jobport.store import apps as app_store
from jobport.store import counts as counter_store
from jobport.store import jobs as job_store
from jobport.store.db import transaction, utcnow
from jobport.store.tables import App, Batch, Job, JobInput, JobOutput, Operation

SORT_COLUMNS = {"id": Job.seq, "created": Job.created_at, "createdAt": Job.created_at, "completed": Job.completed_at,
                "completedAt": Job.completed_at, "status": Job.status, "uuid": Job.uuid}
UNIQUE_SORTS = {"id", "uuid"}  # no tie-break needed; the others end with `seq`, in the same direction
CANCELLABLE = {JobStatus.PENDING, JobStatus.ADMITTED, JobStatus.RUNNING, JobStatus.PREEMPTED, JobStatus.SUSPENDED}
RESTARTABLE = {JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.EXPIRED}


@dataclass(frozen=True)
class JobFilter:
    created_start: datetime | None = None
    created_end: datetime | None = None
    completed_start: datetime | None = None
    completed_end: datetime | None = None
    status_in: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    correct: bool | None = None
    batch_id: str | None = None
    id_search: str | None = None


def app_of(ctx: AppContext, org_id: str, app_ref: str, only_app: str | None = None) -> App:
    """The org's app by UUID (or name); 404 for an unknown app, for another org's, and for another
    app than `only_app` (an app key's)."""
    with ctx.sessions() as session:
        app = app_store.get(session, org_id, app_ref)
    if app is None or (only_app is not None and app.id != only_app):
        raise NotFound(f"app {app_ref} not found", field="app_id", suggestion="Use the app's UUID (GET /v0.5/apps).")
    return app


def page_size(ctx: AppContext, requested: int | None) -> int:
    """The size of a job list page: `superai_page_default` when not asked, at most `superai_page_max`."""
    size = requested or ctx.settings.superai.page_default
    if size > ctx.settings.superai.page_max:
        raise Invalid(f"size: at most {ctx.settings.superai.page_max} jobs per page", field="size",
                      suggestion="Ask for a smaller page and walk the pages.")
    return size


def queue_parked(ctx: AppContext, org_id: str, app_ref: str, job_refs: Collection[str] | None,
                 only_app: str | None = None) -> int:
    """Queue the app's parked jobs: all of them, or those named (numeric id or uuid) in `job_refs`."""
    return control.queue_parked(ctx, org_id, app_of(ctx, org_id, app_ref, only_app).id, job_refs)


def find_job(ctx: AppContext, org_id: str, ref: str, surface: str, only_app: str | None = None) -> Job:
    """A job of `surface` by numeric id or uuid (of app `only_app` if given: an app key's)."""
    seq = stored_int(ref)  # None for digits past the 64-bit range too: they match no uuid either
    with ctx.sessions() as session:
        job = (job_store.get_by_seq(session, org_id, seq) if seq is not None
               else job_store.get_by_uuid(session, org_id, ref))
    if job is None or job.surface != surface or (only_app is not None and job.app_id != only_app):
        raise NotFound(f"job {ref} not found")
    return job


def _statuses(f: JobFilter) -> tuple[set[str] | None, ColumnElement[bool] | None]:
    """The internal statuses `statusIn` names (None: all) and, when it names only one of COMPLETED
    and REVIEWED (both are COMPLETED inside, told apart by `reviewed_at`), the condition that keeps
    the other one out."""
    if not f.status_in:
        return None, None
    internal: set[str] = set()
    for word in f.status_in:
        try:
            internal |= {s.value for s in from_superai_status(word)}
        except ValueError:
            raise Invalid(f"statusIn: unknown status {word!r}", field="statusIn",
                          suggestion="Use PENDING, SCHEDULED, IN_PROGRESS, SUSPENDED, COMPLETED, REVIEWED, FAILED, "
                                     "CANCELED or EXPIRED.") from None
    words = {word.strip().upper() for word in f.status_in}
    other_than_completed = Job.status != JobStatus.COMPLETED.value
    if "REVIEWED" in words and "COMPLETED" not in words:
        return internal, or_(other_than_completed, Job.reviewed_at.is_not(None))
    if "COMPLETED" in words and "REVIEWED" not in words:
        return internal, or_(other_than_completed, Job.reviewed_at.is_(None))
    return internal, None


def _conditions(session: Session, f: JobFilter) -> tuple[set[str] | None, list[ColumnElement[bool]], bool]:
    """(internal statuses or None, the other filters as conditions, whether they pick a few rows:
    one batch or one job)."""
    statuses, review = _statuses(f)
    where: list[ColumnElement[bool]] = [] if review is None else [review]
    if f.created_start:
        where.append(Job.created_at >= f.created_start)
    if f.created_end:
        where.append(Job.created_at <= f.created_end)
    if f.completed_start:
        where.append(Job.completed_at >= f.completed_start)
    if f.completed_end:
        where.append(Job.completed_at <= f.completed_end)
    if f.correct is not None:
        where.append(Job.correct.is_(f.correct))
    if f.tags:
        where.append(job_store.tags_match(session, f.tags))
    if f.batch_id:
        where.append(Job.batch_id == f.batch_id)
    if f.id_search:
        ref = f.id_search.strip()
        seq = stored_int(ref)  # digits past the 64-bit range compare with the uuid: they match nothing
        where.append(Job.seq == seq if seq is not None else Job.uuid == ref)
    return statuses, where, bool(f.batch_id or f.id_search)


def _filtered(session: Session, org_id: str, app_id: str, surface: str, f: JobFilter) -> Select[Job]:
    statuses, where, _ = _conditions(session, f)
    query = select(Job).where(Job.org_id == org_id, Job.app_id == app_id, Job.surface == surface, *where)
    return query.where(Job.status.in_(statuses)) if statuses is not None else query


def _input_lines(session: Session, job_ids: list[str]) -> dict[str, str | None]:
    rows = session.execute(select(JobInput.job_id, JobInput.data).where(JobInput.job_id.in_(job_ids),
                                                                        JobInput.tracked.is_(True)))
    return {job_id: InputPayload.from_row(data).inline for job_id, data in rows}


def input_line(ctx: AppContext, job: Job) -> str | None:
    """The job's input record (its one inline JSONL line), None for a file input."""
    with ctx.sessions() as session:
        return _input_lines(session, [job.id]).get(job.id)


def list_jobs(ctx: AppContext, org_id: str, app_id: str, surface: str, f: JobFilter, page: int, size: int,
              sort_by: str, order_by: str, after_seq: int | None = None
              ) -> tuple[list[Job], dict[str, str | None], int]:
    """One page of the app's jobs with their input lines, and the list's total (from the job
    counters, or a bounded count with filters they cannot answer: see `store.listing`).
    `after_seq` (internal, with `sortBy=id` ascending): the jobs after that one, from the first,
    without a total (-1)."""
    column = SORT_COLUMNS.get(sort_by)
    if column is None:
        raise Invalid(f"sortBy: unknown field {sort_by!r}", field="sortBy",
                      suggestion=f"Use one of {', '.join(SORT_COLUMNS)}.")
    if order_by.lower() not in ("asc", "desc"):
        raise Invalid(f"orderBy: {order_by!r} is neither asc nor desc", field="orderBy")
    order = (column,) if sort_by in UNIQUE_SORTS else (column, Job.seq)
    with ctx.sessions() as session:
        statuses, where, narrow = _conditions(session, f)
        if after_seq is not None:
            where.append(Job.seq > after_seq)
        listed = job_store.list_app_jobs(
            session, org_id, app_id, surface, statuses=statuses, conditions=where, narrow=narrow, order=order,
            descending=order_by.lower() == "desc", offset=page * size, limit=size,
            count_max=ctx.settings.limits.search_count_max, count=after_seq is None)
        lines = _input_lines(session, [j.id for j in listed.rows])
    fold_counts(ctx, listed.unfolded, org_id=org_id)
    return listed.rows, lines, listed.total


def job_response(ctx: AppContext, job: Job) -> Any:
    """The job's output as an object: the reviewed response if any, else the first record the
    pipeline wrote (JSONL / JSON / CSV), None before it completed."""
    if job.reviewed_response is not None:
        return job.reviewed_response
    if job.status != JobStatus.COMPLETED.value:
        return None
    with ctx.sessions() as session:
        output = session.scalar(select(JobOutput).where(JobOutput.job_id == job.id).order_by(JobOutput.seq).limit(1))
    if output is None:
        return None
    if output.content is not None:
        head = output.content
    else:
        with ctx.blobs.open(output.blob_key) as handle:
            head = handle.read(4 * 1024 * 1024)
    name = output.filename.lower()
    if name.endswith(".csv"):
        rows = list(csv.DictReader(io.StringIO(head.decode("utf-8", errors="replace"))))
        return rows[0] if len(rows) == 1 else rows
    if name.endswith(".json"):
        value = orjson.loads(head)
        return value[0] if isinstance(value, list) and len(value) == 1 else value
    lines = [orjson.loads(line) for line in head.splitlines() if line.strip()]
    return lines[0] if len(lines) == 1 else lines


def cancel(ctx: AppContext, job: Job) -> Job:
    if JobStatus(job.status) not in CANCELLABLE:
        raise Invalid(f"job {job.seq} is {superai_status(job.status)}; only SCHEDULED, IN_PROGRESS or SUSPENDED jobs "
                      "can be cancelled", field="job_id", code="invalid_state")
    return control.cancel_job(ctx, job.org_id, job.id)


def restart(ctx: AppContext, job: Job) -> Job:
    if JobStatus(job.status) not in RESTARTABLE:
        raise Invalid(f"job {job.seq} is {job.status}; only FAILED, CANCELED or EXPIRED jobs can be restarted",
                      field="job_id", code="invalid_state")
    return control.retry_job(ctx, job.org_id, job.id, clear_deadline=True)


# (job, action) -> the callback body, in the surface's wire shape (given by the API layer)
CallbackBody = Callable[[Job, str], dict[str, Any]]


def _callback(session: Session, job: Job, action: str, body: CallbackBody) -> None:
    if job.callback_url:
        outbox.enqueue(session, org_id=job.org_id, job_id=job.id, surface=job.surface or "",
                       event_type=f"job.{action.lower()}", url=job.callback_url, payload=body(job, action))


def review(ctx: AppContext, job: Job, response: Any, correct: bool | None, callback_body: CallbackBody) -> Job:
    if response is None and correct is None:
        raise Invalid("review needs `response` or `correct`", field="response",
                      suggestion='Send {"response": {...}} to edit the output and/or {"correct": true|false}.')
    if job.status != JobStatus.COMPLETED.value:
        raise Invalid(f"job {job.seq} has no output to review yet ({job.status})", field="job_id", code="invalid_state")
    with transaction(ctx.sessions) as session:
        row = session.get(Job, job.seq)
        if row is None:  # deleted meanwhile
            raise NotFound(f"job {job.seq} not found")
        now = utcnow()
        if response is not None:
            row.reviewed_response = response
        if correct is not None:
            row.correct = correct
        row.reviewed_at = row.updated_at = now
        action = "EDITED" if response is not None else ("ACCEPTED" if correct else "DECLINED")
        job_store.add_event(session, row.id, "INFO", "job.reviewed", f"Reviewed: {action}",
                            {"action": action, "correct": row.correct})
        session.flush()
        _callback(session, row, action, callback_body)
        session.expunge(row)
    return row


def change_tags(ctx: AppContext, org_id: str, app_id: str, surface: str, f: JobFilter, tags: list[str], add: bool,
                callback_body: CallbackBody) -> int:
    if not (f.id_search or f.batch_id or f.created_start):
        raise Invalid("name the jobs: give idSearch, batchId or createdStartDate", field="idSearch")
    changed = 0
    with transaction(ctx.sessions) as session:
        for job in session.scalars(_filtered(session, org_id, app_id, surface, f)):
            current = list(job.tags or [])
            new = current + [t for t in tags if t not in current] if add else [t for t in current if t not in tags]
            if new != current:
                job.tags, job.updated_at = new, utcnow()
                changed += 1
                session.flush()
                _callback(session, job, "TAG ADDED" if add else "TAG REMOVED", callback_body)
    return changed


def batches(ctx: AppContext, org_id: str, app_id: str, unprocessed_only: bool) -> list[tuple[Batch, dict[str, int]]]:
    with ctx.sessions() as session:
        rows = list(session.scalars(select(Batch).where(Batch.org_id == org_id, Batch.app_id == app_id)
                                    .order_by(Batch.created_at.desc())))
        counts, unfolded = _ended_counts(session, [b.id for b in rows])
    fold_counts(ctx, unfolded, batch_ids=[b.id for b in rows])
    out = [(b, counts.get(b.id, {})) for b in rows]
    if unprocessed_only:
        out = [(b, c) for b, c in out if sum(c.values()) < b.job_count]
    return out


@dataclass(frozen=True)
class BatchJob:
    """The columns a batch listing shows of each job."""

    seq: int
    uuid: str
    status: str
    reviewed_at: datetime | None


def batch(ctx: AppContext, org_id: str, app_id: str, batch_id: str) -> tuple[Batch, list[BatchJob], dict[str, int]]:
    with ctx.sessions() as session:
        row = session.scalar(select(Batch).where(Batch.id == batch_id, Batch.org_id == org_id, Batch.app_id == app_id))
        if row is None:
            raise NotFound(f"batch {batch_id} not found", field="batch_id")
        jobs = [BatchJob(*row) for row in session.execute(
            select(Job.seq, Job.uuid, Job.status, Job.reviewed_at).where(Job.batch_id == batch_id).order_by(Job.seq))]
        counts = _ended_counts(session, [batch_id])[0].get(batch_id, {})
    return row, jobs, counts


def _ended_counts(session: Session, batch_ids: list[str]) -> tuple[dict[str, dict[str, int]], int]:
    """{batch: {terminal status: jobs}} from the batch counters, and the extra counter rows read."""
    return counter_store.batch_status_counts(session, batch_ids, [s.value for s in TERMINAL])


def export_responses(ctx: AppContext, org_id: str, app_id: str, surface: str, f: JobFilter,
                     job_public: Callable[[Job, str | None], dict[str, Any]]) -> Operation:
    """Write a zip holding `jobs.json` (job objects in the surface's shape, from `job_public`, with
    `response`) and record the operation. Done within the request: exports stream job pages into
    the zip, so even large ones take seconds."""
    now = utcnow()
    with transaction(ctx.sessions) as session:
        op = Operation(org_id=org_id, app_id=app_id, kind="job_responses", status="IN_PROGRESS",
                       params={"filters": {k: str(v) for k, v in f.__dict__.items() if v not in (None, ())}},
                       created_at=now)
        session.add(op)
        session.flush()
        op_id = op.id
    key = keys.export_archive(org_id, op_id)
    count = 0
    try:
        with ctx.blobs.writer(key) as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive, \
                archive.open("jobs.json", "w", force_zip64=True) as out:
            out.write(b"[")
            after: int | None = None  # keyset: each page starts after the last job of the one before
            while True:
                jobs, lines, _ = list_jobs(ctx, org_id, app_id, surface, f, 0, 500, "id", "asc", after_seq=after)
                for job in jobs:
                    body = job_public(job, lines.get(job.id))
                    body["response"] = job_response(ctx, job)
                    out.write((b"," if count else b"") + orjson.dumps(body))
                    count += 1
                if len(jobs) < 500:
                    break
                after = jobs[-1].seq
            out.write(b"]")
        status, error = "COMPLETED", None
    except Exception as err:  # recorded on the operation for the client to see
        status, error = "FAILED", f"{type(err).__name__}: {err}"
    with transaction(ctx.sessions) as session:
        row = session.get(Operation, op_id)
        if row is None:  # deleted with its org meanwhile
            raise NotFound(f"operation {op_id} not found", field="operation_id")
        row.status, row.error, row.job_count, row.completed_at = status, error, count, utcnow()
        row.blob_key = key if status == "COMPLETED" else None
        session.flush()
        session.expunge(row)
    return row


def operation(ctx: AppContext, org_id: str, app_id: str, op_id: int) -> Operation:
    with ctx.sessions() as session:
        row = session.get(Operation, op_id)
    if row is None or row.org_id != org_id or row.app_id != app_id:
        raise NotFound(f"operation {op_id} not found", field="operation_id")
    return row


def export_link(ctx: AppContext, org_id: str, app_id: str, op_id: int, base_url: str, seconds_ttl: int
                ) -> tuple[str, int]:
    """A signed link to a completed export's zip and its expiry (unix seconds); the link lives
    `seconds_ttl`, at most `signed_url_ttl_seconds`."""
    op = operation(ctx, org_id, app_id, op_id)
    if op.status != "COMPLETED" or not op.blob_key:
        raise Invalid(f"operation {op_id} is {op.status}; a download URL exists once it is COMPLETED",
                      field="operation_id", code="invalid_state")
    ttl = min(seconds_ttl, ctx.settings.limits.signed_url_ttl_seconds)
    return ctx.signer.sign(base_url, op.blob_key, f"jobs_{op_id}.zip", ttl=ttl)
