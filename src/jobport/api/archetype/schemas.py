"""Wire schemas of the Archetype surface (and the native API at /v0.5), one family per resource:
`...Create` (request bodies), `...Public` (one object as the API returns it), `...List` (a page
with its count). Responses are built as dicts by `render` and validated against these models;
field order here is the order on the wire."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from jobport.domain.bounds import INT64_MAX


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


# ---- files (`/v0.5/files`) ----------------------------------------------------------------------

class FileUploaded(BaseModel):
    """The answer to an upload. Uploading a name again replaces the org's file of that name."""

    is_valid: bool
    file_id: str = Field(description="The file's name (its basename), the id jobs refer to it by.")
    file_uid: str = Field(description="This upload's unique id (a new one on every upload).")
    num_bytes: int
    file_type: str = Field(description="Content type, e.g. text/csv.")
    file_attributes: dict[str, Any] = Field(
        description="Facts computed while the bytes came in: CSV num_rows, num_columns and column_headers; "
                    "text num_lines.")


class FilePublic(BaseModel):
    file_id: str
    file_uid: str
    is_valid: bool
    file_type: str
    num_bytes: int
    file_status: str = Field(description="Always FILE_STATUS_INGESTED: a file is usable as soon as it is uploaded.")
    file_attributes: dict[str, Any]
    ingested: bool
    file_index: int | None
    file_tags: list[Any]
    sha256: str
    created_at: str
    updated_at: str


class FileList(BaseModel):
    """One page of files, newest first; pass a cursor back as `after` (next) or `before` (previous)."""

    data: list[FilePublic]
    has_more: bool = Field(description="More files lie beyond this page in the direction it was read.")
    next_cursor: str | None = Field(description="`after=` of the next (older) page; null on the last page.")
    prev_cursor: str | None = Field(description="`before=` of the previous (newer) page; null on the first page.")


class FilesSummary(BaseModel):
    num_files: int
    num_bytes: int
    file_types: dict[str, int] = Field(description="Number of files per content type.")


class FileDeleted(BaseModel):
    file_id: str
    file_uid: str
    deleted: bool


# ---- pipeline registry (`/v0.5/batch/registry/pipelines`) ---------------------------------------

class PortPublic(BaseModel):
    name: str = Field(description="`<component>.<port>`, e.g. worker.inference.")
    description: str
    mode: str = Field(description="plain_file_list or n_shot_file_list.")
    distribute: str = Field(description="scatter (one task per file) or replicate (every task gets all files).")
    required: bool
    tracked: bool = Field(description="Whether each file is a tracked job input with its own status.")


class RetryPolicy(BaseModel):
    max_attempts: int


class PipelinePublic(BaseModel):
    id: str
    pipeline_key: str
    pipeline_version: str
    name: str
    description: str
    pipeline_type: str = Field(description="batch or training.")
    components: dict[str, str] = Field(description="Component name -> component id.")
    default_config: dict[str, Any]
    config_schema: dict[str, Any] = Field(description="JSON Schema of `parameters`.")
    user_config_schema: dict[str, Any] = Field(description="JSON Schema of `parameters.worker.config`.")
    edges: list[Any]
    inputs: list[PortPublic]
    outputs: list[PortPublic]
    retry_policy: RetryPolicy
    visibility: str = Field(description="platform or org.")
    org_id: str | None
    status: str = Field(description="draft, published, deactivated or deleted.")
    created_at: str
    updated_at: str


class PipelineList(BaseModel):
    total: int
    offset: int
    limit: int
    pipelines: list[PipelinePublic]


class PipelineSchema(BaseModel):
    id: str
    pipeline_key: str
    pipeline_version: str
    user_schema: dict[str, Any] = Field(description="JSON Schema of `parameters.worker.config`.")
    config_schema: dict[str, Any] = Field(description="JSON Schema of `parameters`.")
    inputs: list[PortPublic]
    outputs: list[PortPublic]


# ---- model catalogue (`/v0.5/models`) -----------------------------------------------------------

