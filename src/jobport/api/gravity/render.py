"""Wire shapes of the Gravity surface: the envelope and the job object."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from jobport.callbacks import payloads
from jobport.domain.errors import Problem
from jobport.domain.statuses import gravity_status
from jobport.domain.times import as_utc

if TYPE_CHECKING:  # rows are handed over by services; the API layer never queries the store
    from jobport.services.views import Job


def envelope(data: Any) -> dict[str, Any]:
    return {"data": data, "isError": False, "errorMessage": None}


def error_envelope(problems: list[Problem]) -> dict[str, Any]:
    return {"data": None, "isError": True, "errorMessage": " ".join(p.sentence() for p in problems)}


def utc(value: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and `Z`, as Gravity's GET responses show."""
    value = as_utc(value)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z" if value else None


def processing_ms(job: Job) -> int:
    started, ended = as_utc(job.started_at), as_utc(job.completed_at or job.failed_at or job.cancelled_at)
    if started is None or ended is None:
        return 0
    return max(0, round((ended - started).total_seconds() * 1000))


def error_message(job: Job) -> str | None:
    if job.error:
        return job.error.get("message") or job.error.get("code")
    return None


def job_callback(job: Job, counts: dict[str, int], event_type: str) -> dict[str, Any]:
    """A job's callback (jobport extension): the Standard Webhooks envelope around the job object."""
    return payloads.envelope(event_type, job_public(job))


def job_public(job: Job) -> dict[str, Any]:
    meta = job.job_metadata or {}
    return {
        "name": job.name,
        "inputFileName": meta.get("input_file_name"),
        "inputMime": meta.get("input_mime"),
        "billedUsage": job.billed_usage or 0,
        "recordCount": job.record_count or 0,
        "recordGroupCount": job.record_group_count or 0,
        "processingTimeMS": processing_ms(job),
        "status": gravity_status(job.status),
        "statusMessage": None,
        "errorMessage": error_message(job),
        "versionNumber": job.app_version,
        "id": job.uuid,
        "createdDateUtc": utc(job.created_at),
        "lastUpdatedUtc": utc(job.updated_at),
    }
