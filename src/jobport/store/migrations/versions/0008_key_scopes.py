"""Key scopes. `api_keys.scope` says what a key may do: `admin` (operate the server: orgs and keys of
every org, and everything of its own org), `org` (everything of its org) or `app` (only the jobs,
files and usage of the app in `api_keys.app_id`). Existing keys: those bound to an app become
`app`; the bootstrap admin key (named "admin", in the first org, the default org the first start
created) becomes `admin`; every other key `org`.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

keys = sa.table("api_keys", sa.column("org_id", sa.String), sa.column("name", sa.String),
                sa.column("app_id", sa.String), sa.column("scope", sa.String))
orgs = sa.table("orgs", sa.column("id", sa.String), sa.column("created_at", sa.DateTime))


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("scope", sa.String(10), nullable=False, server_default="org"))
    bind = op.get_bind()
    bind.execute(sa.update(keys).where(keys.c.app_id.is_not(None)).values(scope="app"))
    first_org = sa.select(orgs.c.id).order_by(orgs.c.created_at, orgs.c.id).limit(1).scalar_subquery()
    bind.execute(sa.update(keys).where(keys.c.name == "admin", keys.c.app_id.is_(None),
                                       keys.c.org_id == first_org).values(scope="admin"))


def downgrade() -> None:
    """Drops the column: every key is org-wide again (app keys keep their app binding)."""
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("scope")
