"""Orgs and API keys. Keys are stored as SHA-256 hashes; the plaintext is shown once."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from jobport.domain.ids import new_api_key, new_id
from jobport.store.db import utcnow
from jobport.store.tables import ApiKey, Org


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def get_or_create_org(session: Session, name: str) -> Org:
    org = session.scalar(select(Org).where(Org.name == name))
    if org is None:
        org = Org(id=new_id("org"), name=name, created_at=utcnow())
        session.add(org)
        session.flush()
    return org


def add_key(session: Session, org: Org, key: str | None = None, name: str | None = None) -> tuple[ApiKey, str]:
    plaintext = key or new_api_key()
    row = ApiKey(
        id=new_id("key"),
        org_id=org.id,
        key_hash=hash_key(plaintext),
        prefix=plaintext[:8],
        name=name,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row, plaintext


def key_exists(session: Session, key: str) -> bool:
    return session.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(key))) is not None


def org_and_app_for_key(session: Session, key: str) -> tuple[Org, str | None] | None:
    """The key's org and the app it is bound to (None for an org-wide key), in one query."""
    row = session.execute(
        select(Org, ApiKey.app_id)
        .join(ApiKey, ApiKey.org_id == Org.id)
        .where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
    ).first()
    return (row[0], row[1]) if row else None


def any_org(session: Session) -> bool:
    return session.scalar(select(Org.id).limit(1)) is not None
