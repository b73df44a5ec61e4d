"""Per-process upper bounds of each org's quota usage, so that a create far below its quotas
does not count the org's queued jobs and pending inputs again.

A bound is the usage a count in the database found, plus everything this process admitted
since. Jobs that end only lower the real usage, so within one process the bound is never below
it: a create that fits under the bound fits under the real usage, and one that does not is
decided on a fresh count, exactly as without bounds. A bound is used for at most
`quota_usage_cache_seconds` after its count; paths that raise usage without a create (queueing
parked jobs, restarting jobs) drop the org's bounds. What other replicas admitted since this
process counted is not in its bound: N API replicas together may pass a quota by what the others
admitted within that window (documented in docs/operations.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bound:
    used: int
    counted_at: float


class QuotaUsage:
    """Upper bounds of usage by (org, quota name), see the module."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._bounds: dict[tuple[str, str], _Bound] = {}

    def admit(self, org_id: str, name: str, allowed: int, adding: int, max_age: float,
              count: Callable[[], int]) -> int | None:
        """Admit `adding` more under `allowed`: None when admitted (and added to the bound), else the
        usage a fresh `count()` found, which leaves no room for them."""
        key = (org_id, name)
        with self._lock:
            bound = self._bounds.get(key)
            if (bound is not None and max_age > 0 and self._clock() - bound.counted_at <= max_age
                    and bound.used + adding <= allowed):
                bound.used += adding
                return None
        counted_at = self._clock()
        used = count()
        with self._lock:
            if used + adding > allowed:
                self._bounds[key] = _Bound(used, counted_at)
                return used
            self._bounds[key] = _Bound(used + adding, counted_at)
            return None

    def forget(self, org_id: str) -> None:
        """Drop the org's bounds: its usage rose by a path that is not a create."""
        with self._lock:
            for key in [k for k in self._bounds if k[0] == org_id]:
                del self._bounds[key]
