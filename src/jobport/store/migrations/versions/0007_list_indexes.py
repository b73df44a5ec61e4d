"""Lists that stay fast: an index for every list and filter of the three surfaces, and maintained
job counts (`job_counts`, `batch_counts`, kept by triggers on `jobs`) so that totals never count
the jobs table. See `store/counts.py` for how the triggers write on each database.

Indexes on `jobs` (every one ends with the list's tie-break, `seq`; a list reads one range per key
present in the counters, merged):
- `ix_jobs_org_type_status` (org_id, pipeline_type, status, created_at, seq), replacing
  `ix_jobs_org_created`: the native job list, by status and/or pipeline type or not;
- `ix_jobs_app_status` (app_id, status, surface, seq), replacing `ix_jobs_app_id`, and the same with
  created_at or completed_at before seq: the super.AI list in those sort orders, by status and by
  created / completed date range; Gravity's latest jobs;
- `ix_jobs_expires` (expires_at, only rows that have one): the jobs the lifecycle pass expires.
Others: `ix_inputs_leased` (inputs under a lease, by expiry: the lease reaper), `ix_progress_input`
(latest progress entry per input), `ix_apps_org_created` (the app list in order).

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NEW_INDEXES = [  # (name, table, columns, where-clause of a partial index)
    ("ix_jobs_org_type_status", "jobs", ["org_id", "pipeline_type", "status", "created_at", "seq"], None),
    ("ix_jobs_app_status", "jobs", ["app_id", "status", "surface", "seq"], None),
    ("ix_jobs_app_status_created", "jobs", ["app_id", "status", "surface", "created_at", "seq"], None),
    ("ix_jobs_app_status_completed", "jobs", ["app_id", "status", "surface", "completed_at", "seq"], None),
    ("ix_jobs_expires", "jobs", ["expires_at"], "expires_at IS NOT NULL"),
    ("ix_inputs_leased", "job_inputs", ["lease_expires_at"], "lease_expires_at IS NOT NULL"),
    ("ix_progress_input", "job_progress", ["input_id", "id"], None),
    ("ix_apps_org_created", "apps", ["org_id", "created_at", "id"], None),
]
REPLACED = [  # (name, table, columns): the indexes the new ones make redundant
    ("ix_jobs_org_created", "jobs", ["org_id", "created_at"]),
    ("ix_jobs_app_id", "jobs", ["app_id"]),
]

# The key of a job in job_counts / batch_counts, over a row named `r`.
_KEY = "r.org_id, coalesce(r.surface, ''), coalesce(r.app_id, ''), r.pipeline_type, r.status"
_JOB_COLUMNS = "org_id, surface, app_id, pipeline_type, status"

SQLITE_TRIGGERS = {
    "jobs_count_insert": """
CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
  {add_new}
END""",
    "jobs_count_update": f"""
CREATE TRIGGER jobs_count_update AFTER UPDATE OF {_JOB_COLUMNS}, batch_id ON jobs
WHEN OLD.status IS NOT NEW.status OR OLD.org_id IS NOT NEW.org_id OR OLD.surface IS NOT NEW.surface
  OR OLD.app_id IS NOT NEW.app_id OR OLD.pipeline_type IS NOT NEW.pipeline_type OR OLD.batch_id IS NOT NEW.batch_id
BEGIN
  {{remove_old}}
  {{add_new}}
END""",
    "jobs_count_delete": """
CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
  {remove_old}
END""",
}


def _sqlite_change(row: str, delta: int) -> str:
    key = _KEY.replace("r.", f"{row}.")
    return (f"INSERT INTO job_counts ({_JOB_COLUMNS}, n) VALUES ({key}, {delta}) "
            f"ON CONFLICT ({_JOB_COLUMNS}) DO UPDATE SET n = n + excluded.n;\n"
            f"  INSERT INTO batch_counts (batch_id, status, n) SELECT {row}.batch_id, {row}.status, {delta} "
            f"WHERE {row}.batch_id IS NOT NULL ON CONFLICT (batch_id, status) DO UPDATE SET n = n + excluded.n;")


# PostgreSQL: one statement trigger per operation; each appends the statement's net change per key,
# and every `OWN_FOLD_EVERY` statements of a transaction folds that transaction's own rows (their
# `tx`), which no other transaction can see or lock: a bulk INSERT that the driver sends row by row
# (psycopg's executemany) leaves a few rows, not one per job.
OWN_FOLD_EVERY = 256
PG_FOLD_OWN = """
CREATE FUNCTION jobport_fold_own_counts() RETURNS void LANGUAGE sql AS $$
  WITH moved AS (DELETE FROM job_counts WHERE tx = txid_current()
                 RETURNING org_id, surface, app_id, pipeline_type, status, n)
  INSERT INTO job_counts (org_id, surface, app_id, pipeline_type, status, n)
    SELECT org_id, surface, app_id, pipeline_type, status, sum(n) FROM moved GROUP BY 1, 2, 3, 4, 5
    HAVING sum(n) <> 0;
  WITH moved AS (DELETE FROM batch_counts WHERE tx = txid_current() RETURNING batch_id, status, n)
  INSERT INTO batch_counts (batch_id, status, n)
    SELECT batch_id, status, sum(n) FROM moved GROUP BY 1, 2 HAVING sum(n) <> 0;
