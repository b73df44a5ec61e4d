"""SQLAlchemy table definitions. Every row that belongs to a customer carries `org_id`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for big tables.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}


class Org(Base):
    __tablename__ = "orgs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]
    # Usage budget in billed units ($0.001); jobs of an org over it are SUSPENDED until it is raised.
    budget_units: Mapped[int | None] = mapped_column(BigInteger)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # A key bound to an app: the Gravity surface runs that app's model for it.
    app_id: Mapped[str | None] = mapped_column(String(36), index=True)
    # What the key may do (services.auth.Scope): admin, org, or app (only the app above); migration 0008.
    scope: Mapped[str] = mapped_column(String(10), server_default="org")


class File(Base):
    __tablename__ = "files"
    __table_args__ = (
        UniqueConstraint("org_id", "file_id", name="uq_files_org_file_id"),
        Index("ix_files_org_updated", "org_id", "updated_at", "uid"),
    )
    uid: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    file_id: Mapped[str] = mapped_column(String(512))
    num_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    file_type: Mapped[str] = mapped_column(String(200))
    blob_key: Mapped[str] = mapped_column(String(1024))
    attributes: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PipelineRow(Base):
    __tablename__ = "pipelines"
    __table_args__ = (UniqueConstraint("pipeline_key", "pipeline_version", name="uq_pipelines_key_version"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    pipeline_key: Mapped[str] = mapped_column(String(200))
    pipeline_version: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    pipeline_type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    visibility: Mapped[str] = mapped_column(String(20))
    component_id: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_queue", "status", "priority", "created_at"),
        # lists (migration 0007): each ends with the lists' tie-break, seq
        Index("ix_jobs_org_type_status", "org_id", "pipeline_type", "status", "created_at", "seq"),
        Index("ix_jobs_app_status", "app_id", "status", "surface", "seq"),
        Index("ix_jobs_app_status_created", "app_id", "status", "surface", "created_at", "seq"),
        Index("ix_jobs_app_status_completed", "app_id", "status", "surface", "completed_at", "seq"),
        Index("ix_jobs_expires", "expires_at", sqlite_where=text("expires_at IS NOT NULL"),
              postgresql_where=text("expires_at IS NOT NULL")),
        UniqueConstraint("org_id", "idempotency_key", name="uq_jobs_org_idempotency"),
    )
    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(500))
    pipeline_id: Mapped[str] = mapped_column(String(64))
    pipeline_type: Mapped[str] = mapped_column(String(20))
    pipeline_key: Mapped[str] = mapped_column(String(200))
    pipeline_version: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    parameters: Mapped[dict[str, Any]]
    parallelism: Mapped[int] = mapped_column(Integer, default=1)
    worker_key: Mapped[str] = mapped_column(String(64))
    job_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    tags: Mapped[list[Any]]
    callback_url: Mapped[str | None] = mapped_column(String(2048))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    retry_count: Mapped[int] = mapped_column(Integer, default=0)
    preemption_count: Mapped[int] = mapped_column(Integer, default=0)
    queue_position: Mapped[int | None] = mapped_column(Integer)
    queue_depth: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    # Jobs of an app (Gravity / super.AI surfaces): which app version ran, and the usage billed at creation.
    surface: Mapped[str | None] = mapped_column(String(20))
    app_id: Mapped[str | None] = mapped_column(String(36))
    app_version: Mapped[str | None] = mapped_column(String(50))
    record_count: Mapped[int | None] = mapped_column(BigInteger)
    record_group_count: Mapped[int | None] = mapped_column(BigInteger)
    billed_usage: Mapped[int | None] = mapped_column(BigInteger)
    # super.AI: the request's batch, job type, review state, reviewed response, completion deadline.
    batch_id: Mapped[str | None] = mapped_column(String(36), index=True)
    job_type: Mapped[str | None] = mapped_column(String(20))
    correct: Mapped[bool | None] = mapped_column(Boolean)
    reviewed_response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reviewed_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]


class Batch(Base):
    """All jobs created by one super.AI create request."""

    __tablename__ = "batches"
    __table_args__ = (Index("ix_batches_app_created", "app_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    app_id: Mapped[str] = mapped_column(String(36))
    job_count: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    callback_sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Operation(Base):
    """An asynchronous bulk export (super.AI `job_responses`): a zip of jobs with responses."""

    __tablename__ = "operations"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    app_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20))
    params: Mapped[dict[str, Any]]
    blob_key: Mapped[str | None] = mapped_column(String(1024))
    error: Mapped[str | None] = mapped_column(Text)
    job_count: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class App(Base):
    """A saved pipeline + config + model files + pricing that clients run by name (UUID id)."""

    __tablename__ = "apps"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_apps_org_name"),
                      Index("ix_apps_org_created", "org_id", "created_at", "id"))
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    pipeline_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # super.AI project settings: batch callbacks (v2) and a completion window after which jobs expire.
    batch_callback_url: Mapped[str | None] = mapped_column(String(2048))
    completion_window_seconds: Mapped[int | None] = mapped_column(Integer)


class AppVersion(Base):
    """One immutable version of an app: its reference files are copied, so later uploads cannot change it."""

    __tablename__ = "app_versions"
    __table_args__ = (UniqueConstraint("app_id", "version", name="uq_app_versions_app_version"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(50))
    pipeline_version: Mapped[str] = mapped_column(String(50))
    config: Mapped[dict[str, Any]]
    references: Mapped[list[Any]]
    records_per_group: Mapped[int] = mapped_column(Integer)
    units_per_group: Mapped[int] = mapped_column(Integer)
    resources: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # worker resource overrides (executor `ray`)
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    deactivated_at: Mapped[datetime | None]


class UsageEntry(Base):
    """The usage ledger: one row per billed job, written in the job's creating transaction."""

    __tablename__ = "usage_entries"
    __table_args__ = (Index("ix_usage_org_created", "org_id", "created_at"),)
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    app_id: Mapped[str | None] = mapped_column(String(36))
    job_id: Mapped[str] = mapped_column(String(64))
    surface: Mapped[str] = mapped_column(String(20))
    records: Mapped[int] = mapped_column(BigInteger)
    record_groups: Mapped[int] = mapped_column(BigInteger)
    billed_units: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class JobInput(Base):
    __tablename__ = "job_inputs"
    __table_args__ = (Index("ix_inputs_job_status", "job_id", "status", "seq"),
                      Index("ix_inputs_leased", "lease_expires_at", sqlite_where=text("lease_expires_at IS NOT NULL"),
                            postgresql_where=text("lease_expires_at IS NOT NULL")))
    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    port_name: Mapped[str] = mapped_column(String(200))
    file_id: Mapped[str] = mapped_column(String(512))
    file_uid: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]]
    tracked: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class JobOutput(Base):
    __tablename__ = "job_outputs"
    __table_args__ = (
        UniqueConstraint("job_id", "blob_key", name="uq_outputs_job_blob"),
        Index("ix_outputs_job", "job_id", "seq"),
    )
    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    input_id: Mapped[str | None] = mapped_column(String(64), index=True)
    port_name: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(512))
    file_type: Mapped[str] = mapped_column(String(200))
    blob_key: Mapped[str] = mapped_column(String(1024))
    num_bytes: Mapped[int] = mapped_column(BigInteger)
    attributes: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    # a small output of a chunked job (a super.AI response) is kept here; `blob_key` is then only its name
    content: Mapped[bytes | None] = mapped_column(LargeBinary)


