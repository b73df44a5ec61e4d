"""The `Idempotency-Key` request header, shared by the create routes of every surface (the rules:
`services.idempotency`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", max_length=255,
    description="Retry-safe creates: the same key and request answer the first response again (nothing is "
                "created twice); the same key with another request is a 409. Kept 24 h "
                "(JOBPORT_RETENTION_IDEMPOTENCY_HOURS).")]
