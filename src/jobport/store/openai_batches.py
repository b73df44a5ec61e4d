"""SQL of the OpenAI Batch API surface: its File objects and batches (migration 0012), and the reads
of a batch's job it needs (status, latest progress counts, output parts). No rules here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from jobport.store.tables import File, Job, JobOutput, JobProgress, OpenAIBatch, OpenAIFile


def get_file(session: Session, org_id: str, file_id: str) -> tuple[OpenAIFile, File] | None:
    """The org's OpenAI file and the jobport file holding its bytes."""
    row = session.execute(select(OpenAIFile, File).join(File, File.uid == OpenAIFile.file_uid)
                          .where(OpenAIFile.id == file_id, OpenAIFile.org_id == org_id)).first()
    return (row[0], row[1]) if row is not None else None


def file_seq(session: Session, org_id: str, file_id: str) -> int | None:
    return session.scalar(select(OpenAIFile.seq).where(OpenAIFile.id == file_id, OpenAIFile.org_id == org_id))


def list_files(session: Session, org_id: str, purpose: str | None, after_seq: int | None, limit: int,
               newest_first: bool) -> list[OpenAIFile]:
    query = select(OpenAIFile).where(OpenAIFile.org_id == org_id)
    if purpose is not None:
        query = query.where(OpenAIFile.purpose == purpose)
    if after_seq is not None:
        query = query.where(OpenAIFile.seq < after_seq if newest_first else OpenAIFile.seq > after_seq)
    order = OpenAIFile.seq.desc() if newest_first else OpenAIFile.seq.asc()
    return list(session.scalars(query.order_by(order).limit(limit)))


def files_by_id(session: Session, org_id: str, file_ids: Sequence[str]) -> dict[str, OpenAIFile]:
    if not file_ids:
        return {}
    rows = session.scalars(select(OpenAIFile).where(OpenAIFile.org_id == org_id, OpenAIFile.id.in_(list(file_ids))))
    return {row.id: row for row in rows}


def open_batches_reading(session: Session, org_id: str, file_id: str) -> int:
    """Batches of the org that read `file_id` and have not ended."""
    return int(session.scalar(select(func.count()).select_from(OpenAIBatch).where(
        OpenAIBatch.org_id == org_id, OpenAIBatch.input_file_id == file_id,
        OpenAIBatch.status.in_(["validating", "in_progress", "cancelling"]))) or 0)


def get_batch(session: Session, org_id: str, batch_id: str) -> OpenAIBatch | None:
    return session.scalar(select(OpenAIBatch).where(OpenAIBatch.id == batch_id, OpenAIBatch.org_id == org_id))


def batch_seq(session: Session, org_id: str, batch_id: str) -> int | None:
    return session.scalar(select(OpenAIBatch.seq).where(OpenAIBatch.id == batch_id, OpenAIBatch.org_id == org_id))


def list_batches(session: Session, org_id: str, after_seq: int | None, limit: int) -> list[OpenAIBatch]:
    query = select(OpenAIBatch).where(OpenAIBatch.org_id == org_id)
    if after_seq is not None:
        query = query.where(OpenAIBatch.seq < after_seq)
    return list(session.scalars(query.order_by(OpenAIBatch.seq.desc()).limit(limit)))


def update_batch_if(session: Session, batch_id: str, statuses: Sequence[str], values: Mapping[str, Any]) -> bool:
    """Set `values` on the batch if its stored status is one of `statuses` (a guarded UPDATE)."""
    result = cast(CursorResult[Any], session.execute(
        update(OpenAIBatch).where(OpenAIBatch.id == batch_id, OpenAIBatch.status.in_(list(statuses)))
        .values(**values).execution_options(synchronize_session=False)))
    return bool(result.rowcount)


def jobs_by_id(session: Session, job_ids: Sequence[str]) -> dict[str, Job]:
    if not job_ids:
        return {}
    return {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(list(job_ids))))}


def latest_progress(session: Session, job_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The payload of each job's latest progress entry (its live request counts)."""
    if not job_ids:
        return {}
    last = (select(func.max(JobProgress.id)).where(JobProgress.job_id.in_(list(job_ids)))
            .group_by(JobProgress.job_id))
    rows = session.scalars(select(JobProgress).where(JobProgress.id.in_(last)))
    return {row.job_id: dict(row.payload or {}) for row in rows}


def job_outputs(session: Session, job_id: str) -> list[JobOutput]:
    return list(session.scalars(select(JobOutput).where(JobOutput.job_id == job_id).order_by(JobOutput.seq)))
