"""Native routes for callbacks (`/v0.5/callbacks`): the org's delivery log with each attempt,
replay, and the signing secret receivers verify with. Archetype error format like all of /v0.5."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from jobport.api.archetype import render, schemas
from jobport.api.archetype.paging import Page
from jobport.api.archetype.render import iso
from jobport.api.deps import CtxDep, CurrentOrg, OnlyApp, OrgWide
from jobport.api.errors import surface_route
from jobport.api.openapi import errors
from jobport.services import callbacks as callback_service
from jobport.services.callbacks import Attempt, Delivery, DeliveryDetail, SigningSecret

router = APIRouter(tags=["callbacks"], route_class=surface_route(render.error_body))

SIGNING_SCHEME = "Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature: v1 HMAC-SHA256)"


def delivery_public(row: Delivery) -> dict[str, Any]:
    return {
        "id": row.id,
        "job_id": row.job_id,
        "surface": row.surface,
        "event_type": row.event_type,
        "url": row.url,
        "webhook_id": row.message_id,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": iso(row.next_attempt_at) if row.status == callback_service.PENDING else None,
        "last_attempt_at": iso(row.last_attempt_at),
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "delivered_at": iso(row.delivered_at),
        "created_at": iso(row.created_at),
        "replay_of": row.replay_of,
    }


def attempt_public(row: Attempt) -> dict[str, Any]:
    return {
        "attempt": row.attempt,
        "started_at": iso(row.started_at),
        "duration_ms": row.duration_ms,
        "status_code": row.status_code,
        "error": row.error,
    }


def secret_public(row: SigningSecret) -> dict[str, Any]:
    return {
        "secret": row.secret,
        "created_at": iso(row.created_at),
        "previous_secret_expires_at": iso(row.previous_expires_at) if row.previous_secret else None,
        "scheme": SIGNING_SCHEME,
    }


def detail_public(found: DeliveryDetail) -> dict[str, Any]:
    return {**delivery_public(found.delivery), "payload": found.delivery.payload,
            "attempt_log": [attempt_public(a) for a in found.attempts]}


# The secret routes come before /callbacks/{delivery_id}, which would otherwise match "secret".
@router.get("/callbacks/secret", summary="The org's webhook signing secret (created on first use)",
            response_model=schemas.CallbackSecretPublic)
def get_secret(ctx: CtxDep, org: OrgWide) -> dict[str, Any]:
    return secret_public(callback_service.signing_secret(ctx, org.id))


@router.post("/callbacks/secret/rotate",
             summary="Rotate the signing secret (the old one keeps co-signing for callback_secret_grace_seconds)",
             response_model=schemas.CallbackSecretPublic)
def rotate_secret(ctx: CtxDep, org: OrgWide) -> dict[str, Any]:
    """Callbacks are signed with the new secret at once, and also with the old one for setting
    `callback_secret_grace_seconds` (default 86400), so receivers can switch without losing any."""
    return secret_public(callback_service.rotate_secret(ctx, org.id))


@router.get("/callbacks", summary="List the org's callback deliveries, newest first",
            response_model=schemas.CallbackList)
def list_callbacks(
    ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp, page: Page,
    job_id: Annotated[str | None, Query(description="Only this job's callbacks")] = None,
    status_: Annotated[str | None, Query(alias="status", description="pending, delivered or failed (any case)")] = None,
) -> dict[str, Any]:
    found = callback_service.list_deliveries(ctx, org.id, job_id=job_id, status=status_, offset=page.offset,
                                             limit=page.limit, only_app=only_app)
    return {"total": found.total, "offset": page.offset, "limit": page.limit,
            "callbacks": [delivery_public(r) for r in found.items]}


@router.get("/callbacks/{delivery_id}", summary="One delivery with its payload and attempt log",
            response_model=schemas.CallbackDetail, responses=errors(404))
def get_callback(delivery_id: str, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp) -> dict[str, Any]:
    return detail_public(callback_service.delivery_detail(ctx, org.id, delivery_id, only_app))


@router.post("/callbacks/{delivery_id}/replay", status_code=status.HTTP_201_CREATED,
             summary="Send a delivered or failed callback again (a new delivery: same payload, new webhook-id)",
             response_model=schemas.CallbackDetail, responses=errors(404, 409))
def replay_callback(delivery_id: str, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp) -> dict[str, Any]:
    """409 while the delivery is still pending: it is retried by itself."""
    return detail_public(callback_service.replay(ctx, org.id, delivery_id, only_app))
