"""Identifiers: TypeIDs (`job_01h...`) for every object, as the Archetype API spells them."""

from __future__ import annotations

import secrets

from typeid import TypeID


def new_id(prefix: str) -> str:
    return str(TypeID(prefix=prefix))


def new_api_key() -> str:
    return "jp_" + secrets.token_urlsafe(32)


def error_uid() -> str:
    import uuid

    return f"err-{uuid.uuid4()}"
