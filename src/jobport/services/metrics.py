"""Prometheus metrics (`GET /metrics`, text exposition format): what the database says at scrape
time (`DatabaseCollector`), so every replica and role answers the same server-wide figures however
many processes run, followed by this process's own counters and histograms (HTTP requests, jobs
submitted and finished here, scheduler ticks...: `services.telemetry`), which Prometheus sums over
the processes it scrapes. Names start with `jobport_`; no label is per job, per key or per org."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from jobport import __version__
from jobport.callbacks import outbox
from jobport.domain.times import as_utc
from jobport.services.context import AppContext
from jobport.store import jobs as job_store
from jobport.store import metrics as metric_store
from jobport.store.db import utcnow

CONTENT_TYPE = CONTENT_TYPE_LATEST


class DatabaseCollector(Collector):
    """Reads the aggregates in one read-only session per scrape."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        with self.ctx.sessions() as session:
            jobs = metric_store.jobs_by_type_and_status(session)
            depths = job_store.queue_depths(session)
            oldest = metric_store.oldest_queued_at(session)
            pending = outbox.pending_count(session)
            billed = metric_store.billed_units(session)
            beat = metric_store.last_heartbeat(session)
        stored = GaugeMetricFamily("jobport_jobs", "Stored jobs by pipeline type and status.",
                                   labels=["pipeline_type", "status"])
        for (kind, status), n in sorted(jobs.items()):
            stored.add_metric([kind, status], n)
        yield stored
        queued = GaugeMetricFamily("jobport_jobs_queued", "Jobs waiting to run (pending, admitted, preempted), by "
                                   "pipeline type.", labels=["pipeline_type"])
        for kind in sorted({"batch", "training", *depths}):
            queued.add_metric([kind], depths.get(kind, 0))
        yield queued
        age = (now - as_utc(oldest)).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily("jobport_oldest_queued_age_seconds", "Age of the oldest job waiting to run "
                                "(0 when none waits).", value=max(0.0, age))
        yield GaugeMetricFamily("jobport_callbacks_pending", "Callback deliveries not yet sent or given up.",
                                value=pending)
        yield GaugeMetricFamily("jobport_billed_units", "Units billed so far ($0.001 each), all orgs.", value=billed)
        since = (now - as_utc(beat)).total_seconds() if beat is not None else -1.0
        yield GaugeMetricFamily("jobport_scheduler_heartbeat_age_seconds", "Seconds since the active scheduler's "
                                "last heartbeat (-1: no active scheduler has reported).", value=since)
        info = InfoMetricFamily("jobport_build", "The server's version and role.")
        info.add_metric([], {"version": __version__, "role": self.ctx.settings.role})
        yield info


def exposition(ctx: AppContext) -> bytes:
    """The metrics as Prometheus text (registries of their own: nothing from other libraries)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(ctx))
    registry.register(ctx.telemetry.registry)
    return bytes(generate_latest(registry))
