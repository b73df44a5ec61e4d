"""The local executor with real worker processes: a chunk takes one slot, its answer is one `chunk`
message with a result per task, and a worker killed while it holds a chunk reports every task of
that chunk as `died` (flagged `chunk`) and the tasks waiting behind it as `returned`, as it does
the units sent after it died (a broken pipe)."""

from __future__ import annotations

import time
from pathlib import Path

from jobport.blobs import BlobConfig
from jobport.domain.payloads import InputPayload
from jobport.engine.executors.local import LocalExecutor
from jobport.engine.messages import FileSpec, Task, TaskChunk, WorkerMessage
from jobport.pipelines.sdk import HostContext


def _task(i: int) -> Task:
    payload = InputPayload.of_record("input.jsonl", '{"x": 1}')
    return Task(f"job{i}", f"inp{i}", 1, "no-such-pipeline", "1.0.0", "key", {},
                FileSpec.of(f"inp{i}", "worker.data", f"fil{i}", payload))


def _poll_until(executor: LocalExecutor, wanted: int, seconds: float = 60) -> list[WorkerMessage]:
    messages: list[WorkerMessage] = []
    deadline = time.monotonic() + seconds
    while len([m for m in messages if m.kind != "ready"]) < wanted and time.monotonic() < deadline:
        messages += executor.poll(0.2)
    return [m for m in messages if m.kind != "ready"]


def test_a_chunk_is_one_unit_answered_by_one_message(tmp_path: Path):
    executor = LocalExecutor(1, BlobConfig(kind="local", root=tmp_path), HostContext(), prefetch=2)
    executor.start()
    try:
        chunk = TaskChunk(tuple(_task(i) for i in range(3)))
        executor.submit(chunk)
        assert executor.free_slots() == 1 and sorted(executor.running()) == ["inp0", "inp1", "inp2"]
        (answer,) = _poll_until(executor, 1)
        assert answer.kind == "chunk" and answer.input_id == "inp0"
        results = answer.data["results"]
        assert [r.input_id for r in results] == ["inp0", "inp1", "inp2"]
        assert {r.outcome for r in results} == {"load_failed"}  # the pipeline is not installed
        assert "no-such-pipeline" in results[0].message
        assert executor.free_slots() == 2 and executor.running() == {}
    finally:
        executor.stop()


def test_a_worker_killed_holding_a_chunk_reports_each_task(tmp_path: Path):
    executor = LocalExecutor(1, BlobConfig(kind="local", root=tmp_path), HostContext(), prefetch=2)
    executor.start()
    try:
        executor.submit(TaskChunk(tuple(_task(i) for i in range(3))))
        executor.submit(_task(9))
        (handle,) = executor._handles.values()
        handle.process.kill()  # before or while it runs the chunk: either way nothing was answered

        messages = _poll_until(executor, 4)

        died = [m for m in messages if m.kind == "died"]
        assert sorted(m.input_id for m in died) == ["inp0", "inp1", "inp2"]
        assert all(m.data["chunk"] is True and m.data["task"].input_id == m.input_id for m in died)
        assert [m.input_id for m in messages if m.kind == "returned"] == ["inp9"]
        assert executor.running() == {} and executor.free_slots() == 2  # a fresh worker took the slot
    finally:
        executor.stop()


def test_a_unit_sent_to_a_worker_that_died_already_comes_back_returned(tmp_path: Path):
    executor = LocalExecutor(1, BlobConfig(kind="local", root=tmp_path), HostContext(), prefetch=2)
    executor.start()
    try:
        (handle,) = executor._handles.values()
        handle.process.kill()
        handle.process.join(timeout=10)  # dead, and not yet noticed by a poll: its pipe is broken

        executor.submit(TaskChunk(tuple(_task(i) for i in range(2))))  # no BrokenPipeError
        executor.submit(_task(9))
        assert sorted(executor.running()) == ["inp0", "inp1", "inp9"]  # their leases are still renewed

        messages = _poll_until(executor, 3)

        assert sorted((m.kind, m.input_id) for m in messages) == [
            ("returned", "inp0"), ("returned", "inp1"), ("returned", "inp9")]  # never ran: no attempt spent
        assert executor.running() == {} and executor.free_slots() == 2  # a fresh worker took the slot
    finally:
        executor.stop()
