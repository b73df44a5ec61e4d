"""Outbound fetches off the request thread pool, a few per tenant at a time.

A fetch of a user-supplied URL may take its whole timeout (a slow or silent host). Run on the
server's request thread pool (40 threads), sixty such fetches of one tenant hold every thread and
stall every other tenant's requests. `FetchPool.run` runs the blocking fetch in a thread of its
own, counted by a `CapacityLimiter` of its own (`total`), so the request thread pool stays free;
a request waiting for its fetch is a suspended coroutine, not a held thread. One tenant may have
at most `per_tenant` fetches in flight: one more raises `FetchBusy` at once (the caller answers
429), so one tenant cannot fill the fetch threads either.

The counts are per process (each API replica has its own).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")


class FetchBusy(Exception):
    """The tenant already has `in_flight` fetches running, its cap."""

    def __init__(self, tenant: str, in_flight: int) -> None:
        super().__init__(f"{tenant} has {in_flight} fetches in flight")
        self.tenant = tenant
        self.in_flight = in_flight


class FetchPool:
    """Runs blocking fetches in dedicated threads: at most `total` at once, `per_tenant` per tenant."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight: Counter[str] = Counter()
        self._limiter: anyio.CapacityLimiter | None = None

    def in_flight(self, tenant: str) -> int:
        with self._lock:
            return self._in_flight[tenant]

    async def run(self, tenant: str, fetch: Callable[[], T], *, total: int, per_tenant: int) -> T:
        """`fetch()` in a fetch thread; raises `FetchBusy` when `tenant` has `per_tenant` running."""
        with self._lock:
            if self._in_flight[tenant] >= per_tenant:
                raise FetchBusy(tenant, self._in_flight[tenant])
            self._in_flight[tenant] += 1
        try:
            return await anyio.to_thread.run_sync(fetch, limiter=self._capacity(total))
        finally:
            with self._lock:
                self._in_flight[tenant] -= 1
                if self._in_flight[tenant] <= 0:
                    del self._in_flight[tenant]

    def _capacity(self, total: int) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(total)  # created in the event loop that uses it
        elif self._limiter.total_tokens != total:
            self._limiter.total_tokens = total
        return self._limiter
