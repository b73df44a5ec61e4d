"""A job's input progress over time (Archetype `GET /batch/jobs/{id}/inputs/progress/traces`).

The time from the job's start (its creation if it has not started) to its newest event or
progress entry (`latest_event_at`) is cut into `buckets` equal buckets (clamped to 10..1000). Each
point is the state at its bucket's end, counted from the stored rows: the tracked inputs completed
and failed by then (`files`); per progress kind, the items that succeeded and failed (`items`: an
input's latest `items_processed`, then the `items` / `failed_items` of its `<kind>.success` event
once it finished); and the step of the latest progress entry (`step`). The traces change only when
an event or a progress entry is added, so their ETag is the job's status and its newest event and
progress ids: a client polling with `If-None-Match` gets a 304 without them being read again.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jobport.domain.statuses import InputStatus
from jobport.domain.times import as_utc, iso_utc
from jobport.services.context import AppContext
from jobport.services.jobs.control import owned
from jobport.store import traces as trace_store

BUCKETS_DEFAULT, BUCKETS_MIN, BUCKETS_MAX = 100, 10, 1000


def clamp_buckets(buckets: int | None) -> int:
    return min(BUCKETS_MAX, max(BUCKETS_MIN, BUCKETS_DEFAULT if buckets is None else buckets))


@dataclass(frozen=True)
class Traces:
    """The traces' wire body (`body`, None when the caller's `If-None-Match` already has them) and ETag."""

    etag: str
    body: dict[str, Any] | None


@dataclass
class _Buckets:
    """Per-bucket changes, summed into points at the end."""

    start: datetime
    end: datetime
    count: int
    completed: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    steps: list[str | None] = field(default_factory=list)
    items: dict[str, list[list[int]]] = field(default_factory=dict)  # kind -> per bucket [success, failed]

    def __post_init__(self) -> None:
        self.completed, self.failed, self.steps = [0] * self.count, [0] * self.count, [None] * self.count

    @property
    def width(self) -> float:
        """Seconds per bucket."""
        return (self.end - self.start).total_seconds() / self.count

    def end_of(self, k: int) -> datetime:
        return self.end if k == self.count - 1 else self.start + timedelta(seconds=self.width * (k + 1))

    def index(self, at: datetime | None) -> int:
        """The first bucket whose end is at or after `at`."""
        moment = as_utc(at)
        if moment is None or self.width <= 0:
            return self.count - 1
        offset = (moment - self.start).total_seconds() / self.width
        return min(self.count - 1, max(0, math.ceil(offset) - 1))

    def add_items(self, kind: str, at: datetime, success: int, failed: int) -> None:
        per_bucket = self.items.setdefault(kind, [[0, 0] for _ in range(self.count)])
        k = self.index(at)
        per_bucket[k][0] += success
        per_bucket[k][1] += failed

    def points(self) -> list[dict[str, Any]]:
        done = failed = 0
        step: str | None = None
        totals = {kind: [0, 0] for kind in self.items}
        points = []
        for k in range(self.count):
            done, failed = done + self.completed[k], failed + self.failed[k]
            step = self.steps[k] or step
            for kind, per_bucket in self.items.items():
                totals[kind][0] += per_bucket[k][0]
                totals[kind][1] += per_bucket[k][1]
            points.append({"t": iso_utc(self.end_of(k)), "step": step,
                           "files": {"completed": done, "failed": failed},
                           "items": {kind: {"success": s, "failed": f} for kind, (s, f) in totals.items()}})
        return points


def _etag(*parts: object) -> str:
    return '"' + hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32] + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an `If-None-Match` header names `etag` (or `*`); weak validators compare too."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


def input_traces(ctx: AppContext, org_id: str, job_id: str, buckets: int | None, if_none_match: str | None = None,
                 app_id: str | None = None) -> Traces:
    """The job's traces in `buckets` buckets (404 for a job the caller may not see)."""
    count = clamp_buckets(buckets)
    with ctx.sessions() as session:
        job = owned(session, org_id, job_id, app_id)
        event_id, progress_id, latest = trace_store.fingerprint(session, job.id)
        etag = _etag(job.id, job.status, event_id, progress_id, count)
        if matches(if_none_match, etag):
            return Traces(etag, None)
        start = as_utc(job.started_at or job.created_at)
        assert start is not None
        end = max(start, as_utc(latest) or start)
        span = (end - start).total_seconds()
        grid = _Buckets(start, end, count if span > 0 else 1)
        _count_files(grid, trace_store.finished_inputs(session, job.id))
        _count_items(grid, trace_store.progress_entries(session, job.id), trace_store.success_events(session, job.id))
    return Traces(etag, {"job_id": job.id, "bucket_seconds": round(grid.width, 6),
                         "latest_event_at": iso_utc(latest), "points": grid.points()})


def _count_files(grid: _Buckets, inputs: Iterable[tuple[str, datetime | None]]) -> None:
    for status, completed_at in inputs:
        k = grid.index(completed_at)
        if status == InputStatus.COMPLETED.value:
            grid.completed[k] += 1
        else:
            grid.failed[k] += 1


def _count_items(grid: _Buckets, progress: Iterable[tuple[str | None, str, str, dict[str, Any], datetime]],
                 successes: Iterable[tuple[str | None, str, dict[str, Any] | None, datetime]]) -> None:
    """Items per kind: each input's progress as it grew, then what its success event reports."""
    processed: dict[tuple[str | None, str], int] = {}
    for input_id, kind, step, metrics, at in progress:
        now = _count(metrics.get("items_processed") if isinstance(metrics, dict) else 0)
        before = processed.get((input_id, kind), 0)
        processed[(input_id, kind)] = now
        grid.add_items(kind, at, now - before, 0)
        grid.steps[grid.index(at)] = step
    for input_id, event_type, payload, at in successes:
        kind = event_type.rsplit(".", 1)[0]
        values = payload if isinstance(payload, dict) else {}
        items = _count(values.get("items"))
        grid.add_items(kind, at, items - processed.pop((input_id, kind), 0), _count(values.get("failed_items")))


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
