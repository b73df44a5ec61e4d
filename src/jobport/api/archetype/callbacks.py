"""Native routes for callbacks (`/v0.5/callbacks`): the org's delivery log with each attempt,
replay, and the signing secret receivers verify with. Archetype error format like all of /v0.5."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from jobport.api.archetype.paging import Page
from jobport.api.archetype.render import iso
from jobport.api.deps import CtxDep, CurrentOrg
from jobport.callbacks import outbox
from jobport.callbacks.tables import CallbackAttempt, CallbackDelivery, WebhookSecret
from jobport.domain.errors import Invalid
from jobport.store.db import transaction

router = APIRouter(tags=["callbacks"])


def delivery_public(row: CallbackDelivery) -> dict[str, Any]:
    return {
        "id": row.id,
        "job_id": row.job_id,
        "surface": row.surface,
        "event_type": row.event_type,
        "url": row.url,
        "webhook_id": row.message_id,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": iso(row.next_attempt_at) if row.status == outbox.PENDING else None,
        "last_attempt_at": iso(row.last_attempt_at),
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "delivered_at": iso(row.delivered_at),
        "created_at": iso(row.created_at),
        "replay_of": row.replay_of,
    }


def attempt_public(row: CallbackAttempt) -> dict[str, Any]:
    return {
        "attempt": row.attempt,
        "started_at": iso(row.started_at),
        "duration_ms": row.duration_ms,
        "status_code": row.status_code,
        "error": row.error,
    }


def secret_public(row: WebhookSecret) -> dict[str, Any]:
    return {
        "secret": row.secret,
        "created_at": iso(row.created_at),
        "previous_secret_expires_at": iso(row.previous_expires_at) if row.previous_secret else None,
        "scheme": "Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature: v1 HMAC-SHA256)",
    }


def _detail(session, row: CallbackDelivery) -> dict[str, Any]:
    return {**delivery_public(row), "payload": row.payload,
            "attempt_log": [attempt_public(a) for a in outbox.attempts_of(session, row.id)]}


# The secret routes come before /callbacks/{delivery_id}, which would otherwise match "secret".
@router.get("/callbacks/secret", summary="The org's webhook signing secret (created on first use)")
def get_secret(ctx: CtxDep, org: CurrentOrg) -> dict:
    with transaction(ctx.sessions) as session:
        return secret_public(outbox.get_or_create_secret(session, org.id))


@router.post("/callbacks/secret/rotate",
             summary="Rotate the signing secret (the old one keeps co-signing for callback_secret_grace_seconds)")
def rotate_secret(ctx: CtxDep, org: CurrentOrg) -> dict:
    with transaction(ctx.sessions) as session:
        return secret_public(outbox.rotate_secret(session, org.id, ctx.settings.callback_secret_grace_seconds))


@router.get("/callbacks", summary="List the org's callback deliveries, newest first")
def list_callbacks(
    ctx: CtxDep, org: CurrentOrg, page: Page,
    job_id: Annotated[str | None, Query(description="Only this job's callbacks")] = None,
    status: Annotated[str | None, Query(description="pending, delivered or failed")] = None,
) -> dict:
    if status is not None and status.lower() not in outbox.STATUSES:
        raise Invalid(f"status: {status!r} is not one of {', '.join(outbox.STATUSES)}", field="status",
                      code="invalid_parameter", suggestion="Use status=pending, delivered or failed.")
    with ctx.sessions() as session:
        rows, total = outbox.list_deliveries(session, org.id, job_id=job_id, status=status.lower() if status else None,
                                             offset=page.offset, limit=page.limit)
        return {"total": total, "offset": page.offset, "limit": page.limit,
                "callbacks": [delivery_public(r) for r in rows]}


@router.get("/callbacks/{delivery_id}", summary="One delivery with its payload and attempt log")
def get_callback(delivery_id: str, ctx: CtxDep, org: CurrentOrg) -> dict:
    with ctx.sessions() as session:
        return _detail(session, outbox.get_delivery(session, org.id, delivery_id))


@router.post("/callbacks/{delivery_id}/replay", status_code=201,
             summary="Send a delivered or failed callback again (a new delivery: same payload, new webhook-id)")
def replay_callback(delivery_id: str, ctx: CtxDep, org: CurrentOrg) -> JSONResponse:
    with transaction(ctx.sessions) as session:
        new_id = outbox.replay(session, org.id, delivery_id)
    with ctx.sessions() as session:
        body = _detail(session, outbox.get_delivery(session, org.id, new_id))
    return JSONResponse(body, status_code=201)
