"""The one job builder every surface creates jobs with.

A create request first builds a `JobTemplate`, what all its jobs share: the pipeline, the validated
config, the parallelism and the reference files (the warm-worker key and the stored parameters are
computed once from them, even for 10,000 jobs). Each job is then a `JobDraft` of that template: its
own ids, name, tracked inputs, billing and surface fields. `save_one` inserts a draft through the
ORM (the caller gets the row, e.g. to compute its queue position); `save_many` inserts many with one
bulk statement per table (jobs, inputs, events, usage ledger).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, cast

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from jobport.domain.errors import Problem
from jobport.domain.ids import new_id
from jobport.domain.payloads import InputPayload, job_parameters
from jobport.domain.statuses import InputStatus, JobStatus
from jobport.pipelines.sdk import Pipeline
from jobport.store import jobs as job_store
from jobport.store.db import utcnow
from jobport.store.tables import Base, Job, JobEvent, JobInput, UsageEntry


@dataclass(frozen=True)
class DraftInput:
    """One input of a job: a tracked data input, or a reference (n-shot files, a model file)."""

    port_name: str
    file_id: str
    file_uid: str
    payload: InputPayload
    tracked: bool = True

    @cached_property
    def data(self) -> dict[str, Any]:
        """The stored form of the payload (computed once: a template's references serve every job)."""
        return self.payload.to_row()


@dataclass(frozen=True)
class RecordInput:
    """A tracked input holding one JSON record inline, stored as `InputPayload.of_record(...)` is
    (built straight as its row: a create of 10,000 single-record jobs builds 10,000 of them)."""

    port_name: str
    file_id: str
    file_uid: str
    data: dict[str, Any]
    tracked: bool = True

    @classmethod
    def of(cls, port_name: str, filename: str, file_uid: str, line: str) -> RecordInput:
        return cls(port_name, filename, file_uid, InputPayload.record_row(filename, line))


class ResourcesIn(BaseModel):
    """What one warm worker reserves on a Ray cluster (executor `ray`); unset fields keep the pipeline's."""

    model_config = ConfigDict(extra="forbid")
    num_cpus: float | None = Field(None, ge=0, le=1024, description="CPUs per worker (also its BLAS/OpenMP threads).")
    num_gpus: float | None = Field(None, ge=0, le=64, description="GPUs per worker; fractions share one GPU.")
    memory_bytes: int | None = Field(None, ge=0, le=2**50, description="Memory reserved per worker, in bytes.")

    def overrides(self) -> dict[str, Any] | None:
        return self.model_dump(exclude_none=True) or None


@dataclass(frozen=True)
class JobTemplate:
    """`app_overrides` is set for jobs of an app version (lean rows): such a job stores only the
    request's config overrides, and no reference input rows: the app version holds its config and
    reference files, and the scheduler reads them from there."""

    pipeline: Pipeline
    pipeline_id: str
    config: BaseModel
    parallelism: int = 1
    references: Sequence[DraftInput] = ()
    resources: dict[str, Any] | None = None  # overrides of the pipeline's worker resources
    app_overrides: dict[str, Any] | None = None

    @cached_property
    def parameters(self) -> dict[str, Any]:
        config = self.app_overrides if self.app_overrides is not None else self.config.model_dump(mode="json")
        return job_parameters(self.pipeline.spec.component, self.parallelism, config, self.resources)

    @property
    def stored_references(self) -> Sequence[DraftInput]:
        return () if self.app_overrides is not None else self.references

    @cached_property
    def worker_key(self) -> str:
        """Jobs with the same pipeline, load-relevant config and reference files share warm workers."""
        spec = self.pipeline.spec
        document = {
            "pipeline": [spec.key, spec.version],
            "config": self.pipeline.load_key(self.config),
            "references": [[r.port_name, r.payload.sha256, r.payload.metadata] for r in self.references],
            **({"resources": self.resources} if self.resources else {}),  # workers of other sizes are others
        }
        return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()

    @cached_property
    def data_port(self) -> str | None:
        """The pipeline's tracked input port (where records and posted files go), if it has one."""
        return next((p.name for p in self.pipeline.spec.inputs if p.tracked), None)


@dataclass
class Billing:
    records: int
    record_groups: int
    billed_units: int


@dataclass
class JobDraft:
    template: JobTemplate
    org_id: str
    inputs: Sequence[DraftInput | RecordInput]
    created_event: tuple[str, dict[str, Any] | None] = ("Job queued", None)
    id: str = field(default_factory=lambda: new_id("job"))
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: JobStatus = JobStatus.PENDING
    name: str | None = None
    priority: int = 0
    metadata: dict[str, Any] | None = None
    tags: list[str] = field(default_factory=list)
    callback_url: str | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    surface: str | None = None
    app_id: str | None = None
    app_version: str | None = None
    billing: Billing | None = None
    batch_id: str | None = None
    job_type: str | None = None
    expires_at: datetime | None = None

    def job_values(self, now: datetime) -> dict[str, Any]:
        spec = self.template.pipeline.spec
        billing = self.billing
        return dict(
            id=self.id, uuid=self.uuid, org_id=self.org_id, name=self.name, pipeline_id=self.template.pipeline_id,
            pipeline_type=spec.pipeline_type, pipeline_key=spec.key, pipeline_version=spec.version,
            status=self.status.value, priority=self.priority, parameters=self.template.parameters,
            parallelism=self.template.parallelism, worker_key=self.template.worker_key, job_metadata=self.metadata,
            tags=list(self.tags), callback_url=self.callback_url, idempotency_key=self.idempotency_key,
            request_hash=self.request_hash, retry_count=0, preemption_count=0, queue_position=None, queue_depth=None,
            error=None, created_at=now, updated_at=now, started_at=None, completed_at=None, failed_at=None,
            cancelled_at=None, surface=self.surface, app_id=self.app_id, app_version=self.app_version,
            record_count=billing.records if billing else None,
            record_group_count=billing.record_groups if billing else None,
            billed_usage=billing.billed_units if billing else None,
            batch_id=self.batch_id, job_type=self.job_type, correct=None, reviewed_response=None, reviewed_at=None,
            expires_at=self.expires_at,
        )

    def input_values(self, now: datetime) -> list[dict[str, Any]]:
        return [dict(
            id=new_id("inp"), job_id=self.id, port_name=item.port_name, file_id=item.file_id, file_uid=item.file_uid,
            data=item.data, tracked=item.tracked,
            status=(InputStatus.PENDING if item.tracked else InputStatus.REFERENCE).value, attempts=0,
            lease_owner=None, lease_expires_at=None, error_message=None, created_at=now, started_at=None,
            completed_at=None,
        ) for item in [*self.inputs, *self.template.stored_references]]

    def usage_values(self, now: datetime) -> dict[str, Any] | None:
        if self.billing is None:
            return None
        return dict(org_id=self.org_id, app_id=self.app_id, job_id=self.id, surface=self.surface or "archetype",
                    records=self.billing.records, record_groups=self.billing.record_groups,
                    billed_units=self.billing.billed_units, created_at=now)


def _event_values(draft: JobDraft, now: datetime) -> dict[str, Any]:
    message, payload = draft.created_event
    return dict(job_id=draft.id, input_id=None, level="INFO", event_type="job.created", message=message,
                payload=payload, index=None, created_at=now)


def save_one(session: Session, draft: JobDraft, *, queue_event: bool = True) -> Job:
    """Insert one draft (job, inputs, usage row) and return the job row. With `queue_event`, the
    job gets its queue position and depth and its `job.created` event says them; otherwise the
    event is the draft's own."""
    now = utcnow()
    job = Job(**draft.job_values(now))
    session.add(job)
    session.flush()
    session.execute(insert(JobInput), draft.input_values(now))
    usage = draft.usage_values(now)
    if usage is not None:
        session.add(UsageEntry(**usage))
    message, payload = draft.created_event
    if queue_event:
        job.queue_position, job.queue_depth = job_store.queue_stats(session, job)
        where = f"queued at position {job.queue_position} of {job.queue_depth}"
        message = f"{message}; {where}" if message else f"Job {where}"
        payload = {**(payload or {}), "queue_position": job.queue_position, "queue_depth": job.queue_depth}
    job_store.add_event(session, job.id, "INFO", "job.created", message, payload)
    for warning in draft.template.pipeline.config_warnings(draft.template.config):
        job_store.add_event(session, job.id, "WARN", "config.warning", warning)
    return job


def save_many(session: Session, drafts: Sequence[JobDraft]) -> None:
    """Insert many drafts with one bulk statement per table (no per-row ORM flushes)."""
    now = utcnow()
    # Core inserts of the tables: the ORM's bulk insert spends as long again on per-row bookkeeping
    session.execute(insert(_table(Job)), [_column_names(d.job_values(now)) for d in drafts])
    session.execute(insert(_table(JobInput)), [row for d in drafts for row in d.input_values(now)])
    session.execute(insert(_table(JobEvent)), [_event_values(d, now) for d in drafts])
    usage = [row for d in drafts if (row := d.usage_values(now)) is not None]
    if usage:
        session.execute(insert(_table(UsageEntry)), usage)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def _column_names(values: dict[str, Any]) -> dict[str, Any]:
    """Job values by column name (the ORM attribute `job_metadata` is the column `metadata`)."""
    values["metadata"] = values.pop("job_metadata")
    return values


def config_problems(err: ValidationError, prefix: str) -> list[Problem]:
    """A pipeline config's validation errors as problems naming `<prefix>.<setting>`."""
    problems = []
    for item in err.errors():
        loc = ".".join(str(p) for p in item["loc"])
        name = f"{prefix}.{loc}" if loc else prefix
        kind = item["type"]
        if kind == "extra_forbidden":
            message, suggestion = f"{name}: unknown setting", "Remove it; see the pipeline's user_config_schema."
        elif kind == "missing":
            message = f"{name}: required setting is missing"
            suggestion = "Add it; see the pipeline's user_config_schema."
        else:
            message, suggestion = f"{name}: {item['msg']}", "Fix the value; see the pipeline's user_config_schema."
        problems.append(Problem(message, name, suggestion, "invalid_parameter"))
    return problems
