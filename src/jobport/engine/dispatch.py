"""Dispatch planning: which queued jobs get how many inputs leased in one scheduler pass, and which
of them travel in chunks. Pure functions over what the scheduler read; `scheduler._dispatch` runs
the plan (lease, status moves, tasks) and `chunk_units` packs the leased tasks.

Rules, in queue order (priority, then fair share across orgs, then age):
- among jobs of equal priority, orgs take turns: each next input goes to the org with the fewest
  inputs in flight (on a tie, the org served longest ago: `Turns`), to its oldest job that wants
  more (so one org's backlog delays another org's job by at most one task slot);
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


class Turns:
    """When each org last got a task slot, counted across passes: of orgs with as many inputs in
    flight, the one served longest ago goes first (orgs take turns even when nothing is in flight)."""

    def __init__(self) -> None:
        self._clock = 0
        self._last: dict[str | None, int] = {}

    def last(self, org: str | None) -> int:
        return self._last.get(org, -1)

    def served(self, org: str | None) -> None:
        self._clock += 1
        self._last[org] = self._clock


def plan_dispatch(jobs: Sequence[RunnableJob], in_flight: Mapping[str, int], free: int, rules: ChunkRules,
                  now: datetime, solo: Collection[str] = (), turns: Turns | None = None) -> DispatchPlan:
    """The leases of one pass for `free` executor slots (see the module for the rules); `turns`
    (the scheduler's, kept across passes) is updated with the orgs served."""
    plan = DispatchPlan()
    slots = _Slots(rules, free, solo)
    for level in _priority_levels(jobs):
        _serve_in_turns(level, in_flight, slots, plan, turns or Turns())
    _hold_lingering(plan, slots.chunks, slots.sizes, rules, now)
    return plan


def _priority_levels(jobs: Sequence[RunnableJob]) -> list[list[RunnableJob]]:
    """The jobs split into runs of equal priority, in queue order (the caller sorts by priority)."""
    levels: list[list[RunnableJob]] = []
    for job in jobs:
        if levels and levels[-1][0].priority == job.priority:
            levels[-1].append(job)
        else:
            levels.append([job])
    return levels


def _serve_in_turns(jobs: Sequence[RunnableJob], in_flight: Mapping[str, int], slots: _Slots,
                    plan: DispatchPlan, turns: Turns) -> None:
    """Fair share among the orgs of one priority: the next input always goes to the org with the
    fewest inputs in flight (on a tie: the one served longest ago, then the one whose oldest job is
    older), to its oldest job that still wants some; an org's backlog delays another org's job by
    at most one task slot."""
    queues: dict[str | None, list[RunnableJob]] = {}
    load: dict[str | None, int] = {}
    wants: dict[str, int] = {}
    for job in jobs:
        load[job.org_id] = load.get(job.org_id, 0) + in_flight.get(job.id, 0)
        want = job.parallelism - in_flight.get(job.id, 0)
        if want > 0:
            queues.setdefault(job.org_id, []).append(job)
            wants[job.id] = want
    first = {org: i for i, org in enumerate(queues)}
    while queues:
        org = min(queues, key=lambda o: (load[o], turns.last(o), first[o]))
        job = queues[org][0]
        took = slots.take(job, wants[job.id])
        chunked = slots.chunked(job)
        if took:
            plan.wants[job.id] = plan.wants.get(job.id, 0) + took
            if chunked:
                plan.chunked.add(job.id)
            wants[job.id] -= took
            load[org] += took
            turns.served(org)
        if not took or not wants[job.id] or chunked:  # a small job joins one chunk per pass
            queues[org].pop(0)
            if not queues[org]:
                del queues[org]


class _Slots:
    """The executor's free slots as one pass hands them out: a regular job's input takes a slot;
    a small job's inputs join the open chunk of its worker key (a full chunk opens the next, which
    takes a slot)."""

    def __init__(self, rules: ChunkRules, free: int, solo: Collection[str]) -> None:
        self.rules = rules
        self.free = free
        self.solo = solo
        self.open_chunks: dict[str, list[RunnableJob]] = {}  # worker key -> the jobs of its open chunk
        self.sizes: dict[str, int] = {}  # worker key -> inputs in its open chunk
        self.chunks: list[tuple[list[RunnableJob], str]] = []

    def chunked(self, job: RunnableJob) -> bool:
        return self.rules.is_small(job) and job.id not in self.solo

    def take(self, job: RunnableJob, want: int) -> int:
        """How many of `want` inputs of `job` this pass can start now (regular jobs: one per turn)."""
        if not self.chunked(job):
            if self.free <= 0:
                return 0
            self.free -= 1
            return 1
        key = job.worker_key
        members = self.open_chunks.get(key)
        if members is None or self.sizes[key] >= self.rules.size:
            if self.free <= 0:
                return 0
            self.free -= 1
            members = self.open_chunks[key] = []
            self.sizes[key] = 0
            self.chunks.append((members, key))
        take = min(want, self.rules.size - self.sizes[key])
        members.append(job)
        self.sizes[key] += take
        return take


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
