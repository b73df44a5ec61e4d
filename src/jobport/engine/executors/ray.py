"""The Ray executor (`executor=ray`): warm workers are Ray actors on a Ray cluster.

Each actor (`ray_actor.RunnerActor`) serves one worker key and reserves that key's resources
(`Task.resources`: the pipeline spec's, or an app's override; `num_cpus`, `num_gpus`, memory). It
holds up to `prefetch` tasks, like a local worker's pipe. A task whose key has an idle actor goes
there; otherwise a new actor is started while the executor is under `max_actors` (so a job's
`parallelism` N runs on N actors, spread over the nodes); at the limit it joins a busy actor of its
key with room, or an idle actor of another key is released to make room, or it waits in the
executor's own queue (counted in `running()` and `free_slots()`). Idle actors are released after
`idle_seconds`.

Each task is one call of the actor's streaming generator: events, progress and outputs arrive
while the input runs. Cancel kills the job's actors (`ray.kill`: a running call of a sync actor
cannot be interrupted otherwise); the other tasks they held are returned to the caller. An actor
that dies is classified: its node lost (or the actor unreachable) -> `preempted` for its tasks; its
worker process crashed on a live node -> `died` for the running task, `returned` for the others;
its start failed -> `load_failed` for the tasks waiting for it (the job fails with that message).

Ray keeps no state jobport relies on: actors have `max_restarts=0, max_task_retries=0`, because
the database is the source of truth and the scheduler re-dispatches interrupted inputs itself
(Ray's own retries would run an input twice behind its back). A cluster unreachable at start, or
whose GCS is lost later, raises `ExecutorUnavailable`; queued jobs wait. `connect()` (a standby
scheduler) connects without taking work; a lost GCS drops the connection at once, active or not,
because Ray terminates a driver left connected to a dead GCS for a minute. This module is imported
only when `executor=ray` is chosen: nothing else imports `ray`.
"""

from __future__ import annotations

import logging
import os
import re
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ray
import structlog
from ray import exceptions as ray_errors

from jobport.blobs import BlobConfig
from jobport.engine.executors.base import ExecutorUnavailable
from jobport.engine.executors.ray_actor import RunnerActor
from jobport.engine.messages import Task, WorkerMessage
from jobport.pipelines.sdk import HostContext, Resources

log = structlog.get_logger("jobport.engine")

TERMINAL = ("done", "failed", "load_failed")
WAIT_SLICE_SECONDS = 0.05  # longest ray.wait before the scheduler's wake-up socket is looked at again
GCS_CHECK_SECONDS = 1.0  # how often poll() checks that the cluster's GCS still answers
PROBE_SECONDS = 0.5  # TCP connect limit of a liveness probe (GCS, a node's raylet)
STARVED_SECONDS = 5.0  # an actor not placed after this long frees an idle actor of another key
# ray.init of a timed-out start() may still be running: one connection per process, as Ray has
_connecting: threading.Thread | None = None


@dataclass
class _Call:
    task: Task
    stream: Any  # ray.ObjectRefGenerator of list[WorkerMessage]


@dataclass
class _Actor:
    slot: int
    key: str
    handle: Any
    hello: Any  # the ObjectRef of hello() until the actor is up, then None
    created: float
    calls: deque[_Call] = field(default_factory=deque)  # [0] runs, the others wait in the actor's queue
    node_id: str = ""
    node_ip: str = ""
    pid: int = 0
    idle_since: float = 0.0
    announced: bool = False

    @property
    def ready(self) -> bool:
        return self.hello is None


def _probe(host: str, port: int, timeout: float) -> None:
    """Raise OSError unless something accepts TCP connections at host:port."""
    with socket.create_connection((host, port), timeout=timeout):
        pass


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ExecutorUnavailable(f"Ray address {address!r} is not host:port")
    return host, int(port)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _readable(waitables: Sequence[socket.socket]) -> bool:
    return bool(waitables) and bool(select.select(list(waitables), [], [], 0)[0])


