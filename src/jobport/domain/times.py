"""Times: everything jobport stores is UTC. SQLite hands datetimes back naive, PostgreSQL aware;
`as_utc` makes both aware, `iso_utc` writes one as the API does (ISO 8601 ending in `Z`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def as_utc(value: datetime) -> datetime: ...


@overload
def as_utc(value: None) -> None: ...


def as_utc(value: datetime | None) -> datetime | None:
    """`value` as an aware UTC datetime (a naive one is taken to be UTC); None stays None."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@overload
def iso_utc(value: datetime) -> str: ...


@overload
def iso_utc(value: None) -> None: ...


def iso_utc(value: datetime | None) -> str | None:
    """`2024-05-01T12:00:00.123456Z`; None stays None."""
    if value is None:
        return None
    return as_utc(value).isoformat().replace("+00:00", "Z")
