"""Lean rows. Jobs of an app version: the version keeps the config and the reference files, a job
only the request's overrides. Existing data moves: the reference input rows copied into every app
job are deleted (the scheduler reads the version's), and each app job's full config is reduced to
what differs from its version's config. Small outputs of chunked jobs are kept in their output row
(`job_outputs.content`) instead of one blob each.

Revision ID: 0006
Revises: 0005
"""
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BATCH = 5000

jobs = sa.table("jobs", sa.column("seq", sa.BigInteger), sa.column("id", sa.String), sa.column("app_id", sa.String),
                sa.column("app_version", sa.String), sa.column("parameters", sa.JSON))
versions = sa.table("app_versions", sa.column("app_id", sa.String), sa.column("version", sa.String),
                    sa.column("config", sa.JSON))
inputs = sa.table("job_inputs", sa.column("job_id", sa.String), sa.column("tracked", sa.Boolean))


def _difference(config: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """What `config` changes of `base` (merged over `base` it gives `config` back)."""
    changed: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            inner = _difference(value, base[key])
            if inner:
                changed[key] = inner
        elif base.get(key, object()) != value:
            changed[key] = value
    return changed


def _lean(parameters: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    return {component: ({**values, "config": _difference(values.get("config") or {}, base)}
                        if isinstance(values, dict) else values)
            for component, values in parameters.items()}


def upgrade() -> None:
    with op.batch_alter_table("job_outputs") as batch:
        batch.add_column(sa.Column("content", sa.LargeBinary(), nullable=True))
    bind = op.get_bind()
    app_jobs = sa.select(jobs.c.id).where(jobs.c.app_id.is_not(None))
    bind.execute(sa.delete(inputs).where(inputs.c.tracked.is_(False), inputs.c.job_id.in_(app_jobs)))
    bases = {(a, v): c or {} for a, v, c in bind.execute(sa.select(versions.c.app_id, versions.c.version,
                                                                   versions.c.config))}
    after = -1
    while True:
        rows = bind.execute(sa.select(jobs.c.seq, jobs.c.id, jobs.c.app_id, jobs.c.app_version, jobs.c.parameters)
                            .where(jobs.c.app_id.is_not(None), jobs.c.seq > after)
                            .order_by(jobs.c.seq).limit(BATCH)).all()
        if not rows:
            break
        after = rows[-1].seq
        changes = [{"b_id": r.id, "b_parameters": _lean(r.parameters or {}, bases[(r.app_id, r.app_version)])}
                   for r in rows if (r.app_id, r.app_version) in bases]
        if changes:
            bind.execute(sa.update(jobs).where(jobs.c.id == sa.bindparam("b_id"))
                         .values(parameters=sa.bindparam("b_parameters")), changes)


def downgrade() -> None:
    """Drops the inline outputs' column (their content goes with it); lean job rows stay as they are."""
    with op.batch_alter_table("job_outputs") as batch:
        batch.drop_column("content")
