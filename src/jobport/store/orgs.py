"""Orgs and API keys. Keys are stored as SHA-256 hashes; the plaintext is shown once."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from jobport.domain.ids import new_api_key, new_id
from jobport.store.db import utcnow
from jobport.store.tables import ApiKey, Org


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def get_or_create_org(session: Session, name: str) -> Org:
    org = session.scalar(select(Org).where(Org.name == name))
    if org is None:
        org = add_org(session, name)
    return org


def add_org(session: Session, name: str) -> Org:
    org = Org(id=new_id("org"), name=name, created_at=utcnow())
    session.add(org)
    session.flush()
    return org


def find_org(session: Session, ref: str) -> Org | None:
    """An org by id or by name."""
    return session.scalar(select(Org).where(or_(Org.id == ref, Org.name == ref)).limit(1))


def list_orgs(session: Session, offset: int, limit: int) -> tuple[list[Org], int]:
    total = session.scalar(select(func.count()).select_from(Org)) or 0
    rows = session.scalars(select(Org).order_by(Org.created_at, Org.id).offset(offset).limit(limit))
    return list(rows), total


def add_key(session: Session, org: Org, key: str | None = None, name: str | None = None, *, scope: str = "org",
            app_id: str | None = None) -> tuple[ApiKey, str]:
    plaintext = key or new_api_key()
    row = ApiKey(
        id=new_id("key"),
        org_id=org.id,
        key_hash=hash_key(plaintext),
        prefix=plaintext[:8],
        name=name,
        created_at=utcnow(),
        scope=scope,
        app_id=app_id,
    )
    session.add(row)
    session.flush()
    return row, plaintext


def key_exists(session: Session, key: str) -> bool:
    return session.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(key))) is not None


def get_key(session: Session, key: str) -> ApiKey | None:
    """A key row by its plaintext (revoked or not)."""
    return session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))


def get_key_by_id(session: Session, key_id: str) -> ApiKey | None:
    return session.get(ApiKey, key_id)


def org_and_key(session: Session, key: str) -> tuple[Org, ApiKey] | None:
    """The key's org and its row (scope, bound app), in one query; None for an unknown or revoked key."""
    row = session.execute(
        select(Org, ApiKey)
        .join(ApiKey, ApiKey.org_id == Org.id)
        .where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
    ).first()
    return (row[0], row[1]) if row else None


def list_keys(session: Session, org_id: str | None, offset: int, limit: int) -> tuple[list[ApiKey], int]:
    """Keys (of one org, or of every org), oldest first, revoked ones included."""
    query = select(ApiKey)
    if org_id is not None:
        query = query.where(ApiKey.org_id == org_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(ApiKey.created_at, ApiKey.id).offset(offset).limit(limit))
    return list(rows), total


def revoke_key(session: Session, row: ApiKey, at: datetime | None = None) -> None:
    if row.revoked_at is None:
        row.revoked_at = at or utcnow()
        session.flush()


def any_org(session: Session) -> bool:
    return session.scalar(select(Org.id).limit(1)) is not None
