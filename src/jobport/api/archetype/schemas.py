"""Wire schemas of the Archetype surface (and the native API at /v0.5), one family per resource:
`...Create` (request bodies), `...Public` (one object as the API returns it), `...List` (a page
with its count). Responses are built as dicts by `render` and validated against these models;
field order here is the order on the wire."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ArchetypeErrorItem(BaseModel):
    code: str = Field(description="Machine-readable error code, e.g. invalid_parameter, file_not_found.")
    message: str = Field(description="What is wrong, naming the field.")
    suggestion: str = Field(description="How to fix it.")
    error_uid: str = Field(description="Unique id of this error occurrence (quote it in support requests).")
    field: str | None = Field(None, description="The request field at fault, when there is one.")


class ArchetypeError(BaseModel):
    """Every 4xx/5xx of the Archetype surface."""

    errors: list[ArchetypeErrorItem]


class InputProgress(BaseModel):
    pending: int
    processing: int
    completed: int
    failed: int


class JobPublic(BaseModel):
    """A job. `queue_position`/`queue_depth` describe a queued job (null once it left the queue; left
    out of the create answer of a job that is no longer queued); `input_progress` counts tracked
    inputs by status (not in the create answer)."""

    id: str
    org_id: str
    name: str | None
    pipeline_type: str
    pipeline_key: str
    pipeline_version: str
    status: str = Field(description="PENDING, ADMITTED, RUNNING, PREEMPTED, COMPLETED, FAILED or CANCELLED.")
    parameters: dict[str, Any]
    retry_count: int
    preemption_count: int
    queue_position: int | None = None
    queue_depth: int | None = None
    priority: int
    metadata: Any
    tags: list[Any]
    callback_url: str | None
    created_at: str | None
    updated_at: str | None
    started_at: str | None
    completed_at: str | None
    failed_at: str | None
    cancelled_at: str | None
    error: dict[str, Any] | None
    input_progress: InputProgress | None = None


class JobList(BaseModel):
    total: int
    offset: int
    limit: int
    jobs: list[JobPublic]


class QueueDepth(BaseModel):
    pipeline_type: str
    depth: int


class QueueDepths(BaseModel):
    queues: list[QueueDepth]


class JobCancelled(BaseModel):
    id: str
    status: str
    cancelled_at: str | None


class JobRetried(BaseModel):
    id: str
    status: str
    retry_count: int


class JobDeleted(BaseModel):
    id: str
    deleted: bool


class FileData(BaseModel):
    ref: str | None = Field(description="Signed download link (no auth needed until it expires).")
    filename: str | None
    file_type: str | None
    file_extension: str | None
    num_bytes: int | None
    metadata: dict[str, Any]
    file_tags: list[Any]
    file_attributes: dict[str, Any]


class JobInputPublic(BaseModel):
    id: str
    job_id: str
    port_name: str
    file_id: str
    data: FileData
    status: str
    attempts: int
    error_message: str | None
    created_at: str | None
    started_at: str | None
    completed_at: str | None


class JobInputList(BaseModel):
    total: int
    offset: int
    limit: int
    inputs: list[JobInputPublic]


class ProgressPublic(BaseModel):
    id: int
    kind: str
    step: str
    message: str
    metrics: dict[str, Any]
    payload: dict[str, Any] | None
    input_id: str | None
    index: int | None
    created_at: str | None


class InputWithProgress(BaseModel):
    input: JobInputPublic
    latest_progress: ProgressPublic | None
    step: str | None


class InputsProgress(BaseModel):
    items: list[InputWithProgress]


class InputCounts(BaseModel):
    job_id: str
    pending: int
    processing: int
    completed: int
    failed: int


class JobOutputPublic(BaseModel):
    id: str
    job_id: str
    port_name: str
    input_id: str | None
    input_file_id: str | None
    data: FileData
    expires_at: str | None = Field(description="When `data.ref` stops working.")
    created_at: str | None


class JobOutputList(BaseModel):
    total: int
    offset: int
    limit: int
    outputs: list[JobOutputPublic]


class EventPublic(BaseModel):
    id: int
    event_type: str
    level: str
    message: str
    payload: dict[str, Any] | None
    input_id: str | None
    index: int | None
    created_at: str | None


class EventList(BaseModel):
    total: int
    offset: int
    limit: int
    events: list[EventPublic]


class ProgressList(BaseModel):
    total: int
    offset: int
    limit: int
    entries: list[ProgressPublic]
