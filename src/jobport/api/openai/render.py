"""Wire shapes of the OpenAI surface: File and Batch objects, list pages, the error body
`{"error": {message, type, param, code}}` and webhook events (`batch.completed`...)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jobport.domain.errors import Problem
from jobport.domain.times import as_utc
from jobport.services.openai_batches.views import BatchView, FileView

if TYPE_CHECKING:  # rows are handed over by services; the API layer never queries the store
    from jobport.services.views import Job

# error codes whose OpenAI error type is not `invalid_request_error`
_TYPES = {"internal_error": "server_error", "service_unavailable": "server_error",
          "server_misconfigured": "server_error", "unauthorized": "invalid_request_error",
          "rate_limited": "rate_limit_error", "quota_exceeded": "rate_limit_error"}
EVENTS = {"COMPLETED": "batch.completed", "FAILED": "batch.failed", "EXPIRED": "batch.expired",
          "CANCELLED": "batch.cancelled"}


def unix(value: datetime | None) -> int | None:
    value = as_utc(value)
    return int(value.timestamp()) if value is not None else None


def error_body(problems: list[Problem]) -> dict[str, Any]:
    first = problems[0]
    message = " ".join(p.sentence() for p in problems)
    error_type = _TYPES.get(first.code) or ("rate_limit_error" if "limit" in first.code else "invalid_request_error")
    return {"error": {"message": message, "type": error_type, "param": first.field, "code": first.code}}


def file_object(file: FileView) -> dict[str, Any]:
    return {"id": file.id, "object": "file", "bytes": file.num_bytes, "created_at": unix(file.created_at),
            "filename": file.filename, "purpose": file.purpose, "status": "processed",
            "expires_at": unix(file.expires_at), "status_details": None}


def batch_object(batch: BatchView) -> dict[str, Any]:
    usage = None
    if batch.input_tokens or batch.output_tokens:
        usage = {"input_tokens": batch.input_tokens, "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": batch.output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": batch.input_tokens + batch.output_tokens}
    return {
        "id": batch.id, "object": "batch", "endpoint": batch.endpoint, "errors": batch.errors,
        "input_file_id": batch.input_file_id, "completion_window": batch.completion_window,
        "status": batch.status, "output_file_id": batch.output_file_id, "error_file_id": batch.error_file_id,
        "created_at": unix(batch.created_at), **{name: unix(value) for name, value in batch.times.items()},
        "request_counts": {"total": batch.total, "completed": batch.completed, "failed": batch.failed},
        "metadata": batch.metadata, "model": batch.model, "usage": usage,
    }


def page(objects: Sequence[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": list(objects), "first_id": objects[0]["id"] if objects else None,
            "last_id": objects[-1]["id"] if objects else None, "has_more": has_more}


def job_callback(job: Job, counts: dict[str, int], event_type: str) -> dict[str, Any]:
    """The webhook of a batch's job that ended, in OpenAI's event shape (the batch id only: the
    receiver retrieves the batch)."""
    batch_id = (job.job_metadata or {}).get("openai_batch_id", job.id)
    return {"id": f"evt_{uuid.uuid4().hex}", "object": "event", "created_at": unix(job.updated_at),
            "type": EVENTS.get(job.status, f"batch.{job.status.lower()}"), "data": {"id": batch_id}}
