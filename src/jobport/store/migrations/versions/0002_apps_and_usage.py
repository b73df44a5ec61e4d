"""apps, app versions, usage ledger; app-bound keys; app and billing columns on jobs

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "apps",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(64), sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("pipeline_key", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("org_id", "name", name="uq_apps_org_name"),
    )
    op.create_index("ix_apps_org_id", "apps", ["org_id"])
    op.create_table(
        "app_versions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("app_id", sa.String(36), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.String(50), nullable=False),
        sa.Column("pipeline_version", sa.String(50), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("references", sa.JSON(), nullable=False),
        sa.Column("records_per_group", sa.Integer(), nullable=False),
        sa.Column("units_per_group", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("app_id", "version", name="uq_app_versions_app_version"),
    )
    op.create_index("ix_app_versions_app_id", "app_versions", ["app_id"])
    op.create_table(
        "usage_entries",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("org_id", sa.String(64), sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("app_id", sa.String(36), nullable=True),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("surface", sa.String(20), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("record_groups", sa.BigInteger(), nullable=False),
        sa.Column("billed_units", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_usage_org_created", "usage_entries", ["org_id", "created_at"])
    op.add_column("api_keys", sa.Column("app_id", sa.String(36), nullable=True))
    op.create_index("ix_api_keys_app_id", "api_keys", ["app_id"])
    for column in (
        sa.Column("surface", sa.String(20), nullable=True),
        sa.Column("app_id", sa.String(36), nullable=True),
        sa.Column("app_version", sa.String(50), nullable=True),
        sa.Column("record_count", sa.BigInteger(), nullable=True),
        sa.Column("record_group_count", sa.BigInteger(), nullable=True),
        sa.Column("billed_usage", sa.BigInteger(), nullable=True),
    ):
        op.add_column("jobs", column)
    op.create_index("ix_jobs_app_id", "jobs", ["app_id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_app_id", "jobs")
    for name in ("billed_usage", "record_group_count", "record_count", "app_version", "app_id", "surface"):
        op.drop_column("jobs", name)
    op.drop_index("ix_api_keys_app_id", "api_keys")
    op.drop_column("api_keys", "app_id")
    op.drop_table("usage_entries")
    op.drop_table("app_versions")
    op.drop_table("apps")
