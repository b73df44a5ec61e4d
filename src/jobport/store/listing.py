"""Paging helpers shared by the repositories' lists: bounded counts and merged index ranges.

- **Bounded totals.** A total that no maintained counter answers (a text search, a date range, the
  inputs of one job...) is counted up to a cap (`search_count_max`, `list_count_max`) and no
  further: exact up to the cap; above it, at least the cap and always more than the rows up to the end of the page when
  more rows follow, so a client walking the pages by `total` (or super.AI `pages`) reaches the end,
  where the total is exact again (offset + the last page's rows).
- **Merged ranges.** A filter that matches several keys of an index (statuses `IN (...)`, every
  surface of an org) is read as one index range per key, each in the list's order, merged by the
  database: SQLite merges a compound `UNION ALL ... ORDER BY` as it streams; PostgreSQL gets each
  range limited to offset + limit rows and merges them (Merge Append). Only the keys are read
  there (an index-only scan where the filter allows); the page's rows are then fetched by primary
  key. The keys present come from the job counters, so a range is read only where jobs are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, literal_column, or_, select, text, true, union_all
from sqlalchemy.orm import Session

DEFAULT_COUNT_MAX = 10_000  # the default of the setting `list_count_max`


def walk_in_order(session: Session) -> None:
    """For the rest of this read transaction, PostgreSQL reads lists by walking their index in order,
    in this process. Before a filter whose share of rows it can only guess (a substring, a JSON
    tag), it may otherwise read the whole table and sort it, when its guess is that few rows match
    (seen at 20,000 jobs where every job matched), or start parallel workers for the walk (~15 ms
    before the first row). SQLite: nothing to do."""
    if session.get_bind().dialect.name == "postgresql":
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            session.execute(text(f"SET LOCAL {setting} = off"))
        session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))


def count_upto(session: Session, query: Select[Any], cap: int, order: Sequence[ColumnElement[Any]] = ()) -> int:
    """Rows of `query` (any select), counted up to cap + 1. On PostgreSQL in the list's `order`: it
    then walks the list's index and stops, where it might read every match into a bitmap first
    (SQLite stops any scan at the LIMIT; an ORDER BY could only make it sort)."""
    if order and session.get_bind().dialect.name != "sqlite":
        query = query.order_by(*order)
    return int(session.scalar(select(func.count()).select_from(query.limit(cap + 1).subquery())) or 0)


def count_merged(session: Session, key: ColumnElement[Any], where: Sequence[ColumnElement[bool]],
                 arms: Sequence[Sequence[ColumnElement[bool]]], order: Sequence[ColumnElement[Any]],
                 descending: bool, cap: int) -> int:
    """`count_upto` of the rows `merged_keys` pages through: each range walked in order up to cap + 1."""
    if not arms:
        return 0
    ordered = [c.desc() if descending else c.asc() for c in order]
    if len(arms) == 1 or session.get_bind().dialect.name == "sqlite":
        matching = or_(*(and_(true(), *arm) for arm in arms))
        return count_upto(session, select(key).where(*where, matching), cap, ordered)
    parts = [select(key.label("k")).where(*where, *arm).order_by(*ordered).limit(cap + 1) for arm in arms]
    counted = session.scalar(select(func.count()).select_from(union_all(*parts).subquery()))
    return min(int(counted or 0), cap + 1)


def bounded_total(counted: int, cap: int, offset: int, shown: int, more: bool) -> int:
    """The total a list reports from a count made with `count_upto(cap)` (see the module docstring)
    and its page (`shown` rows from `offset`, `more` after them)."""
    if not more and shown:
        return offset + shown  # the page reaches the end
    if counted <= cap:
        return counted
    return max(cap, offset + shown + 1) if more else cap  # an empty page past the end: at least the cap


def paged(session: Session, query: Select[Any], order: Sequence[ColumnElement[Any]], offset: int, limit: int,
          cap: int) -> tuple[list[Any], int]:
    """One page of `query` (a select of one entity) in `order`, with its bounded total."""
    rows = list(session.scalars(query.order_by(*order).offset(offset).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    if not more and (rows or offset == 0):
        return rows, offset + len(rows)  # the page reaches the end: the total is known exactly
    return rows, bounded_total(count_upto(session, query, cap, order), cap, offset, len(rows), more)


def merged_keys(session: Session, key: ColumnElement[Any], where: Sequence[ColumnElement[bool]],
                arms: Sequence[Sequence[ColumnElement[bool]]], order: Sequence[ColumnElement[Any]],
                descending: bool, offset: int, limit: int) -> list[Any]:
    """Values of `key` (the primary key) of rows offset .. offset + limit of the rows matching `where`
    and any one of `arms` (each a list of conditions, e.g. one status), in `order` (ending with a
    unique column) all ascending or all descending."""
    if not arms:
        return []
    def direction(column: ColumnElement[Any]) -> ColumnElement[Any]:
        return column.desc() if descending else column.asc()

    if len(arms) == 1:
        query = select(key).where(*where, *arms[0]).order_by(*(direction(c) for c in order))
        return list(session.scalars(query.offset(offset).limit(limit)))
    labels = [c.label(f"k{i}") for i, c in enumerate(order)]
    selected = labels if any(c is key for c in order) else [*labels, key.label("k_key")]
    parts = [select(*selected).where(*where, *arm) for arm in arms]
    if session.get_bind().dialect.name != "sqlite":
        parts = [p.order_by(*(direction(c) for c in order)).limit(offset + limit) for p in parts]
    merged = union_all(*parts).order_by(*(direction(literal_column(label.name)) for label in labels))
    key_index = next((i for i, c in enumerate(order) if c is key), len(labels))
    return [row[key_index] for row in session.execute(merged.offset(offset).limit(limit))]
