"""Direct uploads (Archetype `POST /files/uploads/initiate` ... `complete`): one row per upload
session, one per part received (its size and ETag). The parts' bytes live as blobs under
`uploads/<org id>/<upload id>/` until `complete` assembles them into the file, or `abort` / expiry
removes them.

Revision ID: 0010
Revises: 0009
(Numbered 0010 by the lead: 0008 is key scopes, 0009 org limits; keep this chain.)
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("org_id", sa.String(64), sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("file_id", sa.String(512), nullable=False),
        sa.Column("file_uid", sa.String(64), nullable=False),
        sa.Column("file_type", sa.String(200), nullable=False),
        sa.Column("num_bytes", sa.BigInteger(), nullable=False),
        sa.Column("part_size", sa.BigInteger(), nullable=False),
        sa.Column("num_parts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_uploads_org_file", "uploads", ["org_id", "file_id", "status"])
    op.create_index("ix_uploads_expires_at", "uploads", ["expires_at"])
    op.create_table(
        "upload_parts",
        sa.Column("upload_id", sa.String(64), sa.ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("part_number", sa.Integer(), primary_key=True),
        sa.Column("num_bytes", sa.BigInteger(), nullable=False),
        sa.Column("etag", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("upload_parts")
    op.drop_table("uploads")
