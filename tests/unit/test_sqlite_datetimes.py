"""SQLite DATETIME columns bind through `FastDATETIME`: the text stored is the stock SQLAlchemy
text byte for byte (wall time, tzinfo ignored), and values read back equal what was written."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, insert, select, text
from sqlalchemy.dialects.sqlite import DATETIME

from jobport.store.db import make_engine
from jobport.store.sqlite_types import FastDATETIME

VALUES = [
    dt.datetime(2026, 12, 7, 23, 59, 1, 123, tzinfo=dt.UTC),
    dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),  # no microseconds: still six digits
    dt.datetime(999, 1, 1, 0, 0, 0, 999999),  # a naive one, and a three-digit year
    dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),  # the wall time is kept
]


def test_the_text_is_the_stock_text_and_reads_back(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("at", DateTime))
    table.metadata.create_all(engine)
    assert isinstance(table.c.at.type.dialect_impl(engine.dialect), FastDATETIME)
    stock = DATETIME().bind_processor(engine.dialect)
    shared = VALUES[0]
    rows = [{"id": i, "at": v} for i, v in enumerate([*VALUES, shared, shared, None])]
    with engine.begin() as conn:
        conn.execute(insert(table), rows)
        stored = [r[0] for r in conn.execute(text("SELECT at FROM t ORDER BY id"))]
        read = [r[0] for r in conn.execute(select(table.c.at).order_by(table.c.id))]
    assert stored == [stock(r["at"]) for r in rows]
    assert stored[0] == "2026-12-07 23:59:01.000123" and stored[2] == "0999-01-01 00:00:00.999999"
    assert read == [None if r["at"] is None else r["at"].replace(tzinfo=None) for r in rows]