class ModelPublic(BaseModel):
    name: str = Field(description="What a job gives as `model_variant`.")
    kind: str = Field(description="gguf (runs in the server's workers) or openai (an OpenAI-compatible server).")
    description: str
    multimodal: bool
    aliases: list[str] = Field(description="Other names accepted for this model.")
    context_tokens: int | None = Field(description="Context window of a gguf model; null for openai models.")


class ModelList(BaseModel):
    total: int
    models: list[ModelPublic]


# ---- apps (`/v0.5/apps`) and usage (`/v0.5/usage`) ----------------------------------------------

class AppReferencePublic(BaseModel):
    """A reference file (e.g. the model) as the version copied it."""

    port_name: str
    file_id: str
    sha256: str
    num_bytes: int


class AppPricing(BaseModel):
    records_per_group: int
    units_per_group: int = Field(description="Billed units ($0.001 each) per group of records.")


class AppVersionPublic(BaseModel):
    version: str
    pipeline_version: str
    active: bool
    config: dict[str, Any] = Field(description="The pipeline config, merged onto its defaults.")
    references: list[AppReferencePublic]
    pricing: AppPricing
    created_at: str | None
    deactivated_at: str | None


class AppPublic(BaseModel):
    id: str
    name: str
    description: str
    pipeline_key: str
    latest_version: str | None = Field(description="The most recently added active version; null if none is active.")
    batch_callback_url: str | None
    completion_window_seconds: int | None
    versions: list[AppVersionPublic] = Field(description="Oldest first.")
    created_at: str | None
    updated_at: str | None


class AppList(BaseModel):
    total: int
    offset: int
    limit: int
    apps: list[AppPublic]


class BudgetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    budget_units: int | None = Field(description="Most billed units ($0.001) the org may use; null = no limit. "
                                                 "Over it, waiting jobs are SUSPENDED until it is raised.", ge=0,
                                     le=INT64_MAX)


class BudgetPublic(BaseModel):
    org_id: str
    budget_units: int | None


class UsageTotals(BaseModel):
    jobs: int
    records: int
    record_groups: int
    billed_units: int
    billed_usd: float


class UsageByApp(BaseModel):
    app_id: str | None
    app_name: str | None
    surface: str
    jobs: int
    records: int
    record_groups: int
    billed_units: int


class UsageEntryPublic(BaseModel):
    job_id: str
    app_id: str | None
    surface: str
    records: int
    record_groups: int
    billed_units: int
    created_at: str | None


class UsageReport(BaseModel):
    """Totals over [since, until), per app and surface (most billed first), and one page of entries
    (newest first)."""

    org_id: str
    since: str | None
    until: str | None
    budget_units: int | None
    totals: UsageTotals
    by_app: list[UsageByApp]
    total: int = Field(description="Number of entries in the period.")
    offset: int
    limit: int
    entries: list[UsageEntryPublic]


# ---- callbacks (`/v0.5/callbacks`) --------------------------------------------------------------

class CallbackSecretPublic(BaseModel):
    secret: str = Field(description="Standard Webhooks secret (`whsec_...`) receivers verify signatures with.")
    created_at: str | None
    previous_secret_expires_at: str | None = Field(
        description="Until then the secret before the last rotation also signs (a second signature).")
    scheme: str


class CallbackPublic(BaseModel):
    id: str
    job_id: str | None
    surface: str
    event_type: str
    url: str
    webhook_id: str = Field(description="The `webhook-id` header of every attempt of this delivery.")
    status: str = Field(description="pending, delivered or failed.")
    attempts: int
    next_attempt_at: str | None = Field(description="When a pending delivery is tried next; null otherwise.")
    last_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: str | None
    created_at: str | None
    replay_of: str | None = Field(description="The delivery this one replays.")


class CallbackAttemptPublic(BaseModel):
    attempt: int
    started_at: str | None
    duration_ms: int
    status_code: int | None
    error: str | None


class CallbackDetail(CallbackPublic):
    payload: dict[str, Any] = Field(description="The body POSTed to `url`.")
    attempt_log: list[CallbackAttemptPublic]


class CallbackList(BaseModel):
    total: int
    offset: int
    limit: int
    callbacks: list[CallbackPublic]
