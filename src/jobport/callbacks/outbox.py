"""The callback outbox and its repository.

`enqueue` adds a delivery row in the caller's session, so the change a callback reports and the
callback itself commit (or roll back) together; after the commit the deliverers of this process
are woken. The deliverer claims due rows with a lease (`claim_due`), sends them outside any
transaction, and writes each result (`record`) guarded by the attempt count it claimed, so a
result that lost a race to another process changes nothing but the attempt log.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, event, func, select, update
from sqlalchemy.orm import Session

from jobport.callbacks.signing import new_secret
from jobport.callbacks.tables import CallbackAttempt, CallbackDelivery, WebhookSecret
from jobport.domain.errors import Conflict, NotFound
from jobport.domain.ids import new_id
from jobport.domain.times import iso_utc
from jobport.store import listing
from jobport.store.db import as_utc, utcnow
from jobport.store.tables import Job

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
STATUSES = (PENDING, DELIVERED, FAILED)

# ---- enqueue ------------------------------------------------------------------------------------

_wakers: weakref.WeakSet[Any] = weakref.WeakSet()
_wakers_lock = threading.Lock()
_NOTIFY_FLAG = "jobport_callbacks_notify"


def add_waker(target: Any) -> None:
    """`target.wake()` is called after every commit that enqueued a delivery in this process."""
    with _wakers_lock:
        _wakers.add(target)


def remove_waker(target: Any) -> None:
    with _wakers_lock:
        _wakers.discard(target)


def _notify(session: Session) -> None:
    session.info.pop(_NOTIFY_FLAG, None)
    with _wakers_lock:
        targets = list(_wakers)
    for target in targets:
        target.wake()


def enqueue(
    session: Session,
    *,
    org_id: str,
    job_id: str | None,
    surface: str,
    event_type: str,
    url: str,
    payload: dict[str, Any],
    replay_of: str | None = None,
) -> str:
    """Add a pending delivery, due now, in the caller's transaction; returns its `cbk_` id."""
    now = utcnow()
    row = CallbackDelivery(
        id=new_id("cbk"), org_id=org_id, job_id=job_id, surface=surface, event_type=event_type, url=url,
        payload=payload, message_id=new_id("msg"), status=PENDING, attempts=0, next_attempt_at=now,
        created_at=now, replay_of=replay_of,
    )
    session.add(row)
    if not session.info.get(_NOTIFY_FLAG):
        session.info[_NOTIFY_FLAG] = True
        event.listen(session, "after_commit", _notify, once=True)
    return row.id


# ---- claiming and recording (the deliverer) -----------------------------------------------------

@dataclass(frozen=True)
class Claim:
    """A delivery leased to this process until `lease_until` for one attempt."""

    id: str
    org_id: str
    url: str
    payload: dict[str, Any]
    message_id: str
    attempts_before: int
    lease_until: datetime

    @property
    def attempt(self) -> int:
        return self.attempts_before + 1


