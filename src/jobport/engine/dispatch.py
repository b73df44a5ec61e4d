"""Dispatch planning: which queued jobs get how many inputs leased in one scheduler pass, and which
of them travel in chunks. Pure functions over what the scheduler read; `scheduler._dispatch` runs
the plan (lease, status moves, tasks) and `chunk_units` packs the leased tasks.

Rules, in queue order (priority, then age):
- a job gets up to `parallelism` inputs in flight; each input of a regular job takes one executor
  slot;
- a small job (at most `chunk_max_records` records, e.g. a super.AI job) joins the open chunk of its
  worker key, which takes one slot for up to `chunk_size` inputs; a full chunk opens the next one;
- a chunk that is not full waits while its oldest job has been queued less than `chunk_linger`
  seconds (jobs created one request at a time then still travel together): its slot stays free and
  the plan says when to look again;
- jobs whose last chunk died with its worker go alone (`solo`), so one record that kills workers
  never takes its neighbours down with it again.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from jobport.engine.messages import Task, TaskChunk, Unit
from jobport.store.jobs import RunnableJob


@dataclass(frozen=True)
class ChunkRules:
    size: int = 256
    max_records: int = 64
    linger_seconds: float = 0.005

    def is_small(self, job: RunnableJob) -> bool:
        return self.size > 1 and job.record_count is not None and job.record_count <= self.max_records


@dataclass
class DispatchPlan:
    wants: dict[str, int] = field(default_factory=dict)  # inputs to lease, by job id
    chunked: set[str] = field(default_factory=set)  # jobs whose inputs travel in chunks
    recheck_in: float | None = None  # seconds until a lingering chunk may go


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def plan_dispatch(jobs: Sequence[RunnableJob], in_flight: Mapping[str, int], free: int, rules: ChunkRules,
                  now: datetime, solo: Collection[str] = ()) -> DispatchPlan:
    """The leases of one pass for `free` executor slots (see the module for the rules)."""
    plan = DispatchPlan()
    open_chunks: dict[str, list[RunnableJob]] = {}  # worker key -> the jobs of its open chunk
    sizes: dict[str, int] = {}  # worker key -> inputs in its open chunk
    chunks: list[tuple[list[RunnableJob], str]] = []
    for job in jobs:
        want = job.parallelism - in_flight.get(job.id, 0)
        if want <= 0:
            continue
        if not rules.is_small(job) or job.id in solo:
            if free <= 0:
                continue
            plan.wants[job.id] = min(want, free)
            free -= plan.wants[job.id]
            continue
        members = open_chunks.get(job.worker_key)
        if members is None or sizes[job.worker_key] >= rules.size:
            if free <= 0:
                continue
            free -= 1
            members = open_chunks[job.worker_key] = []
            sizes[job.worker_key] = 0
            chunks.append((members, job.worker_key))
        take = min(want, rules.size - sizes[job.worker_key])
        members.append(job)
        sizes[job.worker_key] += take
        plan.wants[job.id] = take
        plan.chunked.add(job.id)
    _hold_lingering(plan, chunks, sizes, rules, now)
    return plan


def _hold_lingering(plan: DispatchPlan, chunks: list[tuple[list[RunnableJob], str]], sizes: Mapping[str, int],
                    rules: ChunkRules, now: datetime) -> None:
    """Drop the last, partly filled chunk of each key while its oldest job is younger than the linger."""
    last = {key: members for members, key in chunks}
    for key, members in last.items():
        if sizes[key] >= rules.size or not members:
            continue
        stamps = [_aware(j.created_at) for j in members if j.created_at is not None]
        age = (now - min(stamps)).total_seconds() if stamps else rules.linger_seconds
        if age >= rules.linger_seconds:
            continue
        wait = rules.linger_seconds - max(age, 0.0)
        plan.recheck_in = wait if plan.recheck_in is None else min(plan.recheck_in, wait)
        for job in members:
            plan.wants.pop(job.id, None)
            plan.chunked.discard(job.id)


def chunk_units(tasks: Sequence[Task], chunked: Collection[str], size: int, inline_output_bytes: int = 0
                ) -> list[Unit]:
    """The executor units of a pass: a task of a regular job alone; tasks of chunked jobs packed by
    worker key and config (identical config is one shared dict, pickled once per chunk)."""
    units: list[Unit] = []
    groups: dict[tuple[str, bytes], list[Task]] = {}
    for task in tasks:
        if task.job_id not in chunked:
            units.append(task)
            continue
        key = (task.worker_key, orjson.dumps(task.config, option=orjson.OPT_SORT_KEYS))
        groups.setdefault(key, []).append(task)
    for group in groups.values():
        for start in range(0, len(group), size):
            part = tuple(group[start:start + size])
            units.append(part[0] if len(part) == 1 else TaskChunk(part, inline_output_bytes))
    return units


def shared_config(cache: dict[bytes, dict[str, Any]], config: dict[str, Any]) -> dict[str, Any]:
    """One dict object per distinct config within a pass."""
    return cache.setdefault(orjson.dumps(config, option=orjson.OPT_SORT_KEYS), config)
