"""Limits with explanations: request rates per API key and per org, quotas of an org's queued or
running jobs and of their pending inputs, and the cap of an org's inputsFileUrl fetches in flight.

- **Rates** are token buckets (`quota_*_requests_per_second` refill, `quota_*_request_burst`
  size), one per key and one per org, kept in this process's memory: each API replica counts on
  its own, so N replicas let N times the rate through. A request takes one token from both or,
  refused, from neither.
- **Quotas** are checked when jobs are created, in the create's transaction (`admit_drafts`):
  queued or running jobs (every status but PARKED and the terminal ones) and their pending
  inputs, counted in the database, so every replica sees the same usage. Two creates racing may
  pass a quota by their own size. A create far below both quotas is admitted on this process's
  upper bound of the usage (`quota_usage.QuotaUsage`, at most `quota_usage_cache_seconds` old)
  instead of counting again.
- **Fetches** (`fetch_off_pool`): at most `fetch_max_per_org` of an org's inputsFileUrl fetches run
  at once, in threads of their own (`outbound.FetchPool`), never on the request thread pool.

Every setting can be overridden for one org (`set_org_limits`, table `org_limits`); a server
process reads an org's overrides again at most `OVERRIDES_TTL_SECONDS` after it last did. A limit
that refuses raises `LimitExceeded`: the surfaces answer 429 in their own error format with
`Retry-After`, which limit, the current usage and when it resets. `report` is what
`GET /v0.5/usage/limits` shows.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio.to_thread

from jobport.domain.errors import Invalid, NotFound
from jobport.domain.statuses import TERMINAL, JobStatus
from jobport.outbound import FetchBusy, FetchPool
from jobport.services.quota_usage import QuotaUsage
from jobport.store import limits as limit_store
from jobport.store import orgs
from jobport.store.db import transaction

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from jobport.services.context import AppContext
    from jobport.services.jobs.draft import JobDraft

T = TypeVar("T")
QUOTA_STATUSES = frozenset(s.value for s in JobStatus if s not in TERMINAL and s is not JobStatus.PARKED)
QUOTA_RETRY_SECONDS = 30  # a quota frees up as jobs end: when, nobody knows; look again in this long
OVERRIDES_TTL_SECONDS = 5.0
_MAX_IDLE_BUCKETS = 10_000


@dataclass(frozen=True)
class Limit:
    """One limit as the caller sees it: the setting that sets it, what it allows, what is used."""

    name: str  # the setting (environment name without JOBPORT_), e.g. quota_key_requests_per_second
    scope: Literal["key", "org"]
    allowed: float
    used: float
    resets_at: datetime | None  # rates: when the bucket is full again; quotas: None (as jobs end)
    unit: str

    @property
    def remaining(self) -> float:
        return max(0.0, self.allowed - self.used)

    def public(self) -> dict[str, Any]:
        return {"limit": self.name, "scope": self.scope, "unit": self.unit, "allowed": _number(self.allowed),
                "used": _number(self.used), "remaining": _number(self.remaining),
                "resets_at": self.resets_at.isoformat().replace("+00:00", "Z") if self.resets_at else None}


class LimitExceeded(Exception):
    """A request over a limit (answered 429): which limit, its usage, when to retry."""

    def __init__(self, limit: Limit, retry_after: float, message: str, suggestion: str,
                 code: str = "rate_limited") -> None:
        super().__init__(message)
        self.code = code  # rate_limited | quota_exceeded | too_many_fetches
        self.limit = limit
        self.retry_after = max(1, math.ceil(retry_after))
        self.message = message
        self.suggestion = suggestion


@dataclass(frozen=True)
class OrgLimits:
    """The limits that apply to one org: the settings, with the org's overrides."""

    key_requests_per_second: float
    key_request_burst: int
    org_requests_per_second: float
    org_request_burst: int
    concurrent_jobs: int
    queued_inputs: int
    fetch_max_per_org: int


class TokenBuckets:
    """Token buckets by name; `take` takes one token from each named bucket, or from none."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._levels: dict[str, tuple[float, float, float]] = {}  # name -> (tokens, at, full again at)
        self._next_sweep = 0.0

    def take(self, buckets: Sequence[tuple[str, float, int]]) -> tuple[int, float] | None:
        """Each bucket is (name, rate per second, size). None when a token was taken from each;
        else (index of the first empty bucket, seconds until it holds a token)."""
        with self._lock:
            now = self._clock()
            levels = [self._level(name, rate, size, now) for name, rate, size in buckets]
            for i, tokens in enumerate(levels):
                if tokens < 1:
                    return i, (1 - tokens) / buckets[i][1]
            for (name, rate, size), tokens in zip(buckets, levels, strict=True):
                self._levels[name] = (tokens - 1, now, now + (size - tokens + 1) / rate)
            if len(self._levels) > _MAX_IDLE_BUCKETS and now >= self._next_sweep:
                self._forget_full(now)
            return None

    def tokens(self, name: str, rate: float, size: int) -> float:
        with self._lock:
            return self._level(name, rate, size, self._clock())

    def _level(self, name: str, rate: float, size: int, now: float) -> float:
        tokens, at, _ = self._levels.get(name, (float(size), now, now))
        return min(float(size), tokens + (now - at) * rate)

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that are full again (a fresh bucket starts full: nothing is lost)."""
        self._levels = {name: level for name, level in self._levels.items() if level[2] > now}
        self._next_sweep = now + 10.0


