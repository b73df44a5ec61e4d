"""What a training job does after it completes, as the transition reaction `AfterTraining`
(wired in `server.build_context`): a `tabular-training` job whose config has `publish: {app,
version}` is published as that app version (`publish.publish`, the same checks as the publish
route), and a `machine-state-evaluation` job whose config has `save_reference_set` saves its
recordings as that named reference set (`services.reference_sets`).

The reaction runs inside the transaction that moves jobs to COMPLETED; the follow-ups need that
move committed (they open their own transactions, read the job's outputs and copy blobs), so the
reaction only picks the jobs and, once the transaction has committed, hands them to one
background thread. Each follow-up ends with an event on the job: `publish.done` /
`reference_set.saved` (SUCCESS) or `publish.failed` / `reference_set.failed` (ERROR, with the
error code and message), and a failure also sets the job's `error`; the job stays COMPLETED
(its training outputs are there, and the route can publish them once the cause is fixed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from jobport.domain.errors import DomainError
from jobport.domain.payloads import component_config
from jobport.domain.statuses import JobStatus
from jobport.services.context import AppContext
from jobport.store import jobs as job_store
from jobport.store.db import transaction
from jobport.store.tables import Job

log = structlog.get_logger("jobport.training")

TRAINING_PIPELINE = "tabular-training"
EVALUATION_PIPELINE = "machine-state-evaluation"
FOLLOWED = (TRAINING_PIPELINE, EVALUATION_PIPELINE)
_PENDING = "jobport.after_training"  # session.info key: the follow-ups waiting for the commit


@dataclass(frozen=True)
class FollowUp:
    """One thing to do for a completed job: `kind` publish or reference_set, with its config."""

    kind: str
    job_id: str
    org_id: str
    target: dict[str, Any]


def follow_ups(job_id: str, org_id: str, pipeline_key: str, config: dict[str, Any]) -> list[FollowUp]:
    """What the completed job's config asks for after it completes."""
    if pipeline_key == TRAINING_PIPELINE and isinstance(config.get("publish"), dict):
        return [FollowUp("publish", job_id, org_id, config["publish"])]
    if pipeline_key == EVALUATION_PIPELINE and config.get("save_reference_set"):
        return [FollowUp("reference_set", job_id, org_id, {"name": config["save_reference_set"]})]
    return []


class AfterTraining:
    """Reaction: publish / save the reference set of training jobs that entered COMPLETED."""

    def __init__(self) -> None:
        self._ctx: AppContext | None = None
        self._pool: ThreadPoolExecutor | None = None

    def bind(self, ctx: AppContext) -> None:
        """The context the follow-ups run with (it is built after the transitions it holds)."""
        self._ctx = ctx

    def __call__(self, session: Session, target: JobStatus, job_ids: Sequence[str]) -> None:
        if target is not JobStatus.COMPLETED or self._ctx is None:
            return
        rows = session.execute(select(Job.id, Job.org_id, Job.pipeline_key, Job.parameters)
                               .where(Job.id.in_(list(job_ids)), Job.pipeline_key.in_(FOLLOWED),
                                      Job.app_id.is_(None)))
        found = [f for job_id, org_id, key, parameters in rows
                 for f in follow_ups(job_id, org_id, key, component_config(parameters, "worker"))]
        if not found:
            return
        if _PENDING not in session.info:
            session.info[_PENDING] = []
            event.listen(session, "after_commit", self._committed, once=True)
            event.listen(session, "after_rollback", _forget, once=True)
        session.info[_PENDING].extend(found)

    def _committed(self, session: Session) -> None:
        found = session.info.pop(_PENDING, [])
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobport-after-training")
        for item in found:
            self._pool.submit(run_follow_up, self._ctx, item)

    def wait(self) -> None:
        """Finish the follow-ups handed over so far (shutdown)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)


def run_follow_up(ctx: AppContext | None, item: FollowUp) -> None:
    """Do one follow-up and record its outcome on the job; never raises."""
    assert ctx is not None
    runner = _RUNNERS[item.kind]
    try:
        message, payload = runner(ctx, item)
    except DomainError as err:
        _record_failure(ctx, item, err.code, err.problems[0].sentence() if err.problems else err.message)
    except Exception as err:  # a follow-up's bug must still reach the job's owner, not only the log
        log.exception("follow-up failed", job_id=item.job_id, kind=item.kind)
        _record_failure(ctx, item, "internal_error", f"{type(err).__name__}: {err}")
    else:
        with transaction(ctx.sessions) as session:
            job_store.add_event(session, item.job_id, "SUCCESS", _EVENTS[item.kind][0], message, payload)


def _record_failure(ctx: AppContext, item: FollowUp, code: str, message: str) -> None:
    what = "publish" if item.kind == "publish" else "saving the reference set"
    text = f"{what} failed: {message}"
    with transaction(ctx.sessions) as session:
        job_store.add_event(session, item.job_id, "ERROR", _EVENTS[item.kind][1], text,
                            {"error_code": code, **item.target})
        job = job_store.get(session, item.org_id, item.job_id)
        if job is not None:
            job.error = {"code": f"{item.kind}_failed", "message": text}


def _publish(ctx: AppContext, item: FollowUp) -> tuple[str, dict[str, Any]]:
    from jobport.services.jobs import publish as publish_service

    body = publish_service.PublishIn(app=item.target["app"], version=item.target.get("version", "1.0.0"))
    app = publish_service.publish(ctx, item.org_id, item.job_id, body)
    return (f"published as app {app.name} version {body.version}",
            {"app_id": app.id, "app": app.name, "version": body.version})


def _save_reference_set(ctx: AppContext, item: FollowUp) -> tuple[str, dict[str, Any]]:
    from jobport.services import reference_sets

    saved = reference_sets.save_from_job(ctx, item.org_id, item.job_id, item.target["name"])
    return (f"saved {saved['recordings']} recordings as reference set {saved['name']}", saved)


_RUNNERS: dict[str, Callable[[AppContext, FollowUp], tuple[str, dict[str, Any]]]] = {
    "publish": _publish, "reference_set": _save_reference_set}
_EVENTS = {"publish": ("publish.done", "publish.failed"),
           "reference_set": ("reference_set.saved", "reference_set.failed")}
