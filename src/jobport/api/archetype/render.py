"""Wire shapes of the Archetype surface: rows -> JSON-ready dicts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from jobport.blobs.signing import UrlSigner
from jobport.callbacks import payloads
from jobport.domain.errors import Problem
from jobport.domain.ids import error_uid
from jobport.domain.statuses import QUEUED, JobStatus, archetype_status
from jobport.domain.times import iso_utc

if TYPE_CHECKING:  # rows are handed over by services; the API layer never queries the store
    from jobport.services.views import Job, JobEvent, JobInput, JobOutput, JobProgress

QUEUED_STATUSES = {s.value for s in QUEUED | {JobStatus.PARKED, JobStatus.SUSPENDED}}


def error_body(problems: list[Problem]) -> dict[str, Any]:
    return {
        "errors": [
            {"code": p.code, "message": p.message, "suggestion": p.suggestion, "error_uid": error_uid(),
             **({"field": p.field} if p.field else {})}
            for p in problems
        ]
    }


iso = iso_utc  # ISO 8601 ending in `Z`, as every Archetype timestamp


def job_public(job: Job, counts: dict[str, int] | None = None, *, on_create: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": job.id,
        "org_id": job.org_id,
        "name": job.name,
        "pipeline_type": job.pipeline_type,
        "pipeline_key": job.pipeline_key,
        "pipeline_version": job.pipeline_version,
        "status": archetype_status(job.status),
        "parameters": job.parameters,
        "retry_count": job.retry_count,
        "preemption_count": job.preemption_count,
        "queue_position": job.queue_position,
        "queue_depth": job.queue_depth,
        "priority": job.priority,
        "metadata": job.job_metadata,
        "tags": job.tags,
        "callback_url": job.callback_url,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
        "failed_at": iso(job.failed_at),
        "cancelled_at": iso(job.cancelled_at),
        "error": job.error,
    }
    if job.status not in QUEUED_STATUSES:
        # position/depth describe the job while it waits; on create they are omitted, on reads null
        if on_create:
            del body["queue_position"], body["queue_depth"]
        else:
            body["queue_position"] = body["queue_depth"] = None
    if not on_create:
        body["input_progress"] = counts or {"pending": 0, "processing": 0, "completed": 0, "failed": 0}
    return body


def job_callback(job: Job, counts: dict[str, int], event_type: str) -> dict[str, Any]:
    """A job's callback: the Standard Webhooks envelope around the job as GET returns it."""
    return payloads.envelope(event_type, job_public(job, counts))


def _file_data(data: dict[str, Any], ref: str | None) -> dict[str, Any]:
    return {
        "ref": ref,
        "filename": data.get("filename"),
        "file_type": data.get("file_type"),
        "file_extension": data.get("file_extension"),
        "num_bytes": data.get("num_bytes"),
        "metadata": data.get("metadata") or {},
        "file_tags": data.get("file_tags") or [],
        "file_attributes": data.get("file_attributes") or {},
    }


def input_public(row: JobInput, signer: UrlSigner, base_url: str) -> dict[str, Any]:
    blob_key = row.data.get("blob_key")  # an inline record has no blob (and no link)
    ref = signer.sign(base_url, blob_key, row.data["filename"])[0] if blob_key else None
    return {
        "id": row.id,
        "job_id": row.job_id,
        "port_name": row.port_name,
        "file_id": row.file_id,
        "data": _file_data(row.data, ref),
        "status": row.status,
        "attempts": row.attempts,
        "error_message": row.error_message,
        "created_at": iso(row.created_at),
        "started_at": iso(row.started_at),
        "completed_at": iso(row.completed_at),
    }


def output_public(row: JobOutput, input_file_id: str | None, signer: UrlSigner, base_url: str) -> dict[str, Any]:
    ref, expires = signer.sign(base_url, row.blob_key, row.filename, in_store=row.content is None)
    ext = row.filename.rsplit(".", 1)[-1].lower() if "." in row.filename else ""
    return {
        "id": row.id,
        "job_id": row.job_id,
        "port_name": row.port_name,
        "input_id": row.input_id,
        "input_file_id": input_file_id,
        "data": {
            "ref": ref,
            "filename": row.filename,
            "file_type": row.file_type,
            "file_extension": ext,
            "num_bytes": row.num_bytes,
            "metadata": {},
            "file_tags": [],
            "file_attributes": row.attributes or {},
        },
        "expires_at": iso(datetime.fromtimestamp(expires, UTC)),
        "created_at": iso(row.created_at),
    }


def event_public(row: JobEvent) -> dict[str, Any]:
    return {
        "id": row.id,
        "event_type": row.event_type,
        "level": row.level,
        "message": row.message,
        "payload": row.payload,
        "input_id": row.input_id,
        "index": row.index,
        "created_at": iso(row.created_at),
    }


def progress_public(row: JobProgress) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "step": row.step,
        "message": row.message,
        "metrics": row.metrics,
        "payload": row.payload,
        "input_id": row.input_id,
        "index": row.index,
        "created_at": iso(row.created_at),
    }