class JobEvent(Base):
    __tablename__ = "job_events"
    __table_args__ = (Index("ix_events_job", "job_id", "id"),)
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    input_id: Mapped[str | None] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(10))
    event_type: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    index: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]


class JobProgress(Base):
    __tablename__ = "job_progress"
    __table_args__ = (Index("ix_progress_job", "job_id", "id"), Index("ix_progress_input", "input_id", "id"))
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    input_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(50))
    step: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(Text)
    metrics: Mapped[dict[str, Any]]
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    index: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]


class SchedulerHeartbeat(Base):
    """One row per scheduler process: whether it is the active one, how its executor is, when it
    last reported. API replicas read it for `/readyz`; rows of processes gone for a day are pruned."""

    __tablename__ = "scheduler_heartbeats"

    instance_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20))  # active | standby | waiting | stopped
    executor: Mapped[str] = mapped_column(String(50))
    problem: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime]
    beat_at: Mapped[datetime] = mapped_column(index=True)


class Upload(Base):
    """A direct upload (Archetype `files/uploads`): the file it becomes once its parts (blobs under
    `uploads/<org>/<id>/`, one `UploadPart` each once received) are complete.
    status: open | completing | completed | aborted."""

    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_org_file", "org_id", "file_id", "status"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    file_id: Mapped[str] = mapped_column(String(512))
    file_uid: Mapped[str] = mapped_column(String(64))
    file_type: Mapped[str] = mapped_column(String(200))
    num_bytes: Mapped[int] = mapped_column(BigInteger)
    part_size: Mapped[int] = mapped_column(BigInteger)
    num_parts: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class OrgLimit(Base):
    """One org's overrides of the `quota_*` and `fetch_max_per_org` settings (NULL: the setting applies)."""

    __tablename__ = "org_limits"
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True)
    key_requests_per_second: Mapped[float | None]
    key_request_burst: Mapped[int | None] = mapped_column(BigInteger)
    org_requests_per_second: Mapped[float | None]
    org_request_burst: Mapped[int | None] = mapped_column(BigInteger)
    concurrent_jobs: Mapped[int | None] = mapped_column(BigInteger)
    queued_inputs: Mapped[int | None] = mapped_column(BigInteger)
    fetch_max_per_org: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class UploadPart(Base):
    """A part of a direct upload the server received: its size and ETag (the MD5 of its bytes)."""

    __tablename__ = "upload_parts"
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True)
    part_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    num_bytes: Mapped[int] = mapped_column(BigInteger)
    etag: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class OpenAIFile(Base):
    """An OpenAI Batch API File object (migration 0012): its OpenAI id, filename and purpose; the bytes
    are the jobport file `file_uid` (uploaded `batch` files are inputs like any other file)."""

    __tablename__ = "openai_files"
    __table_args__ = (Index("ix_openai_files_org_purpose", "org_id", "purpose", "seq"),
                      Index("ix_openai_files_org", "org_id", "seq"))
    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    file_uid: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(512))
    purpose: Mapped[str] = mapped_column(String(32))
    num_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]


class OpenAIBatch(Base):
    """An OpenAI batch (migration 0012): its own fields; the work is the jobport job `job_id` (None when
    the input file failed validation). `status` and the counts are final once the job has ended and
    the output files are written; while it runs they are read from the job."""

    __tablename__ = "openai_batches"
    __table_args__ = (Index("ix_openai_batches_org", "org_id", "seq"),)
    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    job_id: Mapped[str | None] = mapped_column(String(64), index=True)
    endpoint: Mapped[str] = mapped_column(String(64))
    input_file_id: Mapped[str] = mapped_column(String(64))
    completion_window: Mapped[str] = mapped_column(String(16))
    batch_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    output_expires_after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    output_file_id: Mapped[str | None] = mapped_column(String(64))
    error_file_id: Mapped[str | None] = mapped_column(String(64))
    errors: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    request_total: Mapped[int] = mapped_column(Integer)
    request_completed: Mapped[int] = mapped_column(Integer)
    request_failed: Mapped[int] = mapped_column(Integer)
    input_tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    output_tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    in_progress_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    finalizing_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    expired_at: Mapped[datetime | None]
    cancelling_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
