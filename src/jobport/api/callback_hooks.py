"""The transition hook that puts job callbacks in the outbox, for every surface.

Registered in `jobport.store.jobs.TRANSITION_HOOKS` by the app (`install`); `move_job` calls it
inside the moving transaction, so a job's terminal status and its callback commit together.

A job with a `callback_url` that enters a status of its surface's `statuses` (terminal ones:
COMPLETED, FAILED, CANCELLED, EXPIRED) gets one delivery whose payload is the Standard Webhooks
envelope `{"type": "job.<status>", "timestamp", "data": <the job as its surface renders it>}`.

Extension point: `SURFACES` maps a job's `surface` (None = Archetype / native) to how its callbacks
are rendered. The super.AI surface adds its own entry, e.g.
`SURFACES["superai"] = SurfaceCallbacks(render_superai, TERMINAL | {JobStatus.SUSPENDED})`, where the
renderer returns the whole body (super.AI's legacy `{"id", "uuid", "state", "action", ...}`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from jobport.api.archetype import render as archetype_render
from jobport.api.gravity import render as gravity_render
from jobport.api.superai import render as superai_render
from jobport.callbacks import outbox, payloads
from jobport.domain.statuses import TERMINAL, JobStatus
from jobport.store import jobs as job_store
from jobport.store.db import utcnow
from jobport.store.tables import App, Batch, Job

log = structlog.get_logger("jobport.callbacks")

# (session, job after the move, event type) -> the whole callback body
Renderer = Callable[[Session, Job, str], dict[str, Any]]


@dataclass(frozen=True)
class SurfaceCallbacks:
    render: Renderer
    statuses: frozenset[JobStatus] = TERMINAL


def render_archetype(session: Session, job: Job, event_type: str) -> dict[str, Any]:
    counts = job_store.input_counts(session, [job.id])[job.id]
    return payloads.envelope(event_type, archetype_render.job_public(job, counts))


def render_gravity(session: Session, job: Job, event_type: str) -> dict[str, Any]:
    return payloads.envelope(event_type, gravity_render.job_public(job))


def render_superai(session: Session, job: Job, event_type: str) -> dict[str, Any]:
    """super.AI's legacy v1 job callback (no envelope: the body its receivers parse)."""
    return superai_render.job_callback(job, "RESOLVED")


ARCHETYPE = "archetype"
SURFACES: dict[str, SurfaceCallbacks] = {
    ARCHETYPE: SurfaceCallbacks(render_archetype),
    "gravity": SurfaceCallbacks(render_gravity),
    "superai": SurfaceCallbacks(render_superai, TERMINAL | {JobStatus.SUSPENDED}),
}


def surface_of(job: Job) -> str:
    return job.surface or ARCHETYPE


def enqueue_job_callback(session: Session, job_id: str, target: JobStatus) -> None:
    """TRANSITION_HOOKS entry: enqueue the job's callback when it entered a callback status."""
    if target not in TERMINAL and not any(target in s.statuses for s in SURFACES.values()):
        return
    if not session.scalar(select(Job.callback_url).where(Job.id == job_id)):
        return  # the common case, answered without loading the row
    # move_job updated the row with a bulk UPDATE (synchronize_session=False): read it afresh
    job = session.scalar(select(Job).where(Job.id == job_id).execution_options(populate_existing=True))
    if job is None or not job.callback_url:
        return
    surface = surface_of(job)
    config = SURFACES.get(surface)
    if config is None:
        log.warning("no callback renderer for surface", surface=surface, job=job_id)
        return
    if target not in config.statuses:
        return
    event_type = f"job.{target.value.lower()}"
    try:
        payload = config.render(session, job, event_type)
    except Exception:  # a rendering bug must neither lose the callback nor block the job's move
        log.exception("rendering a callback failed; sending a minimal one", job=job_id)
        payload = payloads.envelope(event_type, {"id": job.id, "status": target.value, "error": "render_failed"})
    outbox.enqueue(session, org_id=job.org_id, job_id=job.id, surface=surface, event_type=event_type,
                   url=job.callback_url, payload=payload)


def enqueue_batch_callback(session: Session, job_id: str, target: JobStatus) -> None:
    """TRANSITION_HOOKS entry: when the last job of a super.AI batch ends and its app has a batch
    callback URL, enqueue the v2 batch callback, once (a guarded UPDATE marks the batch)."""
    if target not in TERMINAL:
        return
    job = session.execute(select(Job.surface, Job.batch_id, Job.app_id, Job.org_id).where(Job.id == job_id)).first()
    if job is None or job.surface != "superai" or not job.batch_id or not job.app_id:
        return
    app = session.execute(select(App.id, App.batch_callback_url).where(App.id == job.app_id)).first()
    if app is None or not app.batch_callback_url:
        return
    ended = [s.value for s in TERMINAL]
    open_jobs = session.scalar(select(func.count()).select_from(Job).where(
        Job.batch_id == job.batch_id, Job.status.not_in(ended)))
    if open_jobs:
        return
    marked = session.execute(update(Batch).where(Batch.id == job.batch_id, Batch.callback_sent_at.is_(None))
                             .values(callback_sent_at=utcnow()).execution_options(synchronize_session=False))
    if marked.rowcount != 1:
        return
    counts = dict(session.execute(select(Job.status, func.count()).where(Job.batch_id == job.batch_id)
                                  .group_by(Job.status)).all())
    state = superai_render.batch_state(counts, sum(counts.values()))
    outbox.enqueue(session, org_id=job.org_id, job_id=None, surface="superai", event_type="batch.completed",
                   url=app.batch_callback_url,
                   payload={"version": "2", "entityType": "batch", "entityId": job.batch_id, "state": state,
                            "appId": app.id})


def install() -> None:
    """Register the hooks once per process (create_app may run more than once, e.g. in tests)."""
    for hook in (enqueue_job_callback, enqueue_batch_callback):
        if hook not in job_store.TRANSITION_HOOKS:
            job_store.TRANSITION_HOOKS.append(hook)
