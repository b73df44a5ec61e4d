"""Uploaded files: one row per (org, file_id); the same basename uploaded again replaces it."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from jobport.store.tables import File, JobInput


def get(session: Session, org_id: str, file_id: str) -> File | None:
    return session.scalar(select(File).where(File.org_id == org_id, File.file_id == file_id))


def get_many(session: Session, org_id: str, file_ids: Sequence[str]) -> dict[str, File]:
    if not file_ids:
        return {}
    rows = session.scalars(select(File).where(File.org_id == org_id, File.file_id.in_(set(file_ids))))
    return {row.file_id: row for row in rows}


def page(
    session: Session, org_id: str, limit: int, after: tuple[datetime, str] | None, before: tuple[datetime, str] | None,
    uids: Collection[str] | None = None,
) -> tuple[list[File], bool]:
    """Newest first. `after` continues past a cursor; `before` steps back towards newer files.
    `uids`: only those files (None: all of the org's)."""
    query = select(File).where(File.org_id == org_id, *_among(uids))
    if after is not None:
        at, uid = after
        query = query.where(or_(File.updated_at < at, and_(File.updated_at == at, File.uid < uid)))
        query = query.order_by(File.updated_at.desc(), File.uid.desc())
    elif before is not None:
        at, uid = before
        query = query.where(or_(File.updated_at > at, and_(File.updated_at == at, File.uid > uid)))
        query = query.order_by(File.updated_at.asc(), File.uid.asc())
    else:
        query = query.order_by(File.updated_at.desc(), File.uid.desc())
    rows = list(session.scalars(query.limit(limit + 1)))
    has_more = len(rows) > limit
    rows = rows[:limit]
    if before is not None:
        rows.reverse()
    return rows, has_more


def _among(uids: Collection[str] | None) -> list:
    return [] if uids is None else [File.uid.in_(list(uids))]


def summary(session: Session, org_id: str, uids: Collection[str] | None = None) -> dict:
    rows = session.execute(
        select(File.file_type, func.count(), func.coalesce(func.sum(File.num_bytes), 0))
        .where(File.org_id == org_id, *_among(uids))
        .group_by(File.file_type)
    ).all()
    return {
        "num_files": sum(r[1] for r in rows),
        "num_bytes": int(sum(r[2] for r in rows)),
        "file_types": {r[0]: r[1] for r in rows},
    }


def is_referenced(session: Session, uid: str) -> bool:
    return session.scalar(select(JobInput.id).where(JobInput.file_uid == uid).limit(1)) is not None
