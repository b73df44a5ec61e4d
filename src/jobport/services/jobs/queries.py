"""Reading jobs on the native (Archetype) API: one job with its input counts, lists with filters,
a job's inputs, outputs, events and progress entries, and the queue depths. Read-only sessions.
`app_id` (an app key's app): only that app's jobs are listed or found (others answer 404)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from jobport.domain.statuses import InputStatus
from jobport.services.context import AppContext
from jobport.services.jobs.control import owned
from jobport.services.paging import Page, fold_counts
from jobport.store import jobs as job_store
from jobport.store.tables import Job, JobEvent, JobInput, JobOutput, JobProgress

Counts = dict[str, int]


@dataclass(frozen=True)
class JobWithCounts:
    job: Job
    counts: Counts


@dataclass(frozen=True)
class InputProgress:
    input: JobInput
    latest: JobProgress | None


@dataclass(frozen=True)
class OutputRow:
    output: JobOutput
    input_file_id: str | None


def job_with_counts(ctx: AppContext, org_id: str, job_id: str, app_id: str | None = None) -> JobWithCounts:
    with ctx.sessions() as session:
        job = owned(session, org_id, job_id, app_id)
        return JobWithCounts(job, job_store.input_counts(session, [job.id])[job.id])


def counts_of(ctx: AppContext, job: Job) -> JobWithCounts:
    with ctx.sessions() as session:
        return JobWithCounts(job, job_store.input_counts(session, [job.id])[job.id])


def list_jobs(ctx: AppContext, org_id: str, *, pipeline_type: str | None, statuses: Sequence[str] | None,
              text: str | None, offset: int, limit: int, app_id: str | None = None) -> Page[JobWithCounts]:
    """The org's jobs, newest first (`app_id`: only that app's, for an app key)."""
    with ctx.sessions() as session:
        listed = job_store.list_jobs(session, org_id, pipeline_type=pipeline_type, statuses=statuses, text=text,
                                     offset=offset, limit=limit, count_max=ctx.settings.limits.search_count_max,
                                     app_id=app_id)
        counts = job_store.input_counts(session, [r.id for r in listed.rows])
    fold_counts(ctx, listed.unfolded, org_id=org_id)
    return Page([JobWithCounts(r, counts[r.id]) for r in listed.rows], listed.total)


def queue_depths(ctx: AppContext) -> dict[str, int]:
    with ctx.sessions() as session:
        return job_store.queue_depths(session)


def list_inputs(ctx: AppContext, org_id: str, job_id: str, port_name: str | None, status: InputStatus | None,
                offset: int, limit: int, app_id: str | None = None) -> Page[JobInput]:
    with ctx.sessions() as session:
        job = owned(session, org_id, job_id, app_id)
        rows, total = job_store.list_inputs(session, job.id, port_name, [status.value] if status else None,
                                            offset, limit, ctx.settings.limits.list_count_max)
    return Page(rows, total)


def inputs_progress(ctx: AppContext, org_id: str, job_id: str, port_name: str | None,
                    statuses: Sequence[InputStatus] | None, newest_first: bool, limit: int,
                    app_id: str | None = None) -> list[InputProgress]:
    """Tracked inputs with their latest progress entry."""
    wanted = [s.value for s in statuses] if statuses else [s.value for s in InputStatus if s != InputStatus.REFERENCE]
    with ctx.sessions() as session:
        job = owned(session, org_id, job_id, app_id)
        rows = job_store.tracked_inputs(session, job.id, port_name, wanted, newest_first, limit)
        latest = job_store.latest_progress(session, [r.id for r in rows])
    return [InputProgress(row, latest.get(row.id)) for row in rows]


def input_counts(ctx: AppContext, org_id: str, job_id: str, port_name: str | None,
                 app_id: str | None = None) -> JobWithCounts:
    with ctx.sessions() as session:
        job = owned(session, org_id, job_id, app_id)
        return JobWithCounts(job, job_store.input_counts(session, [job.id], port_name)[job.id])


def list_outputs(ctx: AppContext, org_id: str, job_id: str, port_name: str | None, input_id: str | None,
                 offset: int, limit: int, app_id: str | None = None) -> Page[OutputRow]:
    with ctx.sessions() as session:
        job = owned(session, org_id, job_id, app_id)
        rows, total = job_store.list_outputs(session, job.id, port_name, input_id, offset, limit,
                                                    ctx.settings.limits.list_count_max)
        files = job_store.input_file_ids(session, [r.input_id for r in rows if r.input_id])
    return Page([OutputRow(r, files.get(r.input_id) if r.input_id else None) for r in rows], total)


def list_events(ctx: AppContext, org_id: str, job_id: str, level: str | None, event_type: str | None,
                input_id: str | None, offset: int, limit: int, app_id: str | None = None) -> Page[JobEvent]:
    with ctx.sessions() as session:
        job = owned(session, org_id, job_id, app_id)
        rows, total = job_store.list_events(session, job.id, level, event_type, input_id, offset, limit,
                                                   ctx.settings.limits.list_count_max)
    return Page(rows, total)


def list_progress(ctx: AppContext, org_id: str, job_id: str, kind: str | None, input_id: str | None,
                  offset: int, limit: int, app_id: str | None = None) -> Page[JobProgress]:
    with ctx.sessions() as session:
        job = owned(session, org_id, job_id, app_id)
        rows, total = job_store.list_progress(session, job.id, kind, input_id, offset, limit,
                                                     ctx.settings.limits.list_count_max)
    return Page(rows, total)
