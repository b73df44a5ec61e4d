"""Maintained job counts, so that list totals and pages never count the jobs table.

`job_counts` holds how many jobs there are per (org, surface, app, pipeline type, status) and
`batch_counts` per (batch, status). Database triggers on `jobs` (migration 0007) keep them right
whatever code path inserts, moves or deletes a job (`''` stands for no surface / no app):

- **SQLite** (one writer at a time): row triggers add ±1 to the key's one row (UPSERT).
- **PostgreSQL**: statement triggers append one row per key a statement changed, with the net
  change. Writers only ever INSERT rows there (and fold their own transaction's rows, which no one
  else sees, every 256 statements: psycopg sends a bulk INSERT row by row), so concurrent
  transactions never wait for, or deadlock on, a counter row. A key's count is the sum of its rows,
  read in one statement (one snapshot); `fold` replaces an org's rows by one row per key, and runs
  when a list read met more than `count_fold_rows` extra rows.

The readers here also say which keys have jobs at all: the lists use that to split a filter into
one index range per present key (see `store.jobs`)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, Index, String, Table, delete, func, insert, select, text
from sqlalchemy.orm import Session

from jobport.store.tables import Base

NONE = ""  # the key value of a job without surface or app
_FOLD_LOCK_KEY = 0x6A6F62636E74  # a PostgreSQL advisory lock key of its own: one fold at a time

job_counts = Table(
    "job_counts", Base.metadata,
    Column("org_id", String(64), nullable=False),
    Column("surface", String(20), nullable=False),
    Column("app_id", String(36), nullable=False),
    Column("pipeline_type", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("n", BigInteger, nullable=False),
    # unique on SQLite (its triggers UPSERT); plain on PostgreSQL (its triggers append)
    Index("ix_job_counts_key", "org_id", "surface", "app_id", "pipeline_type", "status"),
)

batch_counts = Table(
    "batch_counts", Base.metadata,
    Column("batch_id", String(36), nullable=False),
    Column("status", String(20), nullable=False),
    Column("n", BigInteger, nullable=False),
    Index("ix_batch_counts_key", "batch_id", "status"),
)

KEY = ("surface", "app_id", "pipeline_type", "status")


@dataclass(frozen=True)
class Counted:
    """Job counts of an org by key (surface, app_id, pipeline_type, status), only keys with jobs;
    `extra_rows`: counter rows read beyond one per key (PostgreSQL appends, not yet folded)."""

    by_key: dict[tuple[str, str, str, str], int]
    extra_rows: int

    @property
    def total(self) -> int:
        return sum(self.by_key.values())

    def values(self, column: str) -> list[str]:
        """The values of one key column that have jobs, in order."""
        i = KEY.index(column)
        return sorted({key[i] for key in self.by_key})

    def combos(self, *columns: str) -> list[tuple[str, ...]]:
        index = [KEY.index(c) for c in columns]
        return sorted({tuple(key[i] for i in index) for key in self.by_key})


def counted(session: Session, org_id: str, *, surface: str | None = None, app_id: str | None = None,
            pipeline_type: str | None = None, statuses: Collection[str] | None = None) -> Counted:
    """The org's job counts per key, narrowed by the given key values (`surface`/`app_id`: a name,
    or `NONE` for jobs without one; None: any)."""
    c = job_counts.c
    query = (select(c.surface, c.app_id, c.pipeline_type, c.status, func.sum(c.n), func.count())
             .where(c.org_id == org_id).group_by(c.surface, c.app_id, c.pipeline_type, c.status))
    if surface is not None:
        query = query.where(c.surface == surface)
    if app_id is not None:
        query = query.where(c.app_id == app_id)
    if pipeline_type is not None:
        query = query.where(c.pipeline_type == pipeline_type)
    if statuses is not None:
        query = query.where(c.status.in_(list(statuses)))
    by_key: dict[tuple[str, str, str, str], int] = {}
    extra = 0
    for s, a, t, status, n, rows in session.execute(query):
        extra += int(rows) - 1
        if n:
            by_key[(s, a, t, status)] = int(n)
    return Counted(by_key, extra)


def batch_status_counts(session: Session, batch_ids: Sequence[str], statuses: Collection[str] | None = None
                        ) -> tuple[dict[str, dict[str, int]], int]:
    """{batch id: {status: jobs}} (statuses with jobs only) and the extra rows read (as `counted`)."""
    if not batch_ids:
        return {}, 0
    c = batch_counts.c
    query = (select(c.batch_id, c.status, func.sum(c.n), func.count()).where(c.batch_id.in_(list(batch_ids)))
             .group_by(c.batch_id, c.status))
    if statuses is not None:
        query = query.where(c.status.in_(list(statuses)))
    out: dict[str, dict[str, int]] = {}
    extra = 0
    for batch_id, status, n, rows in session.execute(query):
        extra += int(rows) - 1
        if n:
            out.setdefault(batch_id, {})[status] = int(n)
    return out, extra


def fold(session: Session, org_id: str | None = None, batch_ids: Sequence[str] = ()) -> bool:
    """PostgreSQL: replace the counter rows of `org_id` (and of `batch_ids`) by one row per key, in
    one statement each; skipped (False) while another session folds. SQLite keeps one row per key
    already: nothing to do."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    if not session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _FOLD_LOCK_KEY}):
        return False
    if org_id is not None:
        _fold(session, job_counts, ("org_id", *KEY), job_counts.c.org_id == org_id)
    if batch_ids:
        _fold(session, batch_counts, ("batch_id", "status"), batch_counts.c.batch_id.in_(list(batch_ids)))
    return True


def _fold(session: Session, table: Table, key: Sequence[str], where) -> None:
    moved = delete(table).where(where).returning(*table.c).cte("moved")
    summed = (select(*(moved.c[k] for k in key), func.sum(moved.c.n))
              .group_by(*(moved.c[k] for k in key)).having(func.sum(moved.c.n) != 0))
    # the CTE at the top of the statement: PostgreSQL allows a data-modifying WITH only there
    session.execute(insert(table).add_cte(moved).from_select([*key, "n"], summed))