$$"""
PG_FUNCTION = f"""
CREATE FUNCTION jobport_count_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  appended int := coalesce(nullif(current_setting('jobport.count_appends', true), ''), '0')::int + 1;
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO job_counts ({_JOB_COLUMNS}, n) SELECT {_KEY}, count(*) FROM new_rows r GROUP BY 1, 2, 3, 4, 5;
    INSERT INTO batch_counts (batch_id, status, n)
      SELECT r.batch_id, r.status, count(*) FROM new_rows r WHERE r.batch_id IS NOT NULL GROUP BY 1, 2;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO job_counts ({_JOB_COLUMNS}, n) SELECT {_KEY}, -count(*) FROM old_rows r GROUP BY 1, 2, 3, 4, 5;
    INSERT INTO batch_counts (batch_id, status, n)
      SELECT r.batch_id, r.status, -count(*) FROM old_rows r WHERE r.batch_id IS NOT NULL GROUP BY 1, 2;
  ELSE
    INSERT INTO job_counts ({_JOB_COLUMNS}, n)
      SELECT k1, k2, k3, k4, k5, sum(d) FROM (
        SELECT {_KEY}, -1 FROM old_rows r UNION ALL SELECT {_KEY}, 1 FROM new_rows r
      ) AS c (k1, k2, k3, k4, k5, d) GROUP BY 1, 2, 3, 4, 5 HAVING sum(d) <> 0;
    INSERT INTO batch_counts (batch_id, status, n)
      SELECT b, s, sum(d) FROM (
        SELECT r.batch_id, r.status, -1 FROM old_rows r WHERE r.batch_id IS NOT NULL
        UNION ALL SELECT r.batch_id, r.status, 1 FROM new_rows r WHERE r.batch_id IS NOT NULL
      ) AS c (b, s, d) GROUP BY 1, 2 HAVING sum(d) <> 0;
  END IF;
  IF appended >= {OWN_FOLD_EVERY} THEN
    PERFORM jobport_fold_own_counts();
    appended := 0;
  END IF;
  PERFORM set_config('jobport.count_appends', appended::text, true);
  RETURN NULL;
END $$"""
PG_TRIGGERS = {
    "jobs_count_insert": "AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_rows",
    "jobs_count_update": "AFTER UPDATE ON jobs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "jobs_count_delete": "AFTER DELETE ON jobs REFERENCING OLD TABLE AS old_rows",
}


def _create_counters(sqlite: bool) -> None:
    def tx() -> list[sa.Column]:  # PostgreSQL: the transaction that appended the row (it folds its own rows)
        return [] if sqlite else [sa.Column("tx", sa.BigInteger(), nullable=False,
                                            server_default=sa.text("txid_current()"))]

    op.create_table(
        "job_counts",
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("surface", sa.String(20), nullable=False),
        sa.Column("app_id", sa.String(36), nullable=False),
        sa.Column("pipeline_type", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        *tx(),
    )
    op.create_index("ix_job_counts_key", "job_counts", ["org_id", "surface", "app_id", "pipeline_type", "status"],
                    unique=sqlite)
    op.create_table(
        "batch_counts",
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        *tx(),
    )
    op.create_index("ix_batch_counts_key", "batch_counts", ["batch_id", "status"], unique=sqlite)
    if not sqlite:
        op.create_index("ix_job_counts_tx", "job_counts", ["tx"])
        op.create_index("ix_batch_counts_tx", "batch_counts", ["tx"])


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, table, _ in REPLACED:
        op.drop_index(name, table_name=table)
    for name, table, columns, where in NEW_INDEXES:
        partial = {"sqlite_where": sa.text(where), "postgresql_where": sa.text(where)} if where else {}
        op.create_index(name, table, columns, **partial)
    _create_counters(sqlite)
    # the triggers first (on PostgreSQL they lock out writers of jobs until this commits), then the counts so far
    if sqlite:
        parts = {"add_new": _sqlite_change("NEW", 1), "remove_old": _sqlite_change("OLD", -1)}
        for sql in SQLITE_TRIGGERS.values():
            op.execute(sql.format(**parts))
    else:
        op.execute(PG_FOLD_OWN)
        op.execute(PG_FUNCTION)
        for name, when in PG_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} FOR EACH STATEMENT EXECUTE FUNCTION jobport_count_jobs()")
    op.execute(f"INSERT INTO job_counts ({_JOB_COLUMNS}, n) SELECT {_KEY}, count(*) FROM jobs r "
               "GROUP BY r.org_id, coalesce(r.surface, ''), coalesce(r.app_id, ''), r.pipeline_type, r.status")
    op.execute("INSERT INTO batch_counts (batch_id, status, n) SELECT r.batch_id, r.status, count(*) FROM jobs r "
               "WHERE r.batch_id IS NOT NULL GROUP BY r.batch_id, r.status")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name in PG_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else " ON jobs"))
    if not sqlite:
        op.execute("DROP FUNCTION IF EXISTS jobport_count_jobs()")
        op.execute("DROP FUNCTION IF EXISTS jobport_fold_own_counts()")
    op.drop_table("batch_counts")
    op.drop_table("job_counts")
    for name, table, _, _ in NEW_INDEXES:
        op.drop_index(name, table_name=table)
    for name, table, columns in REPLACED:
        op.create_index(name, table, columns)
