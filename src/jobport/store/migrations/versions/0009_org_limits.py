"""Per-org limit overrides: `org_limits`, one row per org that has any (a NULL column: the setting
applies).

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "org_limits",
        sa.Column("org_id", sa.String(64), sa.ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key_requests_per_second", sa.Float(), nullable=True),
        sa.Column("key_request_burst", sa.BigInteger(), nullable=True),
        sa.Column("org_requests_per_second", sa.Float(), nullable=True),
        sa.Column("org_request_burst", sa.BigInteger(), nullable=True),
        sa.Column("concurrent_jobs", sa.BigInteger(), nullable=True),
        sa.Column("queued_inputs", sa.BigInteger(), nullable=True),
        sa.Column("fetch_max_per_org", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("org_limits")
