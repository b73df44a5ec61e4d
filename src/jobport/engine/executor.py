"""The executor protocol: how the scheduler hands tasks to workers and hears back from them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from jobport.engine.messages import Task, WorkerMessage


class Executor(Protocol):
    def start(self) -> None: ...

    def stop(self) -> list[Task]:
        """Stop every worker; returns the tasks that were still running."""

    def free_slots(self) -> int: ...

    def submit(self, task: Task) -> None: ...

    def running(self) -> dict[str, Task]:
        """In-flight tasks by input id."""

    def count_for_job(self, job_id: str) -> int: ...

    def kill_job(self, job_id: str) -> list[Task]:
        """Stop at once every task of `job_id` (killing its workers); returns those tasks."""

    def poll(self, timeout: float, also_wait_on: Sequence[object] = ()) -> list[WorkerMessage]:
        """Messages from workers, waiting up to `timeout` (or until an extra waitable is ready).
        A worker that died while running a task yields a `died` message for that task."""
