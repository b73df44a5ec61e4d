"""What travels between the scheduler and worker processes (pickled over a pipe, or to Ray actors)."""

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
class WorkerMessage:
    """kind: ready | event | progress | output | done | failed | load_failed | died | returned |
    preempted (`ready` is a worker's hello: it carries no job, so its ids are empty)."""

    kind: str
    job_id: str = ""
    input_id: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    slot: int = -1