def claim_due(session: Session, *, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
    """Lease up to `limit` pending deliveries due at `now` by moving their `next_attempt_at` to
    `lease_until`. PostgreSQL: the candidates are locked FOR UPDATE SKIP LOCKED, so concurrent
    claimers take disjoint rows. SQLite: units of work begin IMMEDIATE (one writer at a time), and
    each UPDATE is guarded by the row still being due, so a row is never leased twice."""
    if limit <= 0:
        return []
    query = (
        select(CallbackDelivery)
        .where(CallbackDelivery.status == PENDING, CallbackDelivery.next_attempt_at <= now)
        .order_by(CallbackDelivery.next_attempt_at, CallbackDelivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claims = []
    for row in session.scalars(query).all():
        result = session.execute(
            update(CallbackDelivery)
            .where(CallbackDelivery.id == row.id, CallbackDelivery.status == PENDING,
                   CallbackDelivery.next_attempt_at <= now)
            .values(next_attempt_at=lease_until)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            claims.append(Claim(row.id, row.org_id, row.url, row.payload, row.message_id, row.attempts, lease_until))
    return claims


def next_due(session: Session) -> datetime | None:
    """When the earliest pending delivery is due (or its lease ends)."""
    due = select(func.min(CallbackDelivery.next_attempt_at)).where(CallbackDelivery.status == PENDING)
    return as_utc(session.scalar(due))


def record(
    session: Session,
    claim: Claim,
    *,
    status: str,
    started_at: datetime,
    duration_ms: int,
    status_code: int | None,
    error: str | None,
    next_attempt_at: datetime | None,
) -> bool:
    """Log the attempt and move the delivery to `status` (pending again with `next_attempt_at`,
    delivered, or failed). False if another process recorded an attempt of this delivery first
    (our lease had expired): then only the attempt log row is written."""
    session.add(CallbackAttempt(delivery_id=claim.id, attempt=claim.attempt, started_at=started_at,
                                duration_ms=duration_ms, status_code=status_code, error=error))
    values: dict[str, Any] = {
        "status": status, "attempts": claim.attempt, "next_attempt_at": next_attempt_at if status == PENDING else None,
        "last_attempt_at": started_at, "last_status_code": status_code, "last_error": error,
    }
    if status == DELIVERED:
        values["delivered_at"] = started_at + timedelta(milliseconds=duration_ms)
    result = session.execute(
        update(CallbackDelivery)
        .where(CallbackDelivery.id == claim.id, CallbackDelivery.status == PENDING,
               CallbackDelivery.attempts == claim.attempts_before)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


# ---- signing secrets ----------------------------------------------------------------------------

def _insert_ignore(session: Session, values: dict[str, Any]) -> None:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(WebhookSecret).values(**values).on_conflict_do_nothing(index_elements=["org_id"]))


def get_or_create_secret(session: Session, org_id: str) -> WebhookSecret:
    """The org's signing secret; created on first use (concurrent first uses agree on one)."""
    row = session.get(WebhookSecret, org_id)
    if row is None:
        _insert_ignore(session, {"org_id": org_id, "secret": new_secret(), "created_at": utcnow()})
        row = session.scalar(select(WebhookSecret).where(WebhookSecret.org_id == org_id)
                             .execution_options(populate_existing=True))
    assert row is not None
    return row


def rotate_secret(session: Session, org_id: str, grace_seconds: float) -> WebhookSecret:
    """A new secret; the old one keeps signing (as a second signature) for `grace_seconds`."""
    row = get_or_create_secret(session, org_id)
    now = utcnow()
    row.previous_secret = row.secret if grace_seconds > 0 else None
    row.previous_expires_at = now + timedelta(seconds=grace_seconds) if grace_seconds > 0 else None
    row.secret = new_secret()
    row.created_at = now
    session.flush()
    return row


def active_secrets(row: WebhookSecret, now: datetime) -> list[str]:
    """The secrets that sign now: the current one, then the previous one during its grace period."""
    secrets = [row.secret]
    expires = as_utc(row.previous_expires_at)
    if row.previous_secret and expires is not None and expires > now:
        secrets.append(row.previous_secret)
    return secrets


def signing_secrets(session: Session, org_ids: Sequence[str], now: datetime) -> dict[str, list[str]]:
    return {org_id: active_secrets(get_or_create_secret(session, org_id), now) for org_id in sorted(set(org_ids))}


# ---- reading and replaying (the native API) -----------------------------------------------------

def list_deliveries(session: Session, org_id: str, *, job_id: str | None, status: str | None, offset: int,
                    limit: int, count_max: int = listing.DEFAULT_COUNT_MAX,
                    app_id: str | None = None) -> tuple[list[CallbackDelivery], int]:
    """The org's deliveries, newest first, with a bounded total (`store.listing`); `app_id`: only
    those of that app's jobs."""
    query = select(CallbackDelivery).where(CallbackDelivery.org_id == org_id)
    if app_id is not None:
        query = query.where(CallbackDelivery.job_id.in_(select(Job.id).where(Job.org_id == org_id,
                                                                              Job.app_id == app_id)))
    if job_id:
        query = query.where(CallbackDelivery.job_id == job_id)
    if status:
        query = query.where(CallbackDelivery.status == status)
    return listing.paged(session, query, [CallbackDelivery.created_at.desc(), CallbackDelivery.id.desc()], offset,
                         limit, count_max)


def get_delivery(session: Session, org_id: str, delivery_id: str) -> CallbackDelivery:
    row = session.scalar(select(CallbackDelivery).where(CallbackDelivery.id == delivery_id,
                                                        CallbackDelivery.org_id == org_id))
    if row is None:
        raise NotFound(f"callback {delivery_id!r} not found", field="id",
                       suggestion="List your callbacks with GET /v0.5/callbacks.")
    return row


def attempts_of(session: Session, delivery_id: str) -> list[CallbackAttempt]:
    return list(session.scalars(select(CallbackAttempt).where(CallbackAttempt.delivery_id == delivery_id)
                                .order_by(CallbackAttempt.attempt, CallbackAttempt.id)))


def replay(session: Session, org_id: str, delivery_id: str) -> str:
    """Send a delivered or failed callback again: a new pending delivery with the same URL and
    payload and a new message id (receivers that dedupe by `webhook-id` see a new message).
    A pending delivery is still being retried: 409."""
    row = get_delivery(session, org_id, delivery_id)
    if row.status == PENDING:
        raise Conflict(f"callback {delivery_id} is still pending (attempt {row.attempts + 1} is due at "
                       f"{iso_utc(row.next_attempt_at)})", field="id",
                       suggestion="Wait until it is delivered or failed; a pending callback is retried by itself.")
    return enqueue(session, org_id=row.org_id, job_id=row.job_id, surface=row.surface, event_type=row.event_type,
                   url=row.url, payload=row.payload, replay_of=row.id)




def delete_settled_for_jobs(session: Session, job_ids: Sequence[str]) -> int:
    """Delete the deliveries (and their attempts) of `job_ids` that are no longer due: delivered or
    given up. Pending ones stay: a job deleted while its callback is on the way still gets it."""
    if not job_ids:
        return 0
    settled = select(CallbackDelivery.id).where(CallbackDelivery.job_id.in_(list(job_ids)),
                                                CallbackDelivery.status.in_([DELIVERED, FAILED]))
    ids = list(session.scalars(settled))
    if not ids:
        return 0
    session.execute(delete(CallbackAttempt).where(CallbackAttempt.delivery_id.in_(ids)))
    session.execute(delete(CallbackDelivery).where(CallbackDelivery.id.in_(ids)))
    return len(ids)


def pending_count(session: Session) -> int:
    """Deliveries of every org still to be sent (or retried)."""
    return int(session.scalar(select(func.count()).select_from(CallbackDelivery)
                              .where(CallbackDelivery.status == PENDING)) or 0)
