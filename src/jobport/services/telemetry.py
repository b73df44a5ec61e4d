"""This process's Prometheus instruments (`Telemetry`), on a registry of its own that `/metrics`
exposes next to the database-read figures (`services.metrics`).

Each figure is recorded in the process where its event happens: HTTP requests in the process that
served them; jobs submitted where they were created (an API replica, or the all-in-one server);
job starts, finishes, retries, preemptions, worker slots and scheduler ticks in the scheduler
process (a cancel is a finish recorded by the process that cancelled). Summed over every process's
`/metrics`, the counters give the server-wide totals. No label names a job, an input, a key or an
org: labels are pipeline types, surfaces, statuses, route templates and fixed words.

Job figures are taken from the database work itself, so that no code path that creates or moves a
job can forget them, and they count only what committed:
- `on_job_moves` is a transition reaction (`services.transitions`): a job entering RUNNING for the
  first time observes its queue wait (created to started), a job entering a terminal status counts
  as finished and observes its run time (started to finished);
- `watch(sessions)` listens to the session factory: a row inserted into `jobs` (the job builder's
  bulk INSERT or its ORM insert) counts as submitted.
What a transaction observed is recorded when it commits and dropped when it rolls back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from jobport.domain.statuses import TERMINAL, JobStatus
from jobport.domain.times import as_utc
from jobport.store.tables import Job

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0)
TICK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CALLBACK_RESULTS = ("delivered", "failed", "given_up")
DEFAULT_SURFACE = "archetype"  # jobs created on the native API carry no surface
_PENDING = "jobport.telemetry.pending"  # Session.info key: observations waiting for the commit


class Telemetry:
    """The instruments of one process (one application context)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter("jobport_http_requests", "HTTP requests served by this process.",
                                     ["method", "route", "status_class"], registry=r)
        self.http_duration = Histogram("jobport_http_request_duration_seconds", "Time to answer an HTTP request "
                                       "(until the response's last byte).", ["method", "route", "status_class"],
                                       buckets=HTTP_BUCKETS, registry=r)
        self.jobs_submitted = Counter("jobport_jobs_submitted", "Jobs created in this process.",
                                      ["pipeline_type", "surface"], registry=r)
        self.jobs_finished = Counter("jobport_jobs_finished", "Jobs that entered a terminal status in this process.",
                                     ["pipeline_type", "status"], registry=r)
        self.queue_wait = Histogram("jobport_job_queue_wait_seconds", "From a job's creation to its first start.",
                                    ["pipeline_type"], buckets=JOB_BUCKETS, registry=r)
        self.run_duration = Histogram("jobport_job_run_duration_seconds", "From a job's first start to its terminal "
                                      "status (jobs that never started are not observed).",
                                      ["pipeline_type", "status"], buckets=JOB_BUCKETS, registry=r)
        self.input_retries = Counter("jobport_input_retries", "Inputs re-queued after their worker died while "
                                     "processing them (an attempt spent).", registry=r)
        self.input_preemptions = Counter("jobport_input_preemptions", "Inputs re-queued after the infrastructure "
                                         "interrupted them (no attempt spent).", registry=r)
        self.worker_slots_free = Gauge("jobport_worker_slots_available", "Tasks the scheduler's executor takes now "
                                       "(after the last scheduler pass).", registry=r)
        self.worker_tasks = Gauge("jobport_worker_tasks_in_flight", "Tasks running or waiting in a worker "
                                  "(after the last scheduler pass).", registry=r)
        self.ticks = Counter("jobport_scheduler_ticks", "Passes of this process's active scheduler.", registry=r)
        self.last_tick = Gauge("jobport_scheduler_last_tick_timestamp_seconds", "When this process's scheduler "
                               "last finished a pass (Unix time).", registry=r)
        self.tick_duration = Histogram("jobport_scheduler_tick_duration_seconds", "Work of one scheduler pass (not "
                                       "its wait for worker messages).", buckets=TICK_BUCKETS, registry=r)
        self.callback_attempts = Counter("jobport_callback_attempts", "Callback delivery attempts by result: "
                                         "`delivered` (2xx), `failed` (retried later), `given_up` (the delivery "
                                         "failed for good).", ["result"], registry=r)
        for result in CALLBACK_RESULTS:
            self.callback_attempts.labels(result)

    # ---- HTTP (api.observability) ---------------------------------------------------------------

    def http_request(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method if method in HTTP_METHODS else "other", route, f"{status // 100}xx")
        self.http_requests.labels(*labels).inc()
        self.http_duration.labels(*labels).observe(seconds)

    # ---- scheduler (engine.telemetry.SchedulerTelemetry) ----------------------------------------

    def scheduler_ticked(self, seconds: float, free_slots: int, tasks_in_flight: int) -> None:
        self.ticks.inc()
        self.last_tick.set_to_current_time()
        self.tick_duration.observe(seconds)
        self.worker_slots_free.set(max(0, free_slots))
        self.worker_tasks.set(tasks_in_flight)

    def inputs_retried(self, count: int) -> None:
        self.input_retries.inc(count)

    def inputs_preempted(self, count: int) -> None:
        self.input_preemptions.inc(count)

    # ---- callbacks (callbacks.deliverer) --------------------------------------------------------

    def callback_attempt(self, result: str) -> None:
        self.callback_attempts.labels(result).inc()

    # ---- jobs: from the database work -----------------------------------------------------------

    def on_job_moves(self, session: Session, target: JobStatus, job_ids: Sequence[str]) -> None:
        """Transition reaction: queue waits of first starts; finishes with their run times."""
        if target is JobStatus.RUNNING:
            self._started(session, job_ids)
        elif target in TERMINAL:
            self._ended(session, target.value, job_ids)

    def _started(self, session: Session, job_ids: Sequence[str]) -> None:
        rows = session.execute(select(Job.pipeline_type, Job.created_at, Job.started_at, Job.updated_at)
                               .where(Job.id.in_(list(job_ids)))).all()
        # a first start stamps started_at with the move's own time; a restart keeps the first one
        waits = [(kind, _seconds(created, started)) for kind, created, started, moved in rows
                 if started is not None and started == moved]

        def observe() -> None:
            for kind, seconds in waits:
                self.queue_wait.labels(kind).observe(seconds)

        _on_commit(session, observe)

    def _ended(self, session: Session, status: str, job_ids: Sequence[str]) -> None:
        rows = session.execute(select(Job.pipeline_type, Job.started_at, Job.updated_at)
                               .where(Job.id.in_(list(job_ids)))).all()

        def observe() -> None:
            for kind, started, moved in rows:
                self.jobs_finished.labels(kind, status).inc()
                if started is not None:
                    self.run_duration.labels(kind, status).observe(_seconds(started, moved))

        _on_commit(session, observe)

    def watch(self, sessions: sessionmaker[Session]) -> None:
        """Count the jobs inserted through `sessions`; apply observations at commit."""
        event.listen(sessions, "do_orm_execute", self._on_execute)
        event.listen(sessions, "after_flush", self._on_flush)
        event.listen(sessions, "after_commit", _apply_pending)
        event.listen(sessions, "after_rollback", _drop_pending)

    def _on_execute(self, state: ORMExecuteState) -> None:
        if not state.is_insert or getattr(state.statement, "table", None) is not Job.__table__:
            return
        params = state.parameters
        rows: Sequence[Mapping[str, Any]] = [params] if isinstance(params, Mapping) else list(params or ())
        self._submitted(state.session, [(row.get("pipeline_type"), row.get("surface")) for row in rows])

    def _on_flush(self, session: Session, _context: Any) -> None:
        jobs = [(obj.pipeline_type, obj.surface) for obj in session.new if isinstance(obj, Job)]
        if jobs:
            self._submitted(session, jobs)

    def _submitted(self, session: Session, jobs: list[tuple[Any, Any]]) -> None:
        def count() -> None:
            for kind, surface in jobs:
                self.jobs_submitted.labels(str(kind), str(surface or DEFAULT_SURFACE)).inc()

        if jobs:
            _on_commit(session, count)


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (as_utc(end) - as_utc(start)).total_seconds())


def _on_commit(session: Session, apply: Callable[[], object]) -> None:
    session.info.setdefault(_PENDING, []).append(apply)


def _apply_pending(session: Session) -> None:
    for apply in session.info.pop(_PENDING, ()):
        apply()


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
