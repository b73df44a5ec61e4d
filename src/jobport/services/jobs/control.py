"""A job's controls after creation: cancel, retry (re-queue what failed), delete, and queueing
parked jobs. Each is one transaction through the transitions service; the running work of a
cancelled or deleted job is stopped once the move committed."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from jobport.blobs import keys
from jobport.domain.errors import Conflict, NotFound
from jobport.domain.statuses import CANCELLABLE, RETRYABLE, TERMINAL, InputStatus, JobStatus
from jobport.services.context import AppContext
from jobport.store import jobs as job_store
from jobport.store.db import transaction
from jobport.store.tables import Job


def owned(session: Session, org_id: str, job_id: str, app_id: str | None = None) -> Job:
    """The org's job (of app `app_id` if given: an app key's), or 404 (also for another org's or
    another app's job: its existence is not revealed)."""
    job = job_store.get(session, org_id, job_id)
    if job is None or (app_id is not None and job.app_id != app_id):
        raise NotFound(f"job {job_id!r} not found", suggestion="List your jobs with GET /v0.5/batch/jobs.")
    return job


def get_job(ctx: AppContext, org_id: str, job_id: str, app_id: str | None = None) -> Job:
    with ctx.sessions() as session:
        return owned(session, org_id, job_id, app_id)


def cancel_job(ctx: AppContext, org_id: str, job_id: str, app_id: str | None = None) -> Job:
    with transaction(ctx.sessions) as session:
        job = owned(session, org_id, job_id, app_id)
        if JobStatus(job.status) not in CANCELLABLE or not ctx.transitions.move(
            session, job.id, JobStatus.CANCELLED, "Cancelled by request", level="WARN"
        ):
            raise Conflict(
                f"job {job_id} is {job.status} and can no longer be cancelled",
                code="invalid_state", suggestion="Only PENDING, RUNNING or PREEMPTED jobs can be cancelled.")
        session.refresh(job)
    ctx.stop_running(job_id)
    return job


def retry_job(ctx: AppContext, org_id: str, job_id: str, *, clear_deadline: bool = False,
              app_id: str | None = None) -> Job:
    """Re-queue a job that ended unfinished; its failed inputs run again, completed ones are kept.
    `clear_deadline`: the job gets no stale completion deadline (a super.AI restart)."""
    with transaction(ctx.sessions) as session:
        job = owned(session, org_id, job_id, app_id)
        values = {"retry_count": job.retry_count + 1, "error": None, "completed_at": None, "failed_at": None,
                  "cancelled_at": None, **({"expires_at": None} if clear_deadline else {})}
        if JobStatus(job.status) not in RETRYABLE or not ctx.transitions.move(
            session, job.id, JobStatus.PENDING, "Re-queued by retry", event_type="job.retried", values=values,
        ):
            raise Conflict(
                f"job {job_id} is {job.status}; only FAILED or CANCELLED jobs can be retried",
                code="invalid_state", suggestion="Wait for the job to end, or cancel it first.")
        failed = job_store.input_ids_with_status(session, job.id, InputStatus.FAILED)
        stale_keys = job_store.delete_outputs_of_inputs(session, job.id, failed) if failed else []
        job_store.release_failed(session, failed)
        session.refresh(job)  # the job as this retry left it (the scheduler may move it on at once)
    ctx.limit_state.usage.forget(org_id)  # its quota usage rose without a create
    for key in stale_keys:
        ctx.blobs.delete(key)
    ctx.wake_scheduler()
    return job


def delete_job(ctx: AppContext, org_id: str, job_id: str, app_id: str | None = None) -> str:
    job = get_job(ctx, org_id, job_id, app_id)
    if JobStatus(job.status) not in TERMINAL:
        with transaction(ctx.sessions) as session:
            ctx.transitions.move(session, job.id, JobStatus.CANCELLED, "Cancelled because the job is being deleted")
        ctx.stop_running(job_id)
    with transaction(ctx.sessions) as session:
        job_store.delete_job(session, job.id)
    ctx.blobs.delete_prefix(keys.job_prefix(job.id))
    return job.id


def queue_parked(ctx: AppContext, org_id: str, app_id: str, refs: Collection[str] | None = None) -> int:
    """Move the app's PARKED jobs (all, or those whose numeric id or uuid is in `refs`) to the queue."""
    moved = 0
    with transaction(ctx.sessions) as session:
        query = select(Job.id, Job.seq, Job.uuid).where(Job.org_id == org_id, Job.app_id == app_id,
                                                       Job.status == JobStatus.PARKED.value)
        chosen = [job_id for job_id, seq, job_uuid in session.execute(query).all()
                  if refs is None or str(seq) in refs or job_uuid in refs]
        moved = len(ctx.transitions.move_many(session, chosen, JobStatus.PENDING, "Queued from the parked state",
                                              event_type="job.queued"))
    if moved:
        ctx.limit_state.usage.forget(org_id)  # its quota usage rose without a create
        ctx.wake_scheduler()
    return moved
