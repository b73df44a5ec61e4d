"""The Ray executor on a two-node loopback cluster, driven by a real scheduler (SQLite, local blobs).

Jobs complete with their outputs, progress and events live while an input runs, and a job's
parallelism spreads it over both nodes. Cancel kills the running actor within a second. A node
SIGKILLed mid-job preempts its inputs (no attempt spent) and the job completes, every input
exactly once; a worker process killed alone spends an attempt. A cluster that is unreachable at
start, or lost later, is `ExecutorUnavailable`; a pipeline that cannot load fails its job with the
loader's message, and a worker no node can host fails its job instead of waiting forever.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import time
from pathlib import Path

import pytest
import ray

from helpers import machine_csv, wait_until
from jobport.blobs import BlobConfig
from jobport.engine.executors.base import ExecutorUnavailable
from jobport.engine.executors.ray import RayExecutor
from jobport.engine.messages import FileSpec, Task
from jobport.pipelines.sdk import HostContext, Resources
from jobport.server import build_context, build_scheduler, prepare
from jobport.services import apps as app_service
from jobport.services.jobs import control
from jobport.testing.raycluster import HEAD_IP, LocalRayCluster, free_port

WINDOW, STEP = 16, 4
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VIRGINICA = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}


def _inputs(count: int, rows: int, prefix: str = "in") -> dict[str, bytes]:
    return {f"{prefix}{i:02d}.csv": machine_csv("idle" if i % 2 else "run", rows, seed=10 + i) for i in range(count)}


def _stamps(world, job_id: str, input_id: str) -> list[int]:
    parts = sorted((o for o in world.outputs(job_id) if o.input_id == input_id), key=lambda o: o.filename)
    return [int(r["timestamp"]) for part in parts for r in csv.DictReader(io.StringIO(world.read(part)))]


def _nodes_of_slots(world, job_id: str) -> dict[int, str]:
    """Actor slot -> node IP, from the `worker.started` events of the job's actors."""
    return {e.payload["worker"]: e.payload["node_ip"] for e in world.events(job_id, "worker.started")}


def _assert_each_input_once(world, job_id: str, rows: int) -> None:
    expected = (rows - WINDOW) // STEP + 1
    for row in world.inputs(job_id):
        stamps = _stamps(world, job_id, row.id)
        assert len(stamps) == expected and len(set(stamps)) == expected, (row.file_id, len(stamps), expected)


def test_a_job_runs_on_both_nodes_with_live_progress(ray_world):
    rows = 10_000
    job = ray_world.machine_job(_inputs(8, rows), parallelism=2, flush_every_n_iteration=1)
    live = []

    def ended() -> bool:
        found = ray_world.job(job)
        if found.job.status == "RUNNING" and found.counts["processing"]:
            processing = {r.id for r in ray_world.inputs(job) if r.status == "processing"}
            live.extend(p for p in ray_world.progress(job) if p.input_id in processing)
        return found.job.status in ("COMPLETED", "FAILED")

    ray_world.run_until(ended, 120, "the job ending")

    found = ray_world.job(job)
    assert found.job.status == "COMPLETED", ray_world.events(job)
    assert found.counts == {"pending": 0, "processing": 0, "completed": 8, "failed": 0}
    assert live, "progress of an input was recorded while it ran"
    _assert_each_input_once(ray_world, job, rows)
    nodes = _nodes_of_slots(ray_world, job)
    ran_on = {nodes[e.index] for e in ray_world.events(job, "inference.success")}
    assert ran_on == {"127.0.0.2", "127.0.0.3"}, nodes


def test_record_jobs_of_a_hosted_model_complete_and_idle_actors_are_released(ray_world_with, iris_model):
    world = ray_world_with(ray_idle_actor_seconds=1)
    app = world.iris_app(iris_model)
    jobs = world.record_jobs(app, [SETOSA, VIRGINICA, SETOSA])

    world.run_until_ended(*jobs)

    assert [world.status(j) for j in jobs] == ["COMPLETED"] * 3
    labels = [world.read(world.outputs(j)[0]) for j in jobs]
    assert "setosa" in labels[0] and "virginica" in labels[1] and "setosa" in labels[2]
    assert world.executor.actors()
    world.run_until(lambda: not world.executor.actors(), 10, "the idle actors' release")