class RayExecutor:
    takes_chunks = False  # one actor call per task (chunks on Ray: see docs/operations.md)

    def __init__(self, address: str | None, namespace: str, blobs: BlobConfig, host: HostContext,
                 warm_models: int = 2, prefetch: int = 1, idle_seconds: float = 300.0, max_actors: int | None = None,
                 connect_timeout: float = 10.0, node_ip_address: str | None = None,
                 object_store_bytes: int = 256 * 1024 * 1024) -> None:
        self.address = address
        self.namespace = namespace
        self.blobs = blobs
        self.host = host
        self.warm_models = warm_models
        self.prefetch = max(1, prefetch)
        self.idle_seconds = idle_seconds
        self.max_actors = max_actors
        self.connect_timeout = connect_timeout
        self.node_ip_address = node_ip_address
        self.object_store_bytes = object_store_bytes
        self.connect_seconds: float | None = None  # how long the last start() took to connect
        self._remote_class: Any = ray.remote(RunnerActor)
        self._actors: dict[int, _Actor] = {}
        self._queue: deque[Task] = deque()
        self._outbox: list[WorkerMessage] = []
        self._next_slot = 0
        self._capacity = max_actors or 1
        self._gcs: tuple[str, int] | None = None
        self._last_gcs_check = 0.0
        self._lost: str | None = None  # why the cluster is lost, once it is: poll() raises it
        self._started = False
        self._lock = threading.Lock()  # connect/start/stop against the standby watchdog
        self._watchdog: threading.Thread | None = None

    @property
    def where(self) -> str:
        return f"Ray cluster at {self.address}" if self.address else "private Ray"

    # ---- start and stop ---------------------------------------------------------------------

    def connect(self) -> None:
        """Reach the cluster (a bounded `ray.init`) without taking work: a standby scheduler keeps the
        connection, so that taking over costs no connect. Until `start()`, a watchdog drops the
        connection if the GCS goes away (Ray terminates a driver left connected to a dead GCS for a
        minute: the whole server with it); the next `connect()` or `start()` connects again."""
        with self._lock:
            self._ensure_connected()
            if not self._started and (self._watchdog is None or not self._watchdog.is_alive()):
                self._watchdog = threading.Thread(target=self._watch_standby, name="jobport-ray-watchdog",
                                                  daemon=True)
                self._watchdog.start()

    def start(self) -> None:
        with self._lock:
            self._ensure_connected()
            self._started = True  # from now on poll() watches the GCS
            self._last_gcs_check = time.monotonic()
            self._lost = None

    def _ensure_connected(self) -> None:
        started = time.monotonic()
        if ray.is_initialized() and self._gcs is not None:
            try:
                _probe(*self._gcs, timeout=PROBE_SECONDS)
                return
            except OSError as err:
                message = f"Ray cluster at {self._gcs[0]}:{self._gcs[1]} is unreachable: {err}"
                self._disconnect()
                raise ExecutorUnavailable(message) from err
        if not ray.is_initialized():
            _read_auth_environment()
            if self.address:
                host, port = _split_address(self.address)
                try:
                    _probe(host, port, min(self.connect_timeout, 5.0))
                except OSError as err:
                    raise ExecutorUnavailable(f"{self.where} is unreachable: {err}") from err
            self._connect()
        try:
            self._gcs = _split_address(ray.get_runtime_context().gcs_address)
            cpus = float(ray.cluster_resources().get("CPU", 1.0))  # type: ignore[no-untyped-call]
        except ray_errors.RayError as err:
            raise ExecutorUnavailable(f"{self.where} is unreachable: {_first_line(err)}") from err
        self._capacity = self.max_actors or max(1, int(cpus))
        self.connect_seconds = round(time.monotonic() - started, 3)
        log.info("ray connected", where=self.where, gcs=f"{self._gcs[0]}:{self._gcs[1]}", cpus=cpus,
                 max_actors=self._capacity, seconds=self.connect_seconds)

    def _watch_standby(self) -> None:
        """Connected but not started: drop the connection once the GCS is gone."""
        while True:
            time.sleep(GCS_CHECK_SECONDS)
            with self._lock:
                if self._started or self._gcs is None or not ray.is_initialized():
                    return
                try:
                    _probe(*self._gcs, timeout=PROBE_SECONDS)
                except OSError as err:
                    log.error("ray cluster lost while standing by", where=self.where, error=str(err))
                    self._disconnect()
                    return

    def _init_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"namespace": self.namespace, "include_dashboard": False, "log_to_driver": False,
                                   "logging_level": logging.WARNING, "_node_ip_address": self.node_ip_address}
        if self.address:
            return {**options, "address": self.address}
        return {**options, "address": "local", "object_store_memory": self.object_store_bytes}

    def _connect(self) -> None:
        """`ray.init`, bounded: a GCS that accepts connections but does not answer (or refuses the
        token) would keep ray.init waiting for minutes. A timed-out attempt is left to finish in its
        thread; the next start() uses it if it connected. A private Ray starts in the caller's thread:
        its GCS and raylet die with the thread that started them (PR_SET_PDEATHSIG is per thread)."""
        global _connecting
        if not self.address:
            try:
                ray.init(**self._init_options())
            except Exception as err:
                raise ExecutorUnavailable(f"{self.where} did not start: {_first_line(err)}") from err
            return
        if _connecting is not None and _connecting.is_alive():
            raise ExecutorUnavailable(f"{self.where} is unreachable: still connecting (the previous attempt "
                                      "has not finished)")
        outcome: list[BaseException] = []

        def connect() -> None:
            try:
                ray.init(**self._init_options())
            except BaseException as err:  # handed to the caller's thread
                outcome.append(err)

        limit = self.connect_timeout
        _connecting = threading.Thread(target=connect, name="jobport-ray-init", daemon=True)
        _connecting.start()
        _connecting.join(limit)
        if _connecting.is_alive():
            raise ExecutorUnavailable(f"{self.where} is unreachable: no answer within {limit:g} s")
        if outcome:
            raise ExecutorUnavailable(f"{self.where} is unreachable: {_first_line(outcome[0])}") from outcome[0]

    def stop(self) -> list[Task]:
        with self._lock:
            unfinished = list(self._queue) + [c.task for a in self._actors.values() for c in a.calls]
            for actor in self._actors.values():
                self._kill(actor)
            self._actors.clear()
            self._queue.clear()
            self._outbox.clear()
            self._started = False
            self._disconnect()
        return unfinished

    def _disconnect(self) -> None:
        self._gcs = None
        if ray.is_initialized():
            started = time.monotonic()
            try:
                ray.shutdown()  # about 5 s when the GCS is gone, instant otherwise
            except Exception:
                log.exception("ray shutdown failed")
            log.info("ray disconnected", where=self.where, seconds=round(time.monotonic() - started, 2))

    # ---- the protocol -----------------------------------------------------------------------

    def free_slots(self) -> int:
        return max(0, self._capacity * self.prefetch - len(self.running()))

    def submit(self, task: Task) -> None:
        """Queue the task; the next `poll` (at the start of the scheduler's next pass) places it:
        submit never waits on Ray, nor fails when the cluster is gone."""
        self._queue.append(task)

    def running(self) -> dict[str, Task]:
        """Tasks held by actors (running or waiting in them) or waiting for an actor, by input id."""
        held = {t.input_id: t for t in self._queue}
        held.update((c.task.input_id, c.task) for a in self._actors.values() for c in a.calls)
        return held

    def count_for_job(self, job_id: str) -> int:
        return sum(1 for t in self.running().values() if t.job_id == job_id)

    def actors(self) -> list[dict[str, Any]]:
        """The actors now (for logs and tests): slot, worker key, node, pid, tasks held, up or not."""
        return [{"slot": a.slot, "key": a.key, "node_ip": a.node_ip, "pid": a.pid, "tasks": len(a.calls),
                 "up": a.ready} for a in self._actors.values()]

    def kill_job(self, job_id: str) -> list[Task]:
        """Kill the actors holding a task of `job_id` (the in-flight call fails in milliseconds);
        returns every task they held and the job's tasks waiting for an actor."""
        killed = [t for t in self._queue if t.job_id == job_id]
        self._queue = deque(t for t in self._queue if t.job_id != job_id)
        for actor in list(self._actors.values()):
            if any(c.task.job_id == job_id for c in actor.calls):
                self._kill(actor)
                del self._actors[actor.slot]
                killed += [c.task for c in actor.calls]
        return killed

    def poll(self, timeout: float, also_wait_on: Sequence[socket.socket] = ()) -> list[WorkerMessage]:
        """What the actors reported, waiting up to `timeout`; raises ExecutorUnavailable once the
        cluster is lost (after returning what was collected before the loss was noticed)."""
        messages, self._outbox = self._outbox, []
        if messages and self._lost:
            return messages
        self._check_gcs()
        deadline = time.monotonic() + timeout
        try:
            self._release_idle()
            self._pump(messages)
            while not self._lost:
                self._collect(max(0.0, min(WAIT_SLICE_SECONDS, deadline - time.monotonic())), also_wait_on, messages)
                if messages or _readable(also_wait_on) or time.monotonic() >= deadline:
                    break
        except ray_errors.RaySystemError as err:  # the core worker lost its raylet or GCS
            self._lost = self._lost or f"{self.where} is unreachable: {_first_line(err)}"
        return messages

    # ---- the cluster's health ---------------------------------------------------------------

    def _check_gcs(self) -> None:
        if self._gcs is None:
            raise ExecutorUnavailable(f"{self.where} is not connected")
        now = time.monotonic()
        if not self._lost and now - self._last_gcs_check >= GCS_CHECK_SECONDS:
            self._last_gcs_check = now
            self._gcs_alive()
        if self._lost:
            raise self._lost_cluster(self._lost)

    def _gcs_alive(self) -> bool:
        """Probe the GCS before calls that need it (ray.nodes() would hang for a minute on a dead one);
        a failure marks the cluster lost: the next poll() raises."""
        if self._lost or self._gcs is None:
            return False
        try:
            _probe(*self._gcs, timeout=PROBE_SECONDS)
        except OSError as err:
            self._lost = f"Ray cluster at {self._gcs[0]}:{self._gcs[1]} is unreachable: {err}"
            return False
        return True

    def _lost_cluster(self, message: str) -> ExecutorUnavailable:
        """The GCS is gone: disconnect now (a driver left connected to a dead GCS is terminated by Ray
        about 60 s later, the whole server with it); the error to raise. `stop()` returns the tasks."""
        log.error("ray cluster lost", error=message, tasks=len(self.running()))
        for actor in self._actors.values():
            self._kill(actor)
        self._disconnect()
        return ExecutorUnavailable(message)

    def _node_lost(self, actor: _Actor, err: BaseException) -> bool:
        """Whether an actor died with its node (or cannot be reached), rather than its process alone."""
        if isinstance(err, ray_errors.ActorUnavailableError) or getattr(err, "preempted", False):
            return True
        if "node has died" in str(err):  # Ray: "The actor died because its node has died."
            return True
        if not self._gcs_alive():  # the whole cluster is gone: the infrastructure's doing too
            return True
        try:
            node = next((n for n in _nodes() if n["NodeID"] == actor.node_id), None)
        except Exception:
            return True
        if node is None or not node["Alive"]:
            return True
        try:  # the GCS may not have noticed yet: is the node's raylet still there?
            _probe(node["NodeManagerAddress"], int(node["NodeManagerPort"]), PROBE_SECONDS)
        except OSError:
            return True
        return False

    # ---- placing tasks on actors ------------------------------------------------------------

    def _pump(self, messages: list[WorkerMessage]) -> None:
        """Hand waiting tasks to actors with room, then start actors for the tasks still waiting."""
        waiting: deque[Task] = deque()
        for task in self._queue:
            actor = self._room_for(task)
            if actor is None:
                waiting.append(task)
            else:
                self._call(actor, task, messages)
        self._queue = waiting
        self._grow(messages)

    def _room_for(self, task: Task) -> _Actor | None:
        """An idle actor of the task's key; a busy one with room only when no other actor of the key
        is coming up and no new one may start (spreading a job over actors comes first)."""
        mine = [a for a in self._actors.values() if a.key == task.worker_key]
        room = [a for a in mine if a.ready and len(a.calls) < self.prefetch]
        if not room:
            return None
        best = min(room, key=lambda a: len(a.calls))
        if not best.calls:
            return best
        if any(not a.ready for a in mine) or len(self._actors) < self._capacity:
            return None
        return best

    def _grow(self, messages: list[WorkerMessage]) -> None:
        by_key: dict[str, list[Task]] = {}
        for task in self._queue:
            by_key.setdefault(task.worker_key, []).append(task)
        for key, tasks in by_key.items():
            while not self._lost:
                mine = [a for a in self._actors.values() if a.key == key]
                coming = [a for a in mine if not a.ready]
                # each actor coming up takes one waiting task first
                if len(tasks) <= len(coming) or not self._make_room(key, mine) or not self._create(tasks[0], messages):
                    break
            if coming and not any(a.ready for a in mine):
                self._relieve_starvation(key, coming)

    def _make_room(self, key: str, mine: list[_Actor]) -> bool:
        """Whether one more actor of `key` may start, releasing an idle actor of another key at the limit."""
        if len(self._actors) < self._capacity:
            return True
        if any(len(a.calls) < self.prefetch for a in mine):
            return False  # its actors have room (or are coming up): wait for them
        victim = self._idle_victim(key)
        if victim is None:
            return False
        log.info("ray actor released for another pipeline", slot=victim.slot, key=victim.key, for_key=key)
        self._kill(victim)
        del self._actors[victim.slot]
        return True

    def _idle_victim(self, key: str) -> _Actor | None:
        """The actor of another key without tasks that has been idle longest: one coming up for a key no
        task waits for anymore first."""
        waiting_keys = {t.worker_key for t in self._queue}
        spare = [a for a in self._actors.values() if a.key != key and not a.calls]
        useless = [a for a in spare if not a.ready and a.key not in waiting_keys]
        if useless:
            return useless[0]
        idle = [a for a in spare if a.ready]
        return min(idle, key=lambda a: a.idle_since) if idle else None

    def _relieve_starvation(self, key: str, coming: list[_Actor]) -> None:
        """An actor of `key` not placed for a while, with tasks waiting for it, while idle actors of
        other keys hold the cluster's resources: release one of them."""
        if time.monotonic() - min(a.created for a in coming) < STARVED_SECONDS:
            return
        victim = self._idle_victim(key)
        if victim is not None and victim.ready:
            log.info("ray actor released: another pipeline waits for resources", slot=victim.slot,
                     key=victim.key, for_key=key)
            self._kill(victim)
            del self._actors[victim.slot]

    def _create(self, task: Task, messages: list[WorkerMessage]) -> bool:
        problem = self._infeasible(task)
        if self._lost:
            return False
        if problem:
            self._fail_waiting(task.worker_key, "resources_unavailable", problem, messages)
            return False
        slot, self._next_slot = self._next_slot, self._next_slot + 1
        threads = max(1, int(task.resources.num_cpus))
        handle = self._remote_class.options(
            **task.resources.ray_options(), max_restarts=0, max_task_retries=0, scheduling_strategy="SPREAD",
        ).remote(self.blobs, self.host, self.warm_models, slot, threads)
        self._actors[slot] = _Actor(slot, task.worker_key, handle, handle.hello.remote(), time.monotonic())
        log.debug("ray actor starting", slot=slot, key=task.worker_key, resources=task.resources.ray_options())
        return True

    def _infeasible(self, task: Task) -> str | None:
        """Why no node of the cluster could ever host an actor of the task (None: one can)."""
        want = task.resources
        if not self._gcs_alive():
            return None
        try:
            nodes = [n["Resources"] for n in _nodes() if n["Alive"]]
        except ray_errors.RayError:
            return None  # the GCS check of the next poll reports it
        for total in nodes:
            if (total.get("CPU", 0.0) >= want.num_cpus and total.get("GPU", 0.0) >= want.num_gpus
                    and (want.memory_bytes is None or total.get("memory", 0.0) >= want.memory_bytes)):
                return None
        return (f"No node of the {self.where} can run a worker of {task.pipeline_key} {task.pipeline_version}: it "
                f"needs {_describe(want)}; the largest node has {_describe_node(nodes)}")

    def _call(self, actor: _Actor, task: Task, messages: list[WorkerMessage]) -> None:
        stream = actor.handle.run.options(num_returns="streaming").remote(task)
        actor.calls.append(_Call(task, stream))
        if not actor.announced:
            actor.announced = True
            messages.append(WorkerMessage("event", task.job_id, task.input_id, {
                "level": "INFO", "event_type": "worker.started",
                "message": f"Ray actor {actor.slot} started on node {actor.node_ip} (pid {actor.pid})",
                "payload": {"worker": actor.slot, "node_id": actor.node_id, "node_ip": actor.node_ip,
                            "pid": actor.pid}}, actor.slot))

    def _fail_waiting(self, key: str, code: str, message: str, messages: list[WorkerMessage]) -> None:
        """Every task waiting for an actor of `key` fails to load: their jobs fail with `message`."""
        failed = [t for t in self._queue if t.worker_key == key]
        self._queue = deque(t for t in self._queue if t.worker_key != key)
        log.error("ray worker cannot start", key=key, error=message, tasks=len(failed))
        messages += [WorkerMessage("load_failed", t.job_id, t.input_id, {"code": code, "message": message})
                     for t in failed]

    def _release_idle(self) -> None:
        now = time.monotonic()
        waiting_keys = {t.worker_key for t in self._queue}
        for actor in list(self._actors.values()):
            idle = actor.ready and not actor.calls and now - actor.idle_since > self.idle_seconds
            stale = not actor.ready and actor.key not in waiting_keys and now - actor.created > self.idle_seconds
            if idle or stale:
                log.info("ray actor released (idle)", slot=actor.slot, key=actor.key, node=actor.node_ip)
                self._kill(actor)
                del self._actors[actor.slot]

    def _kill(self, actor: _Actor) -> None:
        try:
            ray.kill(actor.handle, no_restart=True)
        except Exception as err:  # already gone, or Ray is: nothing left to stop
            log.debug("ray.kill failed", slot=actor.slot, error=_first_line(err))

    # ---- hearing back -----------------------------------------------------------------------

    def _collect(self, wait: float, also_wait_on: Sequence[socket.socket], messages: list[WorkerMessage]) -> None:
        """Wait up to `wait` for a stream item or an actor coming up, then take everything ready."""
        waitables = [a.hello for a in self._actors.values() if not a.ready]
        waitables += [c.stream for a in self._actors.values() for c in a.calls]
        if not waitables:
            if also_wait_on:
                select.select(list(also_wait_on), [], [], wait)
            else:
                time.sleep(wait)
            return
        ready, _ = ray.wait(waitables, num_returns=1, timeout=wait, fetch_local=True)
        if not ready:
            return
        ready, _ = ray.wait(waitables, num_returns=len(waitables), timeout=0, fetch_local=True)
        ready_set = set(ready)  # ObjectRefs compare by object id, generators by identity
        for actor in list(self._actors.values()):
            if not actor.ready:
                if actor.hello in ready_set:
                    self._on_hello(actor, messages)
            elif any(c.stream in ready_set for c in actor.calls):
                self._drain(actor, messages)
        self._pump(messages)  # actors that came up or finished a task take waiting ones

    def _on_hello(self, actor: _Actor, messages: list[WorkerMessage]) -> None:
        try:
            info: dict[str, Any] = ray.get(actor.hello)
        except ray_errors.RayError as err:
            del self._actors[actor.slot]
            if getattr(err, "actor_init_failed", False) or isinstance(err, ray_errors.RuntimeEnvSetupError):
                self._fail_waiting(actor.key, "worker_start_failed",
                                   f"The Ray worker could not start: {_death_cause(err)}", messages)
            else:  # its node died before it came up: the tasks wait for another one
                log.warning("ray actor lost before it started", slot=actor.slot, error=_first_line(err))
            return
        if info.get("error"):
            del self._actors[actor.slot]
            self._kill(actor)
            self._fail_waiting(actor.key, "worker_start_failed", f"The Ray worker could not start: {info['error']}",
                               messages)
            return
        actor.hello = None
        actor.node_id, actor.node_ip, actor.pid = info["node_id"], info["node_ip"], info["pid"]
        actor.idle_since = time.monotonic()
        log.info("ray actor up", slot=actor.slot, key=actor.key, node=actor.node_ip, pid=actor.pid,
                 seconds=round(actor.idle_since - actor.created, 2))

    def _drain(self, actor: _Actor, messages: list[WorkerMessage]) -> None:
        """Take the ready messages of the actor's calls, in order; a call that ended leaves the actor."""
        for call in list(actor.calls):
            try:
                ended = self._read(call, messages)
            except ray_errors.RayTaskError as err:  # `run` itself raised: not the pipeline's doing
                messages.append(WorkerMessage("failed", call.task.job_id, call.task.input_id,
                                              {"code": "internal_error", "message": _first_line(err)}, actor.slot))
                ended = True
            except ray_errors.RayError as err:  # the actor is gone
                self._actor_lost(actor, err, messages)
                return
            if ended:
                actor.calls.remove(call)
                if not actor.calls:
                    actor.idle_since = time.monotonic()

    @staticmethod
    def _read(call: _Call, messages: list[WorkerMessage]) -> bool:
        """Append the call's ready messages; True once it reported its end."""
        stream = call.stream
        while stream.next_ready():
            try:
                batch: list[WorkerMessage] = ray.get(next(stream))
            except StopIteration:
                return True
            messages += batch
            if any(m.kind in TERMINAL for m in batch):
                return True
        if stream.is_finished():  # ended without a result: not expected from RunnerActor.run
            messages.append(WorkerMessage("failed", call.task.job_id, call.task.input_id,
                                          {"code": "internal_error", "message": "the worker ended the task without "
                                                                                "a result"}))
            return True
        return False

    def _actor_lost(self, actor: _Actor, err: BaseException, messages: list[WorkerMessage]) -> None:
        del self._actors[actor.slot]
        self._kill(actor)
        tasks = [c.task for c in actor.calls]
        if self._node_lost(actor, err):
            reason = f"its Ray node {actor.node_ip} ({actor.node_id[:12]}) was lost"
            log.warning("ray node lost", slot=actor.slot, node=actor.node_ip, tasks=len(tasks))
            messages += [WorkerMessage("preempted", t.job_id, t.input_id,
                                       {"task": t, "reason": reason, "reason_code": "node_lost"}, actor.slot)
                         for t in tasks]
            return
        log.warning("ray actor died", slot=actor.slot, node=actor.node_ip, pid=actor.pid, error=_first_line(err))
        if not tasks:
            return
        running, *waiting = tasks
        messages.append(WorkerMessage("died", running.job_id, running.input_id, {
            "exitcode": _exit_code(err), "task": running,
            "reason": f"Ray actor {actor.slot} (pid {actor.pid} on {actor.node_ip}) died: {_death_cause(err)}"},
            actor.slot))
        messages += [WorkerMessage("returned", t.job_id, t.input_id, {"task": t}, actor.slot) for t in waiting]