@dataclass
class LimitState:
    """What one server process counts: request buckets, fetches in flight, cached overrides."""

    buckets: TokenBuckets = field(default_factory=TokenBuckets)
    fetches: FetchPool = field(default_factory=FetchPool)
    overrides: dict[str, tuple[float, dict[str, float | int]]] = field(default_factory=dict)  # org -> (until, set)
    usage: QuotaUsage = field(default_factory=QuotaUsage)  # upper bounds of each org's quota usage


def org_limits(ctx: AppContext, org_id: str) -> OrgLimits:
    """The settings with the org's overrides (read from the database at most every few seconds)."""
    found = cached_org_limits(ctx, org_id)
    if found is not None:
        return found
    with ctx.sessions() as session:
        read = limit_store.overrides(session, org_id)
    ctx.limit_state.overrides[org_id] = (time.monotonic() + OVERRIDES_TTL_SECONDS, read)
    return _with_overrides(ctx, read)


def cached_org_limits(ctx: AppContext, org_id: str) -> OrgLimits | None:
    """`org_limits` when it needs no database read (the org's overrides were read lately), else None."""
    cached = ctx.limit_state.overrides.get(org_id)
    if cached is None or cached[0] < time.monotonic():
        return None
    return _with_overrides(ctx, cached[1])


def _with_overrides(ctx: AppContext, overrides: dict[str, float | int]) -> OrgLimits:
    q = ctx.settings.quotas
    base = OrgLimits(q.key_requests_per_second, q.key_request_burst, q.org_requests_per_second,
                     q.org_request_burst, q.concurrent_jobs, q.queued_inputs, ctx.settings.fetch.max_per_org)
    return replace(base, **overrides)  # type: ignore[arg-type]


def _rate_buckets(limits: OrgLimits, org_id: str, key: str) -> list[tuple[str, float, int, str, Literal["key", "org"]]]:
    """(bucket, rate, size, setting, scope) of the rate limits that are on."""
    buckets: list[tuple[str, float, int, str, Literal["key", "org"]]] = []
    if limits.key_requests_per_second > 0:
        buckets.append((f"key:{key}", limits.key_requests_per_second, limits.key_request_burst,
                        "quota_key_requests_per_second", "key"))
    if limits.org_requests_per_second > 0:
        buckets.append((f"org:{org_id}", limits.org_requests_per_second, limits.org_request_burst,
                        "quota_org_requests_per_second", "org"))
    return buckets


def _rate_limit(state: LimitState, bucket: tuple[str, float, int, str, Literal["key", "org"]]) -> Limit:
    name, rate, size, setting, scope = bucket
    tokens = state.buckets.tokens(name, rate, size)
    full_in = (size - tokens) / rate
    return Limit(setting, scope, float(size), size - tokens, datetime.now(UTC) + timedelta(seconds=full_in),
                 f"requests (bucket of {size}, refilled at {_number(rate)}/s)")


def check_request_rate(ctx: AppContext, org_id: str, key: str, applying: OrgLimits | None = None) -> None:
    """Count one request of the key `key` (its id) of `org_id`, under `applying` (default: the
    org's `org_limits`); raises `LimitExceeded` over a rate."""
    buckets = _rate_buckets(applying or org_limits(ctx, org_id), org_id, key)
    refused = ctx.limit_state.buckets.take([(name, rate, size) for name, rate, size, _, _ in buckets])
    if refused is None:
        return
    index, wait = refused
    limit = _rate_limit(ctx.limit_state, buckets[index])
    who = "this API key" if limit.scope == "key" else "the keys of this org together"
    raise LimitExceeded(
        limit, wait, f"too many requests: {who} may make {_number(buckets[index][1])} requests per second "
                     f"(bursts of {buckets[index][2]}), limit {limit.name}",
        f"Retry after {max(1, math.ceil(wait))} s and send requests more evenly; an operator can raise the limit "
        f"for your org (jobport limits set).")


