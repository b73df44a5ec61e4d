"""super.AI: batches, export operations, job review/type/expiry columns, app batch callbacks and
completion windows, org usage budgets

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(64), sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("app_id", sa.String(36), nullable=False),
        sa.Column("job_count", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("callback_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_batches_app_created", "batches", ["app_id", "created_at"])
    op.create_table(
        "operations",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("org_id", sa.String(64), sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("app_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("blob_key", sa.String(1024), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("job_count", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_operations_org_id", "operations", ["org_id"])
    for column in (
        sa.Column("batch_id", sa.String(36), nullable=True),
        sa.Column("job_type", sa.String(20), nullable=True),
        sa.Column("correct", sa.Boolean(), nullable=True),
        sa.Column("reviewed_response", sa.JSON(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    ):
        op.add_column("jobs", column)
    op.create_index("ix_jobs_batch_id", "jobs", ["batch_id"])
    op.add_column("apps", sa.Column("batch_callback_url", sa.String(2048), nullable=True))
    op.add_column("apps", sa.Column("completion_window_seconds", sa.Integer(), nullable=True))
    op.add_column("orgs", sa.Column("budget_units", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("orgs", "budget_units")
    op.drop_column("apps", "completion_window_seconds")
    op.drop_column("apps", "batch_callback_url")
    op.drop_index("ix_jobs_batch_id", "jobs")
    for name in ("expires_at", "reviewed_at", "reviewed_response", "correct", "job_type", "batch_id"):
        op.drop_column("jobs", name)
    op.drop_index("ix_operations_org_id", "operations")
    op.drop_table("operations")
    op.drop_index("ix_batches_app_created", "batches")
    op.drop_table("batches")
