"""The scheduler: one loop service that admits queued jobs, leases their inputs to workers, records
what workers report, and finalizes jobs.

It runs in a background thread of a server process (role `all` or `scheduler`) and owns the
executor. Any number of processes may run one; the one holding the scheduler lock is active, the
others stand by and retry the lock every `STANDBY_RETRY_SECONDS`. Each reports a heartbeat row.
Everything workers report in one pass is written in one transaction (events, progress, outputs,
input results). Small jobs (super.AI records) are leased and sent in chunks across jobs
(`engine.dispatch`) and their results written with set-based statements.

Failures: an input interrupted by the infrastructure (a scheduler restart or stop, a lost lease, an
executor that lost a node or evicted an actor, a worker stopped for another job's cancel) goes back
to the queue without spending an attempt, counts as one preemption of its job and says so in an
`input.preempted` event; only a worker that crashed while processing it spends an attempt
(`input.retried`). An executor whose backend is unreachable (`ExecutorUnavailable`) makes the
scheduler step down and retry: jobs stay queued. Completed inputs are never redone, and outputs of
an input that is processed again replace the partial ones of the interrupted attempt.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
import structlog
from sqlalchemy.orm import Session, sessionmaker

from jobport.blobs.base import BlobStore
from jobport.config import Settings
from jobport.domain.ids import new_id
from jobport.domain.payloads import InputPayload, ReferenceFile, component_config, component_resources
from jobport.domain.statuses import TERMINAL, InputStatus, JobStatus, Step
from jobport.engine import lifecycle
from jobport.engine.dispatch import ChunkRules, Turns, chunk_units, plan_dispatch, shared_config
from jobport.engine.executors.base import Executor, ExecutorUnavailable
from jobport.engine.locks import SchedulerLock
from jobport.engine.messages import FileSpec, ItemResult, Task, WorkerMessage
from jobport.engine.ports import JobMoves
from jobport.engine.telemetry import NO_TELEMETRY, SchedulerTelemetry
from jobport.pipelines.registry import Registry, deep_merge
from jobport.pipelines.sdk import Resources
from jobport.store import apps as app_store
from jobport.store import jobs as job_store
from jobport.store import schedulers as heartbeats
from jobport.store.db import transaction, utcnow
from jobport.store.tables import JobInput, JobOutput, JobProgress

log = structlog.get_logger("jobport.scheduler")

STANDBY_RETRY_SECONDS = 2.0
HEARTBEAT_SECONDS = 2.0
LOCK_CHECK_SECONDS = 2.0
# a dispatched job's moves: queued -> ADMITTED -> RUNNING, written as one UPDATE with both events
ADMIT = Step(JobStatus.ADMITTED, "Admitted by the scheduler")
START = Step(JobStatus.RUNNING, "Running", event_type="job.running")
FINALIZABLE = (JobStatus.PENDING, JobStatus.PREEMPTED, JobStatus.ADMITTED, JobStatus.RUNNING)
OUTPUT_TYPES = {"csv": "text/csv", "jsonl": "application/jsonl", "json": "application/json"}


@dataclass
class _Cancel:
    job_id: str
    done: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class _VersionParts:
    """What the jobs of one app version share: its config and its reference files."""

    config: dict[str, Any]
    references: tuple[FileSpec, ...]


def _file_spec(row: JobInput) -> FileSpec:
    return FileSpec.of(row.id, row.port_name, row.file_id, InputPayload.from_row(row.data))


class Scheduler:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session], blobs: BlobStore, registry: Registry,
                 executor: Executor, lock: SchedulerLock, transitions: JobMoves,
                 telemetry: SchedulerTelemetry = NO_TELEMETRY) -> None:
        self.settings = settings
        self.telemetry = telemetry
        self.transitions = transitions
        self.sessions = sessions
        self.blobs = blobs
        self.registry = registry
        self.executor = executor
        self.lock = lock
        self.instance_id = new_id("sch")
        self._wake_recv, self._wake_send = socket.socketpair()
        self._wake_recv.setblocking(False)
        self._wake_send.setblocking(False)
        self._commands: queue.Queue[_Cancel] = queue.Queue()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._references: dict[str, tuple[FileSpec, ...]] = {}
        engine = settings.engine
        self._chunk_rules = ChunkRules(engine.chunk_size, engine.chunk_max_records, engine.chunk_linger_seconds)
        self._recheck_at: float | None = None  # when a chunk held back to fill up may go
        self._solo: set[str] = set()  # jobs whose chunk died with its worker: their inputs now go alone
        self._turns = Turns()  # when each org last got a task slot: fair share across passes
        self._versions: dict[tuple[str | None, str | None], _VersionParts] = {}  # app versions are immutable
        self._app_configs: dict[tuple[str | None, str | None, bytes], dict[str, Any]] = {}
        self._stale_after_commit: list[str] = []  # blobs of preempted attempts, deleted after the commit
        self._last_renew = 0.0
        self._last_lifecycle = 0.0
        self._last_status_check = 0.0
        self._last_beat = 0.0
        self._last_lock_check = 0.0
        self._executor_connected = False
        self._standby_problem: str | None = None
        self._started_at = utcnow()
        self.has_lock = False
        self.problem: str | None = None  # why this process cannot schedule right now (executor unreachable)
        self.ready = threading.Event()

    # ---- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="jobport-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def wake(self) -> None:
        try:
            self._wake_send.send(b"x")
        except (BlockingIOError, OSError):
            pass

    @property
    def state(self) -> str:
        """`running` (active), `standby` (another process holds the lock) or `waiting` (this process
        could hold it but its executor is unreachable: see `problem`)."""
        if self.has_lock:
            return "running"
        return "waiting" if self.problem else "standby"

    def cancel(self, job_id: str, timeout: float = 5.0, wait: bool = True) -> None:
        """Stop the job's running inputs now; with `wait`, returns once their workers are killed. A
        standby runs nothing: it ignores the call (it hears every replica's cancels)."""
        if not self.has_lock:
            return
        command = _Cancel(job_id)
        self._commands.put(command)
        self.wake()
        if wait and self._thread is not None and self._thread is not threading.current_thread():
            command.done.wait(timeout)

    # ---- loop -----------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._heartbeat()
            if not self.has_lock:
                self._connect_executor()
            if not self.has_lock and not self._try_take_lock():
                self._stopping.wait(STANDBY_RETRY_SECONDS)
                continue
            try:
                self.run_pass()
            except ExecutorUnavailable as err:
                self._step_down(str(err))
            except Exception:  # the loop must survive a bad pass (DB hiccup...); it retries next tick
                log.exception("scheduler pass failed")
                self._stopping.wait(1.0)
        self.release_lock()
        self._heartbeat(force=True, state="stopped")

    def _connect_executor(self) -> None:
        """While standing by, keep the executor's backend connected (a Ray driver takes seconds to
        connect), so that taking over costs only the recovery; cheap when already connected."""
        try:
            self.executor.connect()
            if not self._executor_connected:
                log.info("standby scheduler connected its executor", executor=self.settings.engine.executor)
            self._executor_connected = True
        except ExecutorUnavailable as err:
            if self._executor_connected or self._standby_problem != str(err):
                log.warning("standby scheduler cannot reach its executor", problem=str(err))
            self._executor_connected = False
            self._standby_problem = str(err)
        except Exception:
            self._executor_connected = False
            log.exception("standby scheduler could not connect its executor")

    def _try_take_lock(self) -> bool:
        try:
            return self.take_lock()
        except Exception:  # the database is unreachable: stand by and retry
            log.exception("scheduler could not take the lock")
            return False

    def take_lock(self) -> bool:
        """Become the active scheduler if no other holds the lock: recover what a previous one
        left leased, start the executor. The loop thread calls it; tests drive it directly. An
        executor that cannot start gives the lock back (another scheduler may reach it)."""
        if not self.lock.try_acquire():
            return False
        try:
            self._recover()
            self.executor.start()
        except ExecutorUnavailable as err:
            self.lock.release()
            self._report_problem(str(err))
            return False
        except BaseException:
            self.lock.release()
            raise
        self.has_lock = True
        if self.problem:
            log.info("executor reachable again", instance=self.instance_id)
        self.problem = None
        self.ready.set()
        log.info("scheduler started", instance=self.instance_id, executor=self.settings.engine.executor,
                 workers=self.settings.engine.workers)
        self._heartbeat(force=True)
        return True

    def release_lock(self) -> None:
        """Stop the executor, return its unfinished inputs to the queue, release the lock."""
        if not self.has_lock:
            return
        unfinished = self.executor.stop()
        self._executor_connected = False
        with transaction(self.sessions) as session:
            stale = self._preempt(session, unfinished, "scheduler_stopped", "the scheduler stopped")
        self._delete_blobs(stale)
        self.lock.release()
        self.has_lock = False

    def _step_down(self, problem: str) -> None:
        """The executor's backend is gone: requeue what it held, give the lock back, retry later."""
        self._report_problem(problem)
        try:
            self.release_lock()
        except Exception:
            log.exception("stepping down failed; leases expire and are reclaimed")
            self.lock.release()
            self.has_lock = False

    def _report_problem(self, problem: str) -> None:
        if problem != self.problem:
            log.error("scheduler waiting: executor unavailable; jobs stay queued", problem=problem)
        self.problem = problem
        self._heartbeat(force=True)

    def _check_lock(self) -> None:
        """Fencing: a scheduler whose lock connection broke may already have a successor; it stops
        its workers and writes nothing more (the successor reclaims its leases)."""
        if self.lock.still_held():
            return
        log.error("scheduler lock lost; stopping this scheduler's workers", instance=self.instance_id)
        self.executor.stop()
        self._executor_connected = False
        self.lock.release()
        self.has_lock = False

    def _heartbeat(self, force: bool = False, state: str | None = None) -> None:
        now = time.monotonic()
        if not force and now - self._last_beat < HEARTBEAT_SECONDS:
            return
        self._last_beat = now
        try:
            with transaction(self.sessions) as session:
                heartbeats.report(session, instance_id=self.instance_id, hostname=socket.gethostname(),
                                  pid=os.getpid(), state=state or ("active" if self.has_lock else self.state),
                                  executor=self.settings.engine.executor, problem=self.problem,
                                  started_at=self._started_at)
        except Exception as err:  # a heartbeat is information, never a reason to stop scheduling
            log.warning("scheduler heartbeat not written", error=str(err))

    def run_pass(self) -> None:
        """One pass: apply what workers reported, run cancels, the periodic duties, then dispatch."""
        timeout = self.settings.engine.scheduler_tick_seconds
        if self._recheck_at is not None:
            timeout = max(0.0, min(timeout, self._recheck_at - time.monotonic()))
        messages = self.executor.poll(timeout, [self._wake_recv])
        began = time.monotonic()
        try:
            while self._wake_recv.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
        if messages:
            self._apply(messages)
        self._run_commands()
        now = time.monotonic()
        if now - self._last_lock_check > LOCK_CHECK_SECONDS:
            self._last_lock_check = now
            self._check_lock()
            if not self.has_lock:
                return
        self._heartbeat()
        if now - self._last_status_check > 0.5:
            self._last_status_check = now
            self._stop_ended_jobs()
        if now - self._last_renew > self.settings.engine.lease_seconds / 3:
            self._last_renew = now
            self._renew_and_reap()
        if now - self._last_lifecycle > self.settings.engine.lifecycle_interval_seconds:
            self._last_lifecycle = now
            self._lifecycle()
        self._dispatch()
        self.telemetry.scheduler_ticked(time.monotonic() - began, self.executor.free_slots(),
                                        len(self.executor.running()))

    def _lifecycle(self) -> None:
        with transaction(self.sessions) as session:
            expired = lifecycle.expire_due(session, self.transitions, utcnow())
            suspended, resumed = lifecycle.apply_budgets(session, self.transitions)
        if expired or suspended:
            self._stop_ended_jobs()
        if expired or suspended or resumed:
            log.info("lifecycle", expired=expired, suspended=suspended, resumed=resumed)

    def _recover(self) -> None:
        self.blobs.clean_temp()
        with transaction(self.sessions) as session:
            reclaimed, stale = job_store.reclaim_leases(session, not_owner=self.instance_id)
            for row in reclaimed:
                _preempted_event(session, row.job_id, row.id, row.file_id, "scheduler_restart",
                                 "after a scheduler restart", row.attempts - 1)
        self.telemetry.inputs_preempted(len(reclaimed))
        self._delete_blobs(stale)
        if reclaimed:
            log.warning("recovered leased inputs", count=len(reclaimed))

    def _run_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            killed = self.executor.kill_job(command.job_id)
            if killed:
                with transaction(self.sessions) as session:
                    own = [t for t in killed if t.job_id == command.job_id]
                    job_store.release_inputs(session, [t.input_id for t in own])
                    for task in own:
                        job_store.add_event(session, task.job_id, "WARN", "input.cancelled",
                                            f"{task.item.filename}: processing stopped by cancel",
                                            input_id=task.input_id)
                    # other jobs' tasks held by the same worker
                    stale = self._preempt(session, [t for t in killed if t.job_id != command.job_id],
                                          "worker_stopped_for_cancel", "its worker was stopped for another job's "
                                          "cancel")
                self._delete_blobs(stale)
            self._references.pop(command.job_id, None)
            command.done.set()

    def _stop_ended_jobs(self) -> None:
        running = self.executor.running()
        job_ids = sorted({t.job_id for t in running.values()})
        if not job_ids:
            return
        with self.sessions() as session:
            statuses = job_store.job_statuses(session, job_ids)
        for job_id in job_ids:
            status = statuses.get(job_id)
            if status is None or JobStatus(status) in TERMINAL:
                self._commands.put(_Cancel(job_id))
        self._run_commands()

    def _renew_and_reap(self) -> None:
        expires = utcnow() + timedelta(seconds=self.settings.engine.lease_seconds)
        with transaction(self.sessions) as session:
            running = self.executor.running()
            job_store.renew_leases(session, list(running), self.instance_id, expires)
            reaped, stale = job_store.reclaim_leases(session, expired_before=utcnow())
            for row in reaped:
                if row.id in running:
                    continue
                _preempted_event(session, row.job_id, row.id, row.file_id, "lease_expired",
                                 "its lease expired", row.attempts - 1)
                self.telemetry.inputs_preempted(1)
        self._delete_blobs(stale)

    # ---- dispatch -------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        free = self.executor.free_slots()
        self._recheck_at = None
        if free <= 0:
            return
        rules = self._chunk_rules if self.executor.takes_chunks else ChunkRules(size=1)
        tasks: list[Task] = []
        stale_blobs: list[str] = []
        expires = utcnow() + timedelta(seconds=self.settings.engine.lease_seconds)
        running = self.executor.running()
        in_flight = Counter(t.job_id for t in running.values())
        with transaction(self.sessions) as session, session.no_autoflush:
            # Jobs ahead in the queue may have all their inputs in flight already: look past them.
            candidates = job_store.runnable_jobs(session, limit=free * rules.size + len(in_flight) + 10)
            plan = plan_dispatch(candidates, in_flight, free, rules, utcnow(), self._solo, self._turns)
            if plan.recheck_in is not None:
                self._recheck_at = time.monotonic() + plan.recheck_in
            jobs = {job.id: job for job in candidates if job.id in plan.wants}
            leased = job_store.lease_for_jobs(session, plan.wants, self.instance_id, expires)
            # nothing left to run and nothing in flight: the job may be done
            self._finalize_many(session, [j for j in plan.wants if j not in leased and not in_flight.get(j)])
            started = [jobs[j] for j in leased]
            waiting = [j.id for j in started if j.status in (JobStatus.PENDING, JobStatus.PREEMPTED)]
            self.transitions.move_many_via(session, waiting, [ADMIT, START])
            admitted = [j.id for j in started if j.status == JobStatus.ADMITTED]
            self.transitions.move_many_via(session, admitted, [START])
            parameters = job_store.job_parameters(session, list(leased))
            self._load_references(session, started)
            configs: dict[bytes, dict[str, Any]] = {}
            for job in started:
                rows = leased[job.id]
                again = [row.id for row in rows if row.attempts > 1]
                if again:
                    stale_blobs += job_store.delete_outputs_of_inputs(session, job.id, again)
                config, resources = self._config_of(job, parameters.get(job.id))  # once per job, not per input
                config = shared_config(configs, config)
                for row in rows:
                    tasks.append(Task(job.id, row.id, row.attempts, job.pipeline_key, job.pipeline_version,
                                      job.worker_key, config, _file_spec(row), self._references[job.id], resources))
        self._delete_blobs(stale_blobs)
        for unit in chunk_units(tasks, plan.chunked, rules.size, self.settings.engine.inline_output_bytes):
            self.executor.submit(unit)

    def _preempt(self, session: Session, tasks: list[Task], reason: str, why: str) -> list[str]:
        """Tasks interrupted by the infrastructure back to the queue, no attempt spent; stale blobs."""
        requeued, stale = job_store.requeue_interrupted(session, [t.input_id for t in tasks])
        for task in tasks:
            if task.input_id in requeued:
                _preempted_event(session, task.job_id, task.input_id, task.item.filename, reason, why,
                                 task.attempt - 1)
        self.telemetry.inputs_preempted(len(requeued))
        return stale

    def _delete_blobs(self, keys: list[str]) -> None:
        for key in keys:
            self.blobs.delete(key)

    def _config_of(self, job: job_store.RunnableJob, parameters: dict[str, Any] | None
                   ) -> tuple[dict[str, Any], Resources]:
        """The job's task config, and what each of its workers reserves: the pipeline's resources with
        the job's (or its app version's) overrides, validated when the job was created. A job of an
        app version stores only its overrides of the version's config (cached per distinct pair)."""
        pipeline = self.registry.get(job.pipeline_key, job.pipeline_version)
        if pipeline is None:
            return {}, Resources()
        component = pipeline.spec.component
        config = component_config(parameters, component)
        resources = pipeline.spec.resources.merged(component_resources(parameters, component))
        version = self._versions.get((job.app_id, job.app_version)) if job.app_id else None
        if version is None:
            return config, resources
        key = (job.app_id, job.app_version, orjson.dumps(config, option=orjson.OPT_SORT_KEYS))
        resolved = self._app_configs.get(key)
        if resolved is None:
            merged = deep_merge(version.config, config)
            resolved = pipeline.spec.config_model.model_validate(merged).model_dump(mode="json")
            self._app_configs[key] = resolved
        return resolved, resources

    def _load_references(self, session: Session, jobs: list[job_store.RunnableJob]) -> None:
        """Reference files of the jobs: their app version's (read once per version: versions are
        immutable), or the reference input rows of jobs created without an app."""
        wanted = {(j.app_id, j.app_version) for j in jobs if j.app_id and j.app_version} - set(self._versions)
        for (app_id, label), version in app_store.versions_by_label(session, wanted).items():
            refs = [ReferenceFile.model_validate(r) for r in version.references]
            self._versions[(app_id, label)] = _VersionParts(version.config, tuple(
                FileSpec.of(f"{version.id}:{i}", r.port_name, r.file_id, InputPayload.of_reference(r))
                for i, r in enumerate(refs)))
        missing = []
        for job in jobs:
            parts = self._versions.get((job.app_id, job.app_version)) if job.app_id else None
            if parts is not None:
                self._references[job.id] = parts.references
            elif job.id not in self._references:
                missing.append(job.id)
        for job_id, rows in job_store.reference_inputs_of(session, missing).items():
            self._references[job_id] = tuple(_file_spec(r) for r in rows)

    # ---- results --------------------------------------------------------------------------------

    def _apply(self, messages: list[WorkerMessage]) -> None:
        touched: set[str] = set()
        self._stale_after_commit = []
        # no_autoflush: the events, progress entries and outputs added below go to the database in
        # batches at commit instead of one flush before every following statement.
        with transaction(self.sessions) as session, session.no_autoflush:
            done = []
            for message in messages:
                if not message.job_id:
                    continue
                if message.kind == "done":
                    done.append(message)
                elif message.kind == "chunk":
                    results: list[ItemResult] = message.data["results"]
                    self._on_chunk(session, results, message.slot)
                    touched.update(r.job_id for r in results)
                else:
                    handler = getattr(self, f"_on_{message.kind}", None)
                    if handler is None:
                        continue
                    handler(session, message)
                touched.add(message.job_id)
            self._on_done_many(session, done)
            self._finalize_many(session, sorted(touched))
        self._delete_blobs(self._stale_after_commit)

    def _on_event(self, session: Session, m: WorkerMessage) -> None:
        d = m.data
        job_store.add_event(session, m.job_id, d["level"], d["event_type"], d["message"], d.get("payload"),
                            input_id=m.input_id, index=m.slot)

    def _on_progress(self, session: Session, m: WorkerMessage) -> None:
        d = m.data
        session.add(JobProgress(job_id=m.job_id, input_id=m.input_id, kind="inference", step=d["step"],
                                message=d["message"], metrics=_progress_metrics(d), payload=d.get("payload"),
                                index=m.slot, created_at=utcnow()))

    def _on_output(self, session: Session, m: WorkerMessage) -> None:
        job_store.add_output(session, JobOutput(**_output_row(m.job_id, m.input_id, m.data, utcnow())))

    def _on_done_many(self, session: Session, messages: list[WorkerMessage]) -> None:
        finished = job_store.complete_inputs(session, [m.input_id for m in messages])
        for m in messages:
            if m.input_id not in finished:
                continue  # no longer processing (cancelled, reclaimed): nothing to record
            d = m.data
            job_store.add_event(session, m.job_id, "SUCCESS", "inference.success",
                                f"{finished[m.input_id]}: {d.get('items', 0):,} success in {d.get('seconds', 0)} s",
                                {"items": d.get("items"), "failed_items": d.get("failed_items"),
                                 "seconds": d.get("seconds"), **(d.get("summary") or {})},
                                input_id=m.input_id, index=m.slot)

    def _on_chunk(self, session: Session, results: list[ItemResult], slot: int) -> None:
        """A chunk's results with set-based statements: one UPDATE for the completed inputs, bulk
        INSERTs for the events, progress entries and outputs of the inputs it moved. Results of
        jobs that ended meanwhile (a cancel that came while the chunk ran) are dropped, blobs too,
        and their inputs released as a cancel releases them; so are results of inputs no longer
        processing (reclaimed)."""
        statuses = job_store.job_statuses(session, sorted({r.job_id for r in results}))
        ended = {r.input_id: r for r in results if JobStatus(statuses.get(r.job_id, "CANCELLED")) in TERMINAL}
        if ended:
            self._drop_ended(session, list(ended.values()))
            results = [r for r in results if r.input_id not in ended]
        finished = job_store.complete_inputs(session, [r.input_id for r in results if r.outcome == "done"])
        failed = job_store.fail_inputs(session, {r.input_id: r.message for r in results if r.outcome == "failed"})
        events: list[dict[str, Any]] = []
        progress: list[dict[str, Any]] = []
        outputs: list[dict[str, Any]] = []
        now = utcnow()
        for r in results:
            if r.outcome == "load_failed":
                self._on_load_failed(session, WorkerMessage("load_failed", r.job_id, r.input_id,
                                                            {"code": r.code, "message": r.message}, slot))
                continue
            if r.input_id not in finished and r.input_id not in failed:
                self._stale_after_commit += [o["blob_key"] for o in r.outputs if "content" not in o]
                continue
            where = {"job_id": r.job_id, "input_id": r.input_id, "index": slot}
            events += [{**where, **e} for e in r.events]
            progress += [{**where, "kind": "inference", "step": d["step"], "message": d["message"],
                          "metrics": _progress_metrics(d), "payload": d.get("payload")} for d in r.progress]
            outputs += [_output_row(r.job_id, r.input_id, o, now) for o in r.outputs]
            if r.outcome == "done":
                events.append({**where, "level": "SUCCESS", "event_type": "inference.success",
                               "message": f"{finished[r.input_id]}: {r.items:,} success in {round(r.seconds, 3)} s",
                               "payload": {"items": r.items, "failed_items": r.failed_items,
                                           "seconds": round(r.seconds, 3), **r.summary}})
            else:
                events.append({**where, "level": "ERROR", "event_type": "inference.failed", "message": r.message,
                               "payload": {"error_code": r.code}})
        job_store.add_progress(session, progress)
        job_store.add_outputs(session, outputs)
        job_store.add_events(session, events)

    def _drop_ended(self, session: Session, results: list[ItemResult]) -> None:
        job_store.release_inputs(session, [r.input_id for r in results])
        job_store.add_events(session, [{"job_id": r.job_id, "input_id": r.input_id, "level": "WARN",
                                        "event_type": "input.cancelled",
                                        "message": "input: its job ended while it ran; its result is dropped"}
                                       for r in results])
        self._stale_after_commit += [o["blob_key"] for r in results for o in r.outputs if "content" not in o]

    def _on_failed(self, session: Session, m: WorkerMessage) -> None:
        d = m.data
        if job_store.finish_input(session, m.input_id, InputStatus.FAILED, d["message"]):
            job_store.add_event(session, m.job_id, "ERROR", "inference.failed", d["message"],
                                {"error_code": d.get("code")}, input_id=m.input_id, index=m.slot)

    def _on_load_failed(self, session: Session, m: WorkerMessage) -> None:
        d = m.data
        log.warning("job failed: its pipeline did not load", job_id=m.job_id, error=d["message"])
        job_store.fail_unfinished_inputs(session, m.job_id, f"not run: {d['message']}")
        self.transitions.move(session, m.job_id, JobStatus.FAILED, d["message"], level="ERROR",
                           event_type="job.failed", payload={"error_code": d.get("code")},
                           values={"error": {"code": d.get("code"), "message": d["message"]}})
        self._commands.put(_Cancel(m.job_id))

    def _on_preempted(self, session: Session, m: WorkerMessage) -> None:
        """The executor lost the task to the infrastructure (a node died, an actor was evicted)."""
        stale = self._preempt(session, [m.data["task"]], m.data.get("reason_code", "executor_lost_task"),
                              m.data.get("reason", "the executor lost it"))
        self._stale_after_commit += stale

    def _on_returned(self, session: Session, m: WorkerMessage) -> None:
        """A task that waited in a worker that died: back to the queue, no attempt spent on it."""
        job_store.release_inputs(session, [m.input_id], refund_attempt=True)

    def _on_died(self, session: Session, m: WorkerMessage) -> None:
        task: Task = m.data["task"]
        if m.data.get("chunk"):
            self._solo.add(m.job_id)  # which record of the chunk killed the worker is unknown: each goes alone
        row = session.query(JobInput).filter_by(id=m.input_id).one_or_none()
        if row is None or row.status != InputStatus.PROCESSING.value:
            return
        pipeline = self.registry.get(task.pipeline_key, task.pipeline_version)
        max_attempts = pipeline.spec.retry_policy.max_attempts if pipeline else 1
        exitcode = m.data.get("exitcode")
        reason = f"worker process exited with code {exitcode}" if exitcode is not None else \
            m.data.get("reason") or "worker process died"
        if row.attempts >= max_attempts:
            log.warning("input failed: its worker died on every attempt", job_id=m.job_id, input_id=row.id,
                        reason=reason, attempts=row.attempts)
            job_store.finish_input(session, row.id, InputStatus.FAILED, f"{reason} on each of {row.attempts} attempts")
            job_store.add_event(session, m.job_id, "ERROR", "inference.failed",
                                f"{row.file_id}: {reason} on each of {row.attempts} attempts",
                                {"error_code": "worker_lost"}, input_id=row.id, index=m.slot)
        else:
            job_store.release_inputs(session, [row.id])
            self.telemetry.inputs_retried(1)
            log.warning("input re-queued: its worker died", job_id=m.job_id, input_id=row.id, reason=reason)
            job_store.add_event(session, m.job_id, "WARN", "input.retried",
                                f"{row.file_id}: {reason}; retrying (attempt {row.attempts} of {max_attempts})",
                                {"error_code": "worker_lost"}, input_id=row.id, index=m.slot)

    def _finalize_many(self, session: Session, job_ids: list[str]) -> None:
        """End the jobs among `job_ids` whose tracked inputs are all done (two reads for all). A
        waiting job with nothing left to run (re-queued after its last input finished) ends too."""
        statuses = job_store.job_statuses(session, job_ids)
        candidates = [j for j in job_ids if statuses.get(j) in FINALIZABLE]
        completed: dict[str, tuple[str, dict[str, Any] | None]] = {}
        all_counts = job_store.input_counts(session, candidates)
        failing = [j for j, c in all_counts.items() if not (c["pending"] or c["processing"] or c["completed"])
                   and c["failed"]]
        first_errors = job_store.first_input_errors(session, failing)
        for job_id, counts in all_counts.items():
            if counts["pending"] or counts["processing"]:
                continue
            summary: dict[str, Any] = {"completed": counts["completed"], "failed": counts["failed"]}
            if job_id in failing:
                message = _all_failed_message(counts["failed"], first_errors.get(job_id))
                self.transitions.move(session, job_id, JobStatus.FAILED, message, level="ERROR",
                                      event_type="job.failed", payload=summary,
                                      values={"error": {"code": "all_inputs_failed", "message": message}})
            else:
                completed[job_id] = (f"Completed: {counts['completed']} inputs completed, {counts['failed']} failed",
                                     summary)
            self._references.pop(job_id, None)
            self._solo.discard(job_id)
        finish = Step(JobStatus.COMPLETED, "Completed", event_type="job.completed", level="SUCCESS", details=completed)
        waiting = {j for j in completed if statuses[j] in (JobStatus.PENDING, JobStatus.PREEMPTED)}
        self.transitions.move_many_via(session, [j for j in completed if j in waiting], [ADMIT, finish])
        self.transitions.move_many_via(session, [j for j in completed if j not in waiting], [finish])


def _all_failed_message(failed: int, first_error: str | None) -> str:
    """The error of a job whose every input failed: what went wrong, in the job's own error (no
    need to read the events, which not every surface shows)."""
    subject = "The input failed" if failed == 1 else f"All {failed} inputs failed"
    if not first_error:
        return f"{subject}; see the job events"
    return f"{subject}: {first_error}" if failed == 1 else f"{subject}; the first: {first_error}"


def _progress_metrics(d: dict[str, Any]) -> dict[str, Any]:
    total = d.get("items_total")
    done = d.get("items_processed") or 0
    return {"percent_complete": round(100.0 * done / total, 2) if total else None, "items_processed": done,
            "items_total": total}


def _output_row(job_id: str, input_id: str, d: dict[str, Any], now: Any) -> dict[str, Any]:
    filename = d["filename"]
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return {"id": new_id("out"), "job_id": job_id, "input_id": input_id, "port_name": d["port_name"],
            "filename": filename, "file_type": OUTPUT_TYPES.get(ext, "application/octet-stream"),
            "blob_key": d["blob_key"], "num_bytes": d["num_bytes"], "attributes": {}, "created_at": now,
            "content": d.get("content")}


def _preempted_event(session: Session, job_id: str, input_id: str, name: str, reason: str, why: str,
                     attempts: int) -> None:
    job_store.add_event(session, job_id, "WARN", "input.preempted",
                        f"{name}: back in the queue, {why} (no attempt spent)",
                        {"reason": reason, "attempts": max(attempts, 0)}, input_id=input_id)
