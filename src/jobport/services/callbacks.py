"""Callbacks as the org sees them (the native API): its deliveries with their attempt logs, replay of
a finished delivery, and the signing secret receivers verify with (created on first use, rotated
with a grace period in which the old secret also signs)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from jobport.callbacks import outbox
from jobport.callbacks.tables import CallbackAttempt, CallbackDelivery, WebhookSecret
from jobport.domain.errors import Invalid, NotFound
from jobport.services.context import AppContext
from jobport.services.paging import Page
from jobport.store import jobs as job_store
from jobport.store.db import transaction

# What this service hands out: the outbox's rows, read-only for callers.
Delivery = CallbackDelivery
Attempt = CallbackAttempt
SigningSecret = WebhookSecret
PENDING, DELIVERED, FAILED = outbox.PENDING, outbox.DELIVERED, outbox.FAILED
STATUSES = outbox.STATUSES


@dataclass(frozen=True)
class DeliveryDetail:
    delivery: Delivery
    attempts: list[Attempt]


def signing_secret(ctx: AppContext, org_id: str) -> SigningSecret:
    """The org's signing secret, created on first use."""
    with transaction(ctx.sessions) as session:
        return outbox.get_or_create_secret(session, org_id)


def rotate_secret(ctx: AppContext, org_id: str) -> SigningSecret:
    """A new signing secret; the old one keeps co-signing for `callback_secret_grace_seconds`."""
    with transaction(ctx.sessions) as session:
        return outbox.rotate_secret(session, org_id, ctx.settings.callbacks.secret_grace_seconds)


def list_deliveries(ctx: AppContext, org_id: str, *, job_id: str | None, status: str | None, offset: int,
                    limit: int, only_app: str | None = None) -> Page[Delivery]:
    """The org's deliveries (of `only_app`'s jobs alone, for an app key), newest first; `status`
    (any case) is pending, delivered or failed."""
    if status is not None and status.lower() not in STATUSES:
        raise Invalid(f"status: {status!r} is not one of {', '.join(STATUSES)}", field="status",
                      code="invalid_parameter", suggestion="Use status=pending, delivered or failed.")
    with ctx.sessions() as session:
        rows, total = outbox.list_deliveries(session, org_id, job_id=job_id, status=status.lower() if status else None,
                                             offset=offset, limit=limit,
                                             count_max=ctx.settings.limits.list_count_max, app_id=only_app)
    return Page(rows, total)


def _visible(session: Session, org_id: str, delivery_id: str, only_app: str | None) -> Delivery:
    """The org's delivery; NotFound for another org's, and for one not of `only_app`'s jobs."""
    row = outbox.get_delivery(session, org_id, delivery_id)
    if only_app is not None:
        job = job_store.get(session, org_id, row.job_id) if row.job_id else None
        if job is None or job.app_id != only_app:
            raise NotFound(f"callback {delivery_id!r} not found", field="id",
                           suggestion="List your callbacks with GET /v0.5/callbacks.")
    return row


def delivery_detail(ctx: AppContext, org_id: str, delivery_id: str, only_app: str | None = None) -> DeliveryDetail:
    """One of the org's deliveries with its attempt log (NotFound for another org's or app's)."""
    with ctx.sessions() as session:
        row = _visible(session, org_id, delivery_id, only_app)
        return DeliveryDetail(row, outbox.attempts_of(session, row.id))


def replay(ctx: AppContext, org_id: str, delivery_id: str, only_app: str | None = None) -> DeliveryDetail:
    """Send a delivered or failed delivery again as a new one (same URL and payload, new webhook-id);
    Conflict while it is still pending. Returns the new delivery."""
    with transaction(ctx.sessions) as session:
        _visible(session, org_id, delivery_id, only_app)
        new_id = outbox.replay(session, org_id, delivery_id)
    return delivery_detail(ctx, org_id, new_id)