def test_resources_take_an_apps_overrides_and_refuse_unknown_or_negative_ones():
    spec = Resources(num_cpus=2, memory_bytes=2 ** 30)

    assert spec.merged({"num_gpus": 0.5}).ray_options() == {"num_cpus": 2.0, "num_gpus": 0.5, "memory": 2 ** 30}
    assert spec.merged(None) == spec and Resources().ray_options() == {"num_cpus": 1.0, "num_gpus": 0.0}
    with pytest.raises(ValueError, match="unknown resource 'gpus'"):
        spec.merged({"gpus": 1})
    with pytest.raises(ValueError, match="num_cpus must not be negative"):
        spec.merged({"num_cpus": -1})
    with pytest.raises(ValueError, match="memory_bytes must be a whole number"):
        spec.merged({"memory_bytes": 1.5})


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _running_on(world, job_id: str, node_ip: str | None = None) -> dict | None:
    """The `worker.started` payload of an actor (on `node_ip`) that reported progress of an input
    of the job still processing: that input is running there now."""
    actors = {e.payload["worker"]: e.payload for e in world.events(job_id, "worker.started")
              if node_ip is None or e.payload["node_ip"] == node_ip}
    processing = {r.id for r in world.inputs(job_id) if r.status == "processing"}
    for entry in world.progress(job_id):
        if entry.index in actors and entry.input_id in processing:
            return {**actors[entry.index], "input_id": entry.input_id}
    return None


def test_cancel_kills_the_running_actor_within_a_second(ray_world):
    job = ray_world.machine_job(_inputs(1, 150_000, "long"), flush_every_n_iteration=1)
    actor = ray_world.run_until(lambda: _running_on(ray_world, job), 60, "the input running on an actor")
    assert _alive(actor["pid"])

    started = time.monotonic()
    control.cancel_job(ray_world.ctx, ray_world.org_id, job)
    ray_world.run_until(lambda: not _alive(actor["pid"]), 5, "the actor's process ending")
    latency = time.monotonic() - started

    assert latency < 1.0, latency
    assert ray_world.status(job) == "CANCELLED"
    assert ray_world.counts(job)["processing"] == 0
    assert "input.cancelled" in [e.event_type for e in ray_world.events(job)]
    assert ray_world.executor.running() == {}
    print(f"cancel -> actor process gone: {latency * 1000:.0f} ms")


def test_a_worker_process_killed_mid_input_spends_an_attempt(ray_world):
    rows = 40_000
    job = ray_world.machine_job(_inputs(2, rows, "crash"), flush_every_n_iteration=1)
    actor = ray_world.run_until(lambda: _running_on(ray_world, job), 60, "an input running on an actor")

    os.kill(actor["pid"], signal.SIGKILL)  # the OOM killer's way: the node stays up
    ray_world.run_until_ended(job)

    assert ray_world.status(job) == "COMPLETED"
    attempts = {r.id: r.attempts for r in ray_world.inputs(job)}
    assert attempts[actor["input_id"]] == 2
    assert [i for i, n in attempts.items() if n != 1] == [actor["input_id"]]
    retried = ray_world.events(job, "input.retried")
    assert [e.input_id for e in retried] == [actor["input_id"]]
    assert ray_world.events(job, "input.preempted") == []
    _assert_each_input_once(ray_world, job, rows)


def test_a_pipeline_that_cannot_load_fails_its_jobs_with_the_loaders_message(ray_world):
    ray_world.upload("broken.onnx", b"this is not an ONNX model", "application/octet-stream")
    app = app_service.create_app(ray_world.ctx, ray_world.org_id, app_service.AppCreate(
        name="broken", pipeline_key="tabular-model",
        config={"mime_type": "text/csv; header=present", "features": [{"name": "sepal_length", "type": "number"}],
                "outputs": [{"name": "label", "type": "string"}]},
        references={"worker.model": [app_service.ReferenceIn(file_id="broken.onnx")]}),
        check_files=False)  # creation would refuse this file; a Ray worker must still fail cleanly on one
    jobs = ray_world.record_jobs(app, [SETOSA, SETOSA])

    ray_world.run_until_ended(*jobs)

    for job in jobs:
        found = ray_world.job(job).job
        assert found.status == "FAILED"
        assert found.error["code"] == "invalid_model_file"
        assert found.error["message"].startswith("model file broken.onnx is not a loadable ONNX model")
        assert ray_world.events(job, "job.failed")[0].message == found.error["message"]


def _executor(address: str, blobs: Path) -> RayExecutor:
    return RayExecutor(address, "jobport-test", BlobConfig("local", blobs), HostContext(), node_ip_address=HEAD_IP)


def test_a_worker_no_node_can_host_fails_its_job_instead_of_waiting(tmp_path, ray_cluster):
    executor = _executor(ray_cluster.address, tmp_path)
    executor.start()
    try:
        item = FileSpec("inp_1", "worker.inference", "a.csv", "a.csv", {}, "", 1, "k")
        task = Task("job_1", "inp_1", 1, "machine-state-classification", "1.1.1", "key-gpu", {}, item,
                    resources=Resources(num_gpus=1))
        executor.submit(task)
        (message,) = executor.poll(0.1)
    finally:
        executor.stop()

    assert (message.kind, message.job_id, message.data["code"]) == ("load_failed", "job_1", "resources_unavailable")
    assert "needs 1 CPU, 1 GPU" in message.data["message"], message.data["message"]
    assert executor.running() == {}


