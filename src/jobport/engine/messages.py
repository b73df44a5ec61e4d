"""What travels between the scheduler and worker processes (pickled over a pipe, or to Ray actors).

A `Task` is one input to process. A `TaskChunk` is many small inputs (single records) of the same
worker key and config, across jobs: the worker scores them in one batched call and answers with one
`chunk` message whose `data["results"]` holds one `ItemResult` per task, in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobport.domain.payloads import InputPayload
from jobport.pipelines.sdk import Resources


@dataclass(frozen=True)
class FileSpec:
    """A blob a worker reads: an input to process or a reference (n-shot) file."""

    input_id: str
    port_name: str
    file_id: str
    filename: str
    metadata: dict[str, Any]
    sha256: str
    num_bytes: int
    blob_key: str
    # An inline record (super.AI input object as one JSONL line): bytes travel with the task, no blob.
    inline: bytes | None = None

    @classmethod
    def of(cls, input_id: str, port_name: str, file_id: str, payload: InputPayload) -> FileSpec:
        return cls(input_id=input_id, port_name=port_name, file_id=file_id, filename=payload.filename,
                   metadata=payload.metadata, sha256=payload.sha256, num_bytes=payload.num_bytes,
                   blob_key=payload.blob_key or "",
                   inline=payload.inline.encode() if payload.inline is not None else None)


@dataclass(frozen=True)
class Task:
    job_id: str
    input_id: str
    attempt: int
    pipeline_key: str
    pipeline_version: str
    worker_key: str
    config: dict[str, Any]
    item: FileSpec
    references: tuple[FileSpec, ...] = field(default_factory=tuple)
    resources: Resources = Resources()  # what the worker of this task reserves (executor `ray`)


@dataclass(frozen=True)
class TaskChunk:
    """Small inputs sent, run and answered together (`Task`s sharing worker key and config)."""

    tasks: tuple[Task, ...]
    # an output up to this size travels back in the result message and is stored in its row, not
    # written as a blob (`engine.inline_output_bytes`)
    inline_output_bytes: int = 0

    @property
    def first(self) -> Task:
        return self.tasks[0]

    @property
    def input_ids(self) -> list[str]:
        return [t.input_id for t in self.tasks]


Unit = Task | TaskChunk  # what an executor holds in one slot


def tasks_of(unit: Unit) -> tuple[Task, ...]:
    return unit.tasks if isinstance(unit, TaskChunk) else (unit,)


@dataclass
class ItemResult:
    """What became of one task of a chunk: `outcome` done | failed | load_failed, with what the
    task reported while it ran (events, progress entries and outputs, as the `data` of the
    single-task messages of the same kinds) and, for done, `items`/`failed_items`/`summary`."""

    job_id: str
    input_id: str
    outcome: str = "done"
    code: str | None = None
    message: str = ""
    items: int = 0
    failed_items: int = 0
    summary: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)
    progress: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class WorkerMessage:
    """kind: ready | event | progress | output | done | failed | load_failed | chunk | died |
    returned | preempted (`ready` is a worker's hello: it carries no job, so its ids are empty;
    `chunk` answers a `TaskChunk`: its ids are those of the chunk's first task)."""

    kind: str
    job_id: str = ""
    input_id: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    slot: int = -1
