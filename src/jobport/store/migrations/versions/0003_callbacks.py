"""callbacks: the delivery outbox, its attempt log, per-org webhook signing secrets

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

import jobport.callbacks.tables  # noqa: F401  (registers the tables on Base.metadata for autogenerate)

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "callback_deliveries",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("org_id", sa.String(64), sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=True),
        sa.Column("surface", sa.String(20), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replay_of", sa.String(64), nullable=True),
    )
    op.create_index("ix_callback_deliveries_due", "callback_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_callback_deliveries_org_created", "callback_deliveries", ["org_id", "created_at"])
    op.create_index("ix_callback_deliveries_job", "callback_deliveries", ["job_id"])
    op.create_table(
        "callback_attempts",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(64), sa.ForeignKey("callback_deliveries.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_callback_attempts_delivery", "callback_attempts", ["delivery_id", "attempt"])
    op.create_table(
        "webhook_secrets",
        sa.Column("org_id", sa.String(64), sa.ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("previous_secret", sa.String(100), nullable=True),
        sa.Column("previous_expires_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("webhook_secrets")
    op.drop_index("ix_callback_attempts_delivery", "callback_attempts")
    op.drop_table("callback_attempts")
    op.drop_index("ix_callback_deliveries_job", "callback_deliveries")
    op.drop_index("ix_callback_deliveries_org_created", "callback_deliveries")
    op.drop_index("ix_callback_deliveries_due", "callback_deliveries")
    op.drop_table("callback_deliveries")