def test_an_unreachable_cluster_is_reported_at_start_and_jobs_wait(tmp_path, ray_cluster, make_ray_settings):
    address = f"{HEAD_IP}:{free_port()}"
    executor = _executor(address, tmp_path)
    started = time.monotonic()
    with pytest.raises(ExecutorUnavailable, match=f"Ray cluster at {address} is unreachable"):
        executor.start()
    assert time.monotonic() - started < 10

    ctx = build_context(make_ray_settings(tmp_path / "home", ray_cluster, ray_address=address))
    prepare(ctx)
    try:
        scheduler = build_scheduler(ctx)
        assert not scheduler.take_lock()  # the scheduler waits for the cluster: nothing is dispatched
        assert "unreachable" in (scheduler.problem or "")
    finally:
        ctx.db.dispose()


def test_a_lost_cluster_is_dropped_reported_by_poll_and_reconnected_once_back(tmp_path, ray_cluster):
    small = LocalRayCluster(names=("A",), token_path=ray_cluster.token_path).start()  # one driver, one token
    executor = _executor(small.address, tmp_path)
    try:
        executor.connect()  # a standby scheduler: connected, no work
        small.kill_node("A")
        lost = time.monotonic()
        wait_until(lambda: not ray.is_initialized(), 15, what="the standby connection dropped")
        dropped = time.monotonic() - lost
        with pytest.raises(ExecutorUnavailable, match=f"Ray cluster at {small.address} is unreachable"):
            executor.start()

        small.start_node("A")  # the cluster is back at the same address: the scheduler's retry connects
        executor.start()
        item = FileSpec("inp_1", "worker.inference", "a.csv", "a.csv", {}, "", 1, "k")
        executor.submit(Task("job_1", "inp_1", 1, "machine-state-classification", "1.1.1", "key", {}, item))
        small.kill_node("A")
        lost = time.monotonic()
        with pytest.raises(ExecutorUnavailable, match=f"Ray cluster at {small.address} is unreachable"):
            for _ in range(100):
                executor.poll(0.1)
        detected = time.monotonic() - lost
        unfinished = executor.stop()
        stopped = time.monotonic() - lost
    finally:
        executor.stop()
        small.stop()

    assert [t.input_id for t in unfinished] == ["inp_1"]
    assert dropped < 10 and detected < 10, (dropped, detected)  # noticed in a second; ray.shutdown() takes 5 s
    assert stopped < 15, stopped
    print(f"GCS lost -> standby dropped: {dropped:.2f} s; poll raised: {detected:.2f} s; stop() done: {stopped:.2f} s")


def test_without_an_address_a_private_ray_runs_the_jobs(ray_world_with, iris_model):
    world = ray_world_with(ray_address=None, ray_node_ip_address=None, ray_object_store_bytes=80 * 1024 * 1024)
    jobs = world.record_jobs(world.iris_app(iris_model), [VIRGINICA])

    world.run_until_ended(*jobs)

    assert world.status(jobs[0]) == "COMPLETED"
    assert "virginica" in world.read(world.outputs(jobs[0])[0])
    print(f"private Ray started in {world.executor.connect_seconds:.1f} s")


def test_a_node_lost_mid_job_preempts_its_inputs_without_spending_attempts(ray_world):
    rows = 20_000
    job = ray_world.machine_job(_inputs(8, rows, "node"), parallelism=2, flush_every_n_iteration=1)
    victim = ray_world.run_until(lambda: _running_on(ray_world, job, "127.0.0.3"), 90, "an input running on node B")

    ray_world.cluster.kill_node("B")
    killed = time.monotonic()
    preempted = ray_world.run_until(lambda: ray_world.events(job, "input.preempted"), 30, "the input preempted")
    recovered = time.monotonic() - killed
    ray_world.run_until_ended(job, seconds=120)
    completed = time.monotonic() - killed

    assert ray_world.status(job) == "COMPLETED", ray_world.events(job)
    assert victim["input_id"] in {e.input_id for e in preempted}
    assert "Ray node 127.0.0.3" in preempted[0].message
    assert {r.id: r.attempts for r in ray_world.inputs(job)} == {r.id: 1 for r in ray_world.inputs(job)}
    assert ray_world.events(job, "input.retried") == []
    _assert_each_input_once(ray_world, job, rows)
    successes = [e.input_id for e in ray_world.events(job, "inference.success")]
    assert sorted(successes) == sorted(r.id for r in ray_world.inputs(job)), "each input succeeds exactly once"
    print(f"node B killed -> input preempted after {recovered:.2f} s, job completed after {completed:.1f} s")
