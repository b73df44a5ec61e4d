"""Wire shapes of the super.AI surface: job objects, lists, batches, operations, callbacks, errors.
Each function builds the dict of one answer, keys in wire order (the models in `schemas`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from jobport.domain.errors import Problem, join_sentences
from jobport.domain.statuses import JobStatus, superai_status
from jobport.domain.times import as_utc


def error_body(problems: list[Problem]) -> dict[str, Any]:
    first = problems[0]
    message = join_sentences(*(p.message for p in problems), first.suggestion)
    return {"message": message, **({"field": first.field} if first.field else {})}


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC as super.AI writes it: `2020-02-12T13:41:41.695000+00:00`."""
    value = as_utc(value)
    return value.isoformat() if value else None


def status_of(job: Any) -> str:
    """The job's super.AI status; a reviewed COMPLETED job is REVIEWED."""
    if job.reviewed_at is not None and job.status == JobStatus.COMPLETED.value:
        return "REVIEWED"
    return superai_status(job.status)


def job_public(job: Any, input_line: str | None) -> dict[str, Any]:
    """The job object (`schemas.SuperAIJob`); `input_line` is its one JSON input record."""
    completed = job.completed_at or job.failed_at or job.cancelled_at
    return {
        "id": str(job.seq),
        "uuid": job.uuid,
        "created": iso(job.created_at),
        "completed": iso(completed),
        "callbackUrl": job.callback_url,
        "appId": job.app_id,
        "status": status_of(job),
        "input": orjson.loads(input_line) if input_line else None,
        "metadata": job.job_metadata,
        "tags": job.tags or [],
        "correct": job.correct,
        "jobType": job.job_type or "DEFAULT",
        "batchId": job.batch_id,
    }


def jobs_created(batch_id: str, uuids: list[str]) -> dict[str, Any]:
    """`schemas.SuperAIJobsCreated`: `uuid` only when the request made one job."""
    answer: dict[str, Any] = {"message": "Jobs submitted", "batchId": batch_id, "jobCount": len(uuids)}
    if len(uuids) == 1:
        answer["uuid"] = uuids[0]
    return answer


def job_list(jobs: list[Any], input_lines: dict[str, str | None], total: int, page: int, size: int) -> dict[str, Any]:
    """One page of job objects (`schemas.SuperAIJobList`)."""
    return {"jobs": [job_public(j, input_lines.get(j.id)) for j in jobs], "total": total, "pageSize": size,
            "pageNumber": page, "pages": -(-total // size)}


def job_response(job: Any, response: Any) -> dict[str, Any]:
    """`schemas.SuperAIJobResponse`: `error` only when the job has one."""
    body: dict[str, Any] = {"id": str(job.seq), "uuid": job.uuid, "status": status_of(job), "response": response}
    if job.error:
        body["error"] = job.error
    return body


def job_reviewed(job: Any) -> dict[str, Any]:
    return {"message": "Job reviewed", "id": str(job.seq), "status": status_of(job), "correct": job.correct}


def operation_public(op: Any) -> dict[str, Any]:
    """An export operation (`schemas.SuperAIOperation`)."""
    return {"id": op.id, "status": op.status, "kind": op.kind, "jobCount": op.job_count, "error": op.error,
            "created": iso(op.created_at), "completed": iso(op.completed_at)}


def job_callback(job: Any, action: str = "RESOLVED") -> dict[str, Any]:
    """The legacy v1 job callback: no output, the receiver fetches it."""
    return {"id": job.seq, "uuid": job.uuid, "state": status_of(job), "action": action, "postProcessingEnabled": False}


def job_moved_callback(job: Any, counts: dict[str, int], event_type: str) -> dict[str, Any]:
    """The callback of a job that ended (or was suspended): super.AI's legacy v1 body, no envelope."""
    return job_callback(job, "RESOLVED")


def batch_callback(batch_id: str, app_id: str, counts: dict[str, int], total: int) -> dict[str, Any]:
    """The v2 batch callback, sent once when every job of the batch ended."""
    return {"version": "2", "entityType": "batch", "entityId": batch_id, "state": batch_state(counts, total),
            "appId": app_id}


def batch_state(counts: dict[str, int], total: int) -> str:
    """COMPLETED / FAILED / PARTIAL_FAILURE once every job ended, else PROCESSING."""
    ended = sum(counts.values())
    if ended < total:
        return "PROCESSING"
    completed = counts.get(JobStatus.COMPLETED.value, 0)
    if completed == total:
        return "COMPLETED"
    return "FAILED" if completed == 0 else "PARTIAL_FAILURE"


def superai_counts(counts: dict[str, int]) -> dict[str, int]:
    """Job counts by internal status, keyed by super.AI's words (CANCELLED -> CANCELED)."""
    spelled: dict[str, int] = {}
    for status, count in counts.items():
        word = superai_status(status)
        spelled[word] = spelled.get(word, 0) + count
    return spelled


def batch_public(batch: Any, jobs: list[Any] | None, ended_counts: dict[str, int]) -> dict[str, Any]:
    """A batch (`schemas.SuperAIBatch`), with its jobs (`schemas.SuperAIBatchWithJobs`) when given."""
    body: dict[str, Any] = {
        "batchId": batch.id,
        "appId": batch.app_id,
        "created": iso(batch.created_at),
        "jobCount": batch.job_count,
        "state": batch_state(ended_counts, batch.job_count),
        "counts": superai_counts(ended_counts),
        "error": batch.error,
    }
    if jobs is not None:
        body["jobIds"] = [str(j.seq) for j in jobs]
        body["jobs"] = [{"id": str(j.seq), "uuid": j.uuid, "status": status_of(j)} for j in jobs]
    return body
