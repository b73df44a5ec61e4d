"""Direct uploads: one row per upload session (`upl_` id), org-scoped, and one per part received
(its bytes are a blob)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from jobport.store.tables import Upload, UploadPart


def get(session: Session, org_id: str, upload_id: str) -> Upload | None:
    return session.scalar(select(Upload).where(Upload.id == upload_id, Upload.org_id == org_id))


def get_any(session: Session, upload_id: str) -> Upload | None:
    """By id alone: a part PUT is authorized by its signed link, not by a key."""
    return session.get(Upload, upload_id)


def find_open(session: Session, org_id: str, file_id: str, num_bytes: int, file_type: str,
              now: datetime) -> Upload | None:
    """The newest open, unexpired upload of the same file (what `resume_if_started` resumes)."""
    return session.scalar(
        select(Upload)
        .where(Upload.org_id == org_id, Upload.file_id == file_id, Upload.status == "open",
               Upload.num_bytes == num_bytes, Upload.file_type == file_type, Upload.expires_at > now)
        .order_by(Upload.created_at.desc()).limit(1))


def move(session: Session, upload_id: str, from_statuses: Sequence[str], to: str) -> bool:
    """Set the status if it is one of `from_statuses` (a guarded UPDATE); whether it moved."""
    result = session.execute(update(Upload).where(Upload.id == upload_id, Upload.status.in_(from_statuses))
                             .values(status=to))
    return bool(getattr(result, "rowcount", 0))


def expired(session: Session, now: datetime, stuck_after: timedelta, limit: int) -> list[Upload]:
    """Uploads past their expiry, oldest first; one still `completing` only once it has been past it
    for `stuck_after` more (a complete that died with its process)."""
    return list(session.scalars(
        select(Upload)
        .where(or_(and_(Upload.status != "completing", Upload.expires_at < now),
                   Upload.expires_at < now - stuck_after))
        .order_by(Upload.expires_at).limit(limit)))


def delete_many(session: Session, upload_ids: Sequence[str]) -> None:
    if upload_ids:
        session.execute(delete(UploadPart).where(UploadPart.upload_id.in_(list(upload_ids))))
        session.execute(delete(Upload).where(Upload.id.in_(list(upload_ids))))


def parts(session: Session, upload_id: str) -> dict[int, UploadPart]:
    """The parts received, by number."""
    rows = session.scalars(select(UploadPart).where(UploadPart.upload_id == upload_id))
    return {row.part_number: row for row in rows}


def record_part(session: Session, upload_id: str, part_number: int, num_bytes: int, etag: str,
                now: datetime) -> None:
    """Insert or replace a part's row (a part PUT again replaces the earlier bytes), in one statement."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    values = {"num_bytes": num_bytes, "etag": etag, "created_at": now}
    session.execute(insert(UploadPart).values(upload_id=upload_id, part_number=part_number, **values)
                    .on_conflict_do_update(index_elements=["upload_id", "part_number"], set_=values))


def forget_part(session: Session, upload_id: str, part_number: int) -> None:
    session.execute(delete(UploadPart).where(UploadPart.upload_id == upload_id, UploadPart.part_number == part_number))
