"""Tables of the callbacks feature: the outbox (`callback_deliveries`), its per-attempt log
(`callback_attempts`) and each org's signing secret (`webhook_secrets`). Created by migration 0003."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from jobport.store.tables import Base, BigIntPK


class CallbackDelivery(Base):
    """One callback message to one URL. `payload` is rendered when the row is enqueued (in the
    transaction of the change it reports); `message_id` is the `webhook-id` of every attempt.
    While `status` is `pending`, `next_attempt_at` is when it is due, or the lease of the process
    sending it now (claimed rows are pushed `lease` seconds ahead before the request goes out)."""

    __tablename__ = "callback_deliveries"
    __table_args__ = (
        Index("ix_callback_deliveries_due", "status", "next_attempt_at"),
        Index("ix_callback_deliveries_org_created", "org_id", "created_at"),
        Index("ix_callback_deliveries_job", "job_id"),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    # No foreign key: the delivery log outlives a deleted job; null for batch callbacks (later).
    job_id: Mapped[str | None] = mapped_column(String(64))
    surface: Mapped[str] = mapped_column(String(20))
    event_type: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(2048))
    payload: Mapped[dict[str, Any]]
    message_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # The delivery this one replays (POST /v0.5/callbacks/{id}/replay), if any.
    replay_of: Mapped[str | None] = mapped_column(String(64))


class CallbackAttempt(Base):
    """One HTTP attempt of a delivery: what came back (status code) or what went wrong (error)."""

    __tablename__ = "callback_attempts"
    __table_args__ = (Index("ix_callback_attempts_delivery", "delivery_id", "attempt"),)
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("callback_deliveries.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class WebhookSecret(Base):
    """The org's Standard Webhooks signing secret (`whsec_` + base64 of 24 random bytes), created on
    first use. After a rotation the previous secret also signs until `previous_expires_at`, so
    receivers can switch without rejecting deliveries in flight."""

    __tablename__ = "webhook_secrets"
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True)
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_expires_at: Mapped[datetime | None]
