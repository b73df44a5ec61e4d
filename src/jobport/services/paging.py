"""What a list use case returns: one page of items and the total count of the whole list; and the
upkeep of the job counters the totals come from (`store.counts`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from jobport.services.context import AppContext
from jobport.store import counts
from jobport.store.db import transaction

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int


def fold_counts(ctx: AppContext, unfolded: int, org_id: str | None = None, batch_ids: Sequence[str] = ()) -> None:
    """After a list read `unfolded` extra counter rows (PostgreSQL): past `count_fold_rows`, fold the
    org's (or the batches') counter rows into one per key, in a short transaction of its own."""
    if unfolded > ctx.settings.limits.count_fold_rows:
        with transaction(ctx.sessions) as session:
            counts.fold(session, org_id, batch_ids)