async def fetch_off_pool(ctx: AppContext, org_id: str, fetch: Callable[[], T]) -> T:
    """`fetch()` (a blocking fetch of a user-supplied URL) in a fetch thread; `LimitExceeded` when the
    org already has `fetch_max_per_org` fetches in flight in this process."""
    cap = (await anyio.to_thread.run_sync(org_limits, ctx, org_id)).fetch_max_per_org
    try:
        return await ctx.limit_state.fetches.run(org_id, fetch, total=ctx.settings.fetch.max_concurrent,
                                                 per_tenant=cap)
    except FetchBusy as busy:
        timeout = ctx.settings.fetch.timeout_seconds
        limit = Limit("fetch_max_per_org", "org", cap, busy.in_flight,
                      datetime.now(UTC) + timedelta(seconds=timeout), "inputsFileUrl fetches in flight")
        raise LimitExceeded(
            limit, timeout, f"too many inputsFileUrl fetches: this org already has {busy.in_flight} in flight, "
                            f"the most it may have at once (limit fetch_max_per_org)",
            f"Retry once one of them has answered (each takes at most {timeout:g} s), or send the inputs "
            "inline.", "too_many_fetches") from None


def admit_drafts(ctx: AppContext, session: Session, drafts: Sequence[JobDraft]) -> None:
    """Check the org's job quotas before `drafts` are saved (parked drafts do not count); raises
    `LimitExceeded` when they would pass one."""
    queued = [d for d in drafts if d.status is not JobStatus.PARKED]
    if not queued:
        return
    org_id = queued[0].org_id
    limits = org_limits(ctx, org_id)
    usage, max_age = ctx.limit_state.usage, ctx.settings.quotas.usage_cache_seconds
    if limits.concurrent_jobs:
        used = usage.admit(org_id, "concurrent_jobs", limits.concurrent_jobs, len(queued), max_age,
                           lambda: limit_store.jobs_in_statuses(session, org_id, QUOTA_STATUSES))
        if used is not None:
            _check_quota(Limit("quota_concurrent_jobs", "org", limits.concurrent_jobs, used, None,
                               "queued or running jobs"), len(queued))
    if limits.queued_inputs:
        adding = sum(1 for d in queued for i in d.inputs if i.tracked)
        used = usage.admit(org_id, "queued_inputs", limits.queued_inputs, adding, max_age,
                           lambda: limit_store.pending_inputs(session, org_id, QUOTA_STATUSES,
                                                              limits.queued_inputs + 1))
        if used is not None:
            _check_quota(Limit("quota_queued_inputs", "org", limits.queued_inputs, used, None,
                               "pending inputs of queued or running jobs"), adding)


def _check_quota(limit: Limit, adding: int) -> None:
    if limit.used + adding <= limit.allowed:
        return
    raise LimitExceeded(
        limit, QUOTA_RETRY_SECONDS,
        f"quota reached: this org has {_number(limit.used)} {limit.unit} of the {_number(limit.allowed)} it may "
        f"have (limit {limit.name}); this request would add {adding}",
        "Wait for some jobs to end (or cancel some) and retry, or send fewer at once; an operator can raise the "
        "quota for your org (jobport limits set).", "quota_exceeded")


def report(ctx: AppContext, org_id: str, key: str) -> list[Limit]:
    """Every limit that applies to the caller (`key`: its key's id) and its current usage."""
    limits = org_limits(ctx, org_id)
    shown = [_rate_limit(ctx.limit_state, bucket) for bucket in _rate_buckets(limits, org_id, key)]
    with ctx.sessions() as session:
        if limits.concurrent_jobs:
            shown.append(Limit("quota_concurrent_jobs", "org", limits.concurrent_jobs,
                               limit_store.jobs_in_statuses(session, org_id, QUOTA_STATUSES), None,
                               "queued or running jobs"))
        if limits.queued_inputs:
            shown.append(Limit("quota_queued_inputs", "org", limits.queued_inputs,
                               limit_store.pending_inputs(session, org_id, QUOTA_STATUSES, limits.queued_inputs),
                               None, "pending inputs of queued or running jobs"))
    shown.append(Limit("fetch_max_per_org", "org", limits.fetch_max_per_org,
                       ctx.limit_state.fetches.in_flight(org_id), None, "inputsFileUrl fetches in flight"))
    return shown


OVERRIDABLE = tuple(f.name for f in fields(OrgLimits))


def set_org_limits(ctx: AppContext, org_ref: str, values: dict[str, float | int | None]) -> dict[str, float | int]:
    """Set (a number) or clear (None) overrides of the org named or numbered `org_ref`; returns the
    overrides now set. This process sees them at once, other processes within a few seconds."""
    unknown = sorted(set(values) - set(OVERRIDABLE))
    if unknown:
        raise Invalid(f"not a per-org limit: {', '.join(unknown)}", field="limit",
                      suggestion=f"Use one of {', '.join(OVERRIDABLE)}.")
    with transaction(ctx.sessions) as session:
        org = orgs.find_org(session, org_ref)
        if org is None:
            raise NotFound(f"no org is called {org_ref!r}", field="org", suggestion="List them with `jobport orgs`.")
        now_set = limit_store.set_overrides(session, org.id, values)
        org_id = org.id
    ctx.limit_state.overrides.pop(org_id, None)
    return now_set


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 3)
