"""The scheduler: one loop service that admits queued jobs, leases their inputs to workers, records
what workers report, and finalizes jobs.

It runs in a background thread of the server process and owns the executor. Everything workers
report in one pass is written in one transaction (events, progress, outputs, input results).
Recovery: on start it returns every input leased by a previous (dead) scheduler to `pending`;
completed inputs are never redone, and outputs of an input that is processed again replace the
partial ones of the interrupted attempt.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from jobport.blobs.base import BlobStore
from jobport.config import Settings
from jobport.domain.ids import new_id
from jobport.domain.payloads import InputPayload, component_config
from jobport.domain.statuses import TERMINAL, InputStatus, JobStatus
from jobport.engine import lifecycle
from jobport.engine.executors.base import Executor
from jobport.engine.locks import SchedulerLock
from jobport.engine.messages import FileSpec, Task, WorkerMessage
from jobport.engine.ports import JobMoves
from jobport.pipelines.registry import Registry
from jobport.store import jobs as job_store
from jobport.store.db import transaction, utcnow
from jobport.store.tables import JobInput, JobOutput, JobProgress

log = structlog.get_logger("jobport.scheduler")

FINALIZABLE = (JobStatus.PENDING, JobStatus.PREEMPTED, JobStatus.ADMITTED, JobStatus.RUNNING)
OUTPUT_TYPES = {"csv": "text/csv", "jsonl": "application/jsonl", "json": "application/json"}


@dataclass
class _Cancel:
    job_id: str
    done: threading.Event = field(default_factory=threading.Event)


def _file_spec(row: JobInput) -> FileSpec:
    return FileSpec.of(row.id, row.port_name, row.file_id, InputPayload.from_row(row.data))


class Scheduler:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session], blobs: BlobStore, registry: Registry,
                 executor: Executor, lock: SchedulerLock, transitions: JobMoves) -> None:
        self.settings = settings
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
        self._last_renew = 0.0
        self._last_lifecycle = 0.0
        self._last_status_check = 0.0
        self.has_lock = False
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
        return "running" if self.has_lock else "standby"

    def cancel(self, job_id: str, timeout: float = 5.0) -> None:
        """Stop the job's running inputs now; returns once their workers are killed."""
        command = _Cancel(job_id)
        self._commands.put(command)
        self.wake()
        if self.has_lock and self._thread is not None and self._thread is not threading.current_thread():
            command.done.wait(timeout)

    # ---- loop -----------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            if not self.has_lock and not self.take_lock():
                self._stopping.wait(2.0)
                continue
            try:
                self.run_pass()
            except Exception:  # the loop must survive a bad pass (DB hiccup...); it retries next tick
                log.exception("scheduler pass failed")
                self._stopping.wait(1.0)
        self.release_lock()

    def take_lock(self) -> bool:
        """Become the active scheduler if no other holds the lock: recover what a previous one
        left leased, start the executor. The loop thread calls it; tests drive it directly."""
        if not self.lock.try_acquire():
            return False
        self.has_lock = True
        self._recover()
        self.executor.start()
        self.ready.set()
        log.info("scheduler started", instance=self.instance_id, workers=self.settings.engine.workers)
        return True

    def release_lock(self) -> None:
        """Stop the executor, return its unfinished inputs to the queue, release the lock."""
        if not self.has_lock:
            return
        unfinished = self.executor.stop()
        with transaction(self.sessions) as session:
            stale = job_store.requeue_interrupted(session, [t.input_id for t in unfinished])
        self._delete_blobs(stale)
        self.lock.release()
        self.has_lock = False

    def run_pass(self) -> None:
        """One pass: apply what workers reported, run cancels, the periodic duties, then dispatch."""
        messages = self.executor.poll(self.settings.engine.scheduler_tick_seconds, [self._wake_recv])
        try:
            while self._wake_recv.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
        if messages:
            self._apply(messages)
        self._run_commands()
        now = time.monotonic()
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
                job_store.add_event(session, row.job_id, "WARN", "input.recovered",
                                    f"{row.file_id}: returned to the queue after a scheduler restart (no attempt "
                                    "spent)", {"attempts": row.attempts - 1}, input_id=row.id)
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
                    own = [t.input_id for t in killed if t.job_id == command.job_id]
                    job_store.release_inputs(session, own)
                    stale = job_store.requeue_interrupted(session, [t.input_id for t in killed
                                                                    if t.job_id != command.job_id])
                    for task in killed:
                        if task.job_id == command.job_id:
                            job_store.add_event(session, task.job_id, "WARN", "input.cancelled",
                                                f"{task.item.filename}: processing stopped by cancel",
                                                input_id=task.input_id)
                        else:  # queued on the same worker behind the cancelled job's task
                            job_store.add_event(session, task.job_id, "INFO", "input.requeued",
                                                f"{task.item.filename}: back in the queue (its worker was stopped "
                                                "for a cancel)", input_id=task.input_id)
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
            job_store.renew_leases(session, list(self.executor.running()), self.instance_id, expires)
            reaped, stale = job_store.reclaim_leases(session, expired_before=utcnow())
            for row in reaped:
                if row.id in self.executor.running():
                    continue
                job_store.add_event(session, row.job_id, "WARN", "input.lease_expired",
                                    f"{row.file_id}: lease expired; returned to the queue", input_id=row.id)
        self._delete_blobs(stale)

    # ---- dispatch -------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        free = self.executor.free_slots()
        if free <= 0:
            return
        tasks: list[Task] = []
        stale_blobs: list[str] = []
        expires = utcnow() + timedelta(seconds=self.settings.engine.lease_seconds)
        with transaction(self.sessions) as session, session.no_autoflush:
            # Jobs ahead in the queue may have all their inputs in flight already: look past them.
            busy_jobs = len({t.job_id for t in self.executor.running().values()})
            wants: dict[str, int] = {}
            jobs = {}
            for job in job_store.runnable_jobs(session, limit=free + busy_jobs + 10):
                if free <= 0:
                    break
                in_flight = self.executor.count_for_job(job.id)
                want = min(job.parallelism - in_flight, free)
                if want <= 0:
                    continue
                wants[job.id], jobs[job.id] = want, job
                free -= want
            leased = job_store.lease_for_jobs(session, wants, self.instance_id, expires)
            # nothing left to run and nothing in flight: the job may be done
            self._finalize_many(session, [j for j in wants if j not in leased and self.executor.count_for_job(j) == 0])
            started = [jobs[j] for j in leased]
            waiting = [j.id for j in started if j.status in (JobStatus.PENDING, JobStatus.PREEMPTED)]
            self.transitions.move_many(session, waiting, JobStatus.ADMITTED, "Admitted by the scheduler")
            not_running = [j.id for j in started if j.status != JobStatus.RUNNING]
            self.transitions.move_many(session, not_running, JobStatus.RUNNING, "Running", event_type="job.running")
            parameters = job_store.job_parameters(session, list(leased))
            self._load_references(session, list(leased))
            for job in started:
                rows = leased[job.id]
                again = [row.id for row in rows if row.attempts > 1]
                if again:
                    stale_blobs += job_store.delete_outputs_of_inputs(session, job.id, again)
                config = self._config_of(job, parameters.get(job.id))  # once per job, not per input
                for row in rows:
                    tasks.append(Task(job.id, row.id, row.attempts, job.pipeline_key, job.pipeline_version,
                                      job.worker_key, config, _file_spec(row), self._references[job.id]))
        self._delete_blobs(stale_blobs)
        for task in tasks:
            self.executor.submit(task)

    def _delete_blobs(self, keys: list[str]) -> None:
        for key in keys:
            self.blobs.delete(key)

    def _config_of(self, job: job_store.RunnableJob, parameters: dict[str, Any] | None) -> dict[str, Any]:
        pipeline = self.registry.get(job.pipeline_key, job.pipeline_version)
        return component_config(parameters, pipeline.spec.component) if pipeline else {}

    def _load_references(self, session: Session, job_ids: list[str]) -> None:
        missing = [j for j in job_ids if j not in self._references]
        for job_id, rows in job_store.reference_inputs_of(session, missing).items():
            self._references[job_id] = tuple(_file_spec(r) for r in rows)

    # ---- results --------------------------------------------------------------------------------

    def _apply(self, messages: list[WorkerMessage]) -> None:
        touched: set[str] = set()
        # no_autoflush: the events, progress entries and outputs added below go to the database in
        # batches at commit instead of one flush before every following statement.
        with transaction(self.sessions) as session, session.no_autoflush:
            done = []
            for message in messages:
                if not message.job_id:
                    continue
                if message.kind == "done":
                    done.append(message)
                else:
                    handler = getattr(self, f"_on_{message.kind}", None)
                    if handler is None:
                        continue
                    handler(session, message)
                touched.add(message.job_id)
            self._on_done_many(session, done)
            self._finalize_many(session, sorted(touched))

    def _on_event(self, session: Session, m: WorkerMessage) -> None:
        d = m.data
        job_store.add_event(session, m.job_id, d["level"], d["event_type"], d["message"], d.get("payload"),
                            input_id=m.input_id, index=m.slot)

    def _on_progress(self, session: Session, m: WorkerMessage) -> None:
        d = m.data
        total = d.get("items_total")
        done = d.get("items_processed") or 0
        metrics = {
            "percent_complete": round(100.0 * done / total, 2) if total else None,
            "items_processed": done,
            "items_total": total,
        }
        session.add(JobProgress(job_id=m.job_id, input_id=m.input_id, kind="inference", step=d["step"],
                                message=d["message"], metrics=metrics, payload=d.get("payload"), index=m.slot,
                                created_at=utcnow()))

    def _on_output(self, session: Session, m: WorkerMessage) -> None:
        d = m.data
        filename = d["filename"]
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        file_type = OUTPUT_TYPES.get(ext, "application/octet-stream")
        job_store.add_output(session, JobOutput(
            id=new_id("out"), job_id=m.job_id, input_id=m.input_id, port_name=d["port_name"], filename=filename,
            file_type=file_type, blob_key=d["blob_key"], num_bytes=d["num_bytes"], attributes={}, created_at=utcnow()))

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

    def _on_failed(self, session: Session, m: WorkerMessage) -> None:
        d = m.data
        if job_store.finish_input(session, m.input_id, InputStatus.FAILED, d["message"]):
            job_store.add_event(session, m.job_id, "ERROR", "inference.failed", d["message"],
                                {"error_code": d.get("code")}, input_id=m.input_id, index=m.slot)

    def _on_load_failed(self, session: Session, m: WorkerMessage) -> None:
        d = m.data
        job_store.release_inputs(session, [m.input_id])
        self.transitions.move(session, m.job_id, JobStatus.FAILED, d["message"], level="ERROR",
                           event_type="job.failed", payload={"error_code": d.get("code")},
                           values={"error": {"code": d.get("code"), "message": d["message"]}})
        self._commands.put(_Cancel(m.job_id))

    def _on_returned(self, session: Session, m: WorkerMessage) -> None:
        """A task that waited in a worker that died: back to the queue, no attempt spent on it."""
        job_store.release_inputs(session, [m.input_id], refund_attempt=True)

    def _on_died(self, session: Session, m: WorkerMessage) -> None:
        task: Task = m.data["task"]
        row = session.query(JobInput).filter_by(id=m.input_id).one_or_none()
        if row is None or row.status != InputStatus.PROCESSING.value:
            return
        pipeline = self.registry.get(task.pipeline_key, task.pipeline_version)
        max_attempts = pipeline.spec.retry_policy.max_attempts if pipeline else 1
        reason = f"worker process exited with code {m.data.get('exitcode')}"
        if row.attempts >= max_attempts:
            job_store.finish_input(session, row.id, InputStatus.FAILED, f"{reason} on each of {row.attempts} attempts")
            job_store.add_event(session, m.job_id, "ERROR", "inference.failed",
                                f"{row.file_id}: {reason} on each of {row.attempts} attempts",
                                {"error_code": "worker_lost"}, input_id=row.id, index=m.slot)
        else:
            job_store.release_inputs(session, [row.id])
            job_store.add_event(session, m.job_id, "WARN", "input.retried",
                                f"{row.file_id}: {reason}; retrying (attempt {row.attempts} of {max_attempts})",
                                {"error_code": "worker_lost"}, input_id=row.id, index=m.slot)

    def _finalize_many(self, session: Session, job_ids: list[str]) -> None:
        """End the jobs among `job_ids` whose tracked inputs are all done (two reads for all). A
        waiting job with nothing left to run (re-queued after its last input finished) ends too."""
        statuses = job_store.job_statuses(session, job_ids)
        candidates = [j for j in job_ids if statuses.get(j) in FINALIZABLE]
        completed: dict[str, tuple[str, dict[str, Any] | None]] = {}
        for job_id, counts in job_store.input_counts(session, candidates).items():
            if counts["pending"] or counts["processing"]:
                continue
            summary: dict[str, Any] = {"completed": counts["completed"], "failed": counts["failed"]}
            if counts["completed"] == 0 and counts["failed"] > 0:
                self.transitions.move(session, job_id, JobStatus.FAILED, f"All {counts['failed']} inputs failed",
                                      level="ERROR", event_type="job.failed", payload=summary,
                                      values={"error": {"code": "all_inputs_failed",
                                                        "message": f"All {counts['failed']} inputs failed; "
                                                                   "see the job events"}})
            else:
                completed[job_id] = (f"Completed: {counts['completed']} inputs completed, {counts['failed']} failed",
                                     summary)
            self._references.pop(job_id, None)
        waiting = [j for j in completed if statuses[j] in (JobStatus.PENDING, JobStatus.PREEMPTED)]
        self.transitions.move_many(session, waiting, JobStatus.ADMITTED, "Admitted by the scheduler")
        self.transitions.move_many(session, list(completed), JobStatus.COMPLETED, "Completed",
                                   event_type="job.completed", level="SUCCESS", details=completed)