def _read_auth_environment() -> None:
    """Ray reads `RAY_AUTH_MODE` when it is imported: a process that set it (and the token's
    `RAY_AUTH_TOKEN_PATH`) later, such as a test driver of a cluster it started, would connect
    without its token and retry `InvalidAuthToken` forever. Read them again (what Ray does itself
    when it enables token auth)."""
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        return
    from ray._private.authentication.authentication_token_setup import _enable_token_auth
    from ray._raylet import AuthenticationTokenLoader  # type: ignore[attr-defined]

    _enable_token_auth()
    AuthenticationTokenLoader.instance().reset_cache()


def _nodes() -> list[dict[str, Any]]:
    """The cluster's nodes as the GCS knows them (dead ones included, `Alive` false)."""
    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    return nodes


def _exit_code(err: BaseException) -> int | None:
    """The worker process's exit code when Ray says it (a signal as its negative number)."""
    text = str(err)
    signal_match = re.search(r"signal (\d+)", text, re.IGNORECASE)
    if signal_match:
        return -int(signal_match.group(1))
    code_match = re.search(r"exit code:? (-?\d+)", text, re.IGNORECASE)
    return int(code_match.group(1)) if code_match else None


def _death_cause(err: BaseException) -> str:
    """Ray's own sentence about the death (the line after its actor description, without its
    advice), or the last line of a traceback."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    causes = [line for line in lines if not re.match(r"(class_name|actor_id|pid|name|namespace|ip):", line)]
    cause = causes[-1].split(" Some common causes include")[0] if causes else type(err).__name__
    return cause if len(cause) <= 300 else cause[:297] + "..."


def _describe(resources: Resources) -> str:
    parts = [f"{resources.num_cpus:g} CPU", f"{resources.num_gpus:g} GPU"]
    if resources.memory_bytes is not None:
        parts.append(f"{resources.memory_bytes / 2 ** 30:.1f} GiB of memory")
    return ", ".join(parts)


def _describe_node(nodes: Iterable[dict[str, float]]) -> str:
    totals = list(nodes)
    if not totals:
        return "nothing (no node is alive)"
    best = max(totals, key=lambda t: (t.get("GPU", 0.0), t.get("CPU", 0.0), t.get("memory", 0.0)))
    return _describe(Resources(best.get("CPU", 0.0), best.get("GPU", 0.0), int(best.get("memory", 0.0))))
