"""A job's error report: every failed input with the id the caller knows it by (the file id of a
file input; for a super.AI job its numeric id and uuid, for a Gravity job its uuid), the error
code and the message; as JSON Lines or CSV (`GET /v0.5/batch/jobs/{id}/errors`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields

import orjson

from jobport.domain.times import iso_utc
from jobport.services.context import AppContext
from jobport.services.jobs.control import owned
from jobport.store import jobs as job_store
from jobport.store.tables import Job, JobInput


@dataclass(frozen=True)
class ErrorRow:
    job_id: str
    input_id: str
    port_name: str
    file_id: str
    caller_id: str  # the id the caller used: file id, super.AI job id, Gravity job uuid
    surface: str
    code: str
    message: str
    attempts: int
    failed_at: str | None


COLUMNS = [f.name for f in fields(ErrorRow)]


def error_rows(ctx: AppContext, org_id: str, job_id: str, app_id: str | None = None) -> list[ErrorRow]:
    with ctx.sessions() as session:
        job = owned(session, org_id, job_id, app_id)
        failed = job_store.failed_inputs_with_codes(session, job.id)
    return [_row(job, row, code) for row, code in failed]


def _row(job: Job, row: JobInput, code: str | None) -> ErrorRow:
    surface = job.surface or "archetype"
    caller = {"superai": str(job.seq), "gravity": job.uuid}.get(surface, row.file_id) or row.file_id
    return ErrorRow(job.id, row.id, row.port_name, row.file_id, caller, surface, code or "input_failed",
                    row.error_message or "", row.attempts, iso_utc(row.completed_at) if row.completed_at else None)


def as_jsonl(rows: list[ErrorRow]) -> Iterator[bytes]:
    for row in rows:
        yield orjson.dumps(asdict(row)) + b"\n"


def as_csv(rows: list[ErrorRow]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([getattr(row, c) if getattr(row, c) is not None else "" for c in COLUMNS])
    yield buffer.getvalue().encode()
