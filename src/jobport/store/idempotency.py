"""Idempotency records: the first answer to a create request sent with an `Idempotency-Key`, kept
so that a retry with the same key gets that answer back. One row per (org, scope, key); `scope`
names the create it belongs to (e.g. `superai.jobs`), so one key may be used on two creates.
A row without a `status_code` is a request still running."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from jobport.store.tables import Base


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    org_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[Any | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


def find(session: Session, org_id: str, scope: str, key: str) -> IdempotencyRecord | None:
    return session.get(IdempotencyRecord, (org_id, scope, key))


def claim(session: Session, org_id: str, scope: str, key: str, request_hash: str, now: datetime) -> bool:
    """Insert the running-request row; False when another request holds the key already."""
    try:
        with session.begin_nested():
            session.add(IdempotencyRecord(org_id=org_id, scope=scope, key=key, request_hash=request_hash,
                                          status_code=None, response=None, created_at=now))
    except IntegrityError:
        return False
    return True


def complete(session: Session, org_id: str, scope: str, key: str, status_code: int, response: Any) -> None:
    session.execute(update(IdempotencyRecord)
                    .where(IdempotencyRecord.org_id == org_id, IdempotencyRecord.scope == scope,
                           IdempotencyRecord.key == key)
                    .values(status_code=status_code, response=response))


def release(session: Session, org_id: str, scope: str, key: str) -> None:
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.org_id == org_id,
                                                    IdempotencyRecord.scope == scope, IdempotencyRecord.key == key))


def prune(session: Session, before: datetime, limit: int) -> int:
    """Delete up to `limit` records created before `before`; how many went."""
    old = list(session.scalars(select(IdempotencyRecord.created_at).where(IdempotencyRecord.created_at < before)
                               .order_by(IdempotencyRecord.created_at).limit(limit)))
    if not old:
        return 0
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at <= old[-1]))
    return result.rowcount
