"""The transition reaction that puts callbacks in the outbox, for every surface.

`JobCallbacks` is wired into `services.transitions.Transitions` at composition (`server.py`); it
runs inside the moving transaction, so a job's status and its callback commit (or roll back)
together. Each surface says how its callbacks look (`SurfaceCallbacks`, given by the API layer):

- a job with a `callback_url` that enters one of its surface's `statuses` (the terminal ones by
  default) gets one delivery whose body the surface renders from the row as it is after the move;
- when the last job of a batch ends and the batch's app has a `batch_callback_url`, a surface with
  `render_batch` gets one batch callback (a guarded UPDATE marks the batch, so it is sent once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from jobport.callbacks import outbox, payloads
from jobport.domain.statuses import TERMINAL, JobStatus
from jobport.store import jobs as job_store
from jobport.store.db import utcnow
from jobport.store.tables import App, Batch, Job

log = structlog.get_logger("jobport.callbacks")

# (job after the move, its tracked input counts by status, event type) -> the whole callback body
JobRenderer = Callable[[Job, dict[str, int], str], dict[str, Any]]
# (batch id, app id, ended jobs by internal status, the batch's job count) -> the whole body
BatchRenderer = Callable[[str, str, dict[str, int], int], dict[str, Any]]

DEFAULT_SURFACE = "archetype"  # jobs whose `surface` is None were created on the native API


@dataclass(frozen=True)
class SurfaceCallbacks:
    render: JobRenderer
    statuses: frozenset[JobStatus] = TERMINAL
    render_batch: BatchRenderer | None = None


def surface_of(job: Job) -> str:
    return job.surface or DEFAULT_SURFACE


class JobCallbacks:
    """Reaction: enqueue job and batch callbacks for jobs that entered a callback status."""

    def __init__(self, surfaces: Mapping[str, SurfaceCallbacks]) -> None:
        self.surfaces = dict(surfaces)

    def __call__(self, session: Session, target: JobStatus, job_ids: Sequence[str]) -> None:
        if target not in TERMINAL and not any(target in s.statuses for s in self.surfaces.values()):
            return
        self._job_callbacks(session, target, job_ids)
        if target in TERMINAL:
            self._batch_callbacks(session, job_ids)

    def _job_callbacks(self, session: Session, target: JobStatus, job_ids: Sequence[str]) -> None:
        # the moves were bulk UPDATEs (synchronize_session=False): read the rows afresh
        jobs = list(session.scalars(select(Job).where(Job.id.in_(list(job_ids)), Job.callback_url.is_not(None))
                                    .execution_options(populate_existing=True)))
        if not jobs:
            return  # the common case: one query for the whole pass
        counts = job_store.input_counts(session, [job.id for job in jobs])
        event_type = f"job.{target.value.lower()}"
        for job in jobs:
            surface = surface_of(job)
            config = self.surfaces.get(surface)
            if config is None:
                log.warning("no callback renderer for surface", surface=surface, job=job.id)
                continue
            if target not in config.statuses:
                continue
            try:
                body = config.render(job, counts[job.id], event_type)
            except Exception:  # a rendering bug must neither lose the callback nor block the move
                log.exception("rendering a callback failed; sending a minimal one", job=job.id)
                body = payloads.envelope(event_type, {"id": job.id, "status": target.value, "error": "render_failed"})
            outbox.enqueue(session, org_id=job.org_id, job_id=job.id, surface=surface, event_type=event_type,
                           url=job.callback_url or "", payload=body)

    def _batch_callbacks(self, session: Session, job_ids: Sequence[str]) -> None:
        batched = {s for s, c in self.surfaces.items() if c.render_batch is not None}
        if not batched:
            return
        rows = session.execute(select(Job.batch_id, Job.surface, Job.app_id, Job.org_id).where(
            Job.id.in_(list(job_ids)), Job.batch_id.is_not(None), Job.surface.in_(batched)).distinct()).all()
        for batch_id, surface, app_id, org_id in rows:
            if app_id is not None:
                self._batch_callback(session, batch_id, surface, app_id, org_id)

    def _batch_callback(self, session: Session, batch_id: str, surface: str, app_id: str, org_id: str) -> None:
        url = session.scalar(select(App.batch_callback_url).where(App.id == app_id))
        if not url:
            return
        ended = [s.value for s in TERMINAL]
        open_jobs = session.scalar(select(func.count()).select_from(Job).where(
            Job.batch_id == batch_id, Job.status.not_in(ended)))
        if open_jobs:
            return
        marked = session.execute(update(Batch).where(Batch.id == batch_id, Batch.callback_sent_at.is_(None))
                                 .values(callback_sent_at=utcnow()).execution_options(synchronize_session=False))
        if marked.rowcount != 1:
            return
        counts = dict(session.execute(select(Job.status, func.count()).where(Job.batch_id == batch_id)
                                      .group_by(Job.status)).all())
        render = self.surfaces[surface].render_batch
        assert render is not None
        body = render(batch_id, app_id, counts, sum(counts.values()))
        outbox.enqueue(session, org_id=org_id, job_id=None, surface=surface, event_type="batch.completed",
                       url=url, payload=body)
