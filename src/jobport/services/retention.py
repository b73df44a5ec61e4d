"""Retention: finished jobs older than their org's retention (`retention_job_days`, or the org's
own override) are deleted with their inputs, outputs, events, progress, settled callback
deliveries and blobs; expired idempotency keys are forgotten. `prune_once` is one pass;
`RetentionService` runs it every `retention_interval_seconds` beside the scheduler. A job that is
not finished is never pruned, however old; files uploaded through the Files API are the user's
and stay until they delete them."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from jobport.blobs import keys
from jobport.callbacks import outbox
from jobport.domain.errors import Invalid, NotFound
from jobport.services import uploads as upload_service
from jobport.services.context import AppContext
from jobport.store import idempotency as idempotency_store
from jobport.store import jobs as job_store
from jobport.store import orgs
from jobport.store import retention as retention_store
from jobport.store.db import transaction, utcnow

log = logging.getLogger(__name__)
IDEMPOTENCY_PRUNE_LIMIT = 10_000


@dataclass
class PruneReport:
    jobs: int = 0
    idempotency_keys: int = 0
    uploads: int = 0  # expired direct uploads removed (services/uploads.py)


def prune_once(ctx: AppContext, now: datetime | None = None) -> PruneReport:
    """One retention pass over every org (at most `retention_batch_size` jobs per org)."""
    now = now or utcnow()
    settings = ctx.settings.retention
    report = PruneReport()
    with ctx.sessions() as session:
        org_ids = retention_store.org_ids(session)
        overrides = retention_store.overrides(session)
    for org_id in org_ids:
        days = overrides.get(org_id, settings.job_days)
        if days > 0:
            report.jobs += _prune_org(ctx, org_id, now - timedelta(days=days), settings.batch_size)
    with transaction(ctx.sessions) as session:
        report.idempotency_keys = idempotency_store.prune(
            session, now - timedelta(hours=settings.idempotency_hours), IDEMPOTENCY_PRUNE_LIMIT)
    report.uploads = upload_service.sweep_expired(ctx, now)
    return report


def _prune_org(ctx: AppContext, org_id: str, cutoff: datetime, limit: int) -> int:
    with transaction(ctx.sessions) as session:
        job_ids = retention_store.finished_before(session, org_id, cutoff, limit)
        outbox.delete_settled_for_jobs(session, job_ids)
        for job_id in job_ids:
            job_store.delete_job(session, job_id)
    for job_id in job_ids:
        ctx.blobs.delete_prefix(keys.job_prefix(job_id))
    return len(job_ids)


def set_org_retention(ctx: AppContext, org_name: str, job_days: float | None) -> None:
    """Give the org its own retention in days (0: keep forever), or with None use the setting again."""
    if job_days is not None and job_days < 0:
        raise Invalid("job_days: give 0 (keep forever) or a positive number of days", field="job_days")
    with transaction(ctx.sessions) as session:
        org = orgs.find_org(session, org_name)
        if org is None:
            raise NotFound(f"no org named {org_name!r}", field="org",
                           suggestion="Check the name (orgs are made by `jobport keys create --org NAME`).")
        retention_store.set_override(session, org.id, job_days, utcnow())


class RetentionService:
    """`prune_once` every `retention_interval_seconds` on a daemon thread (first pass at start)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_report: PruneReport | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="jobport-retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        interval = self.ctx.settings.retention.interval_seconds
        while not self._stop.is_set():
            try:
                self.last_report = prune_once(self.ctx)
                if self.last_report.jobs or self.last_report.idempotency_keys:
                    log.info("retention pruned %d jobs and %d idempotency keys", self.last_report.jobs,
                             self.last_report.idempotency_keys)
            except Exception:  # a failed pass (database away) is retried at the next interval
                log.exception("retention pass failed")
            self._stop.wait(interval)
