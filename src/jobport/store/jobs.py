"""Jobs with their inputs, outputs, events and progress entries: queries and statements only. Status
moves are decided by `services.transitions`, which calls `update_status` here."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, cast, delete, exists, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from jobport.domain.statuses import QUEUED, InputStatus, JobStatus
from jobport.store import counts, listing
from jobport.store.db import utcnow
from jobport.store.tables import Job, JobEvent, JobInput, JobOutput, JobProgress


def _owned(job: Job | None, org_id: str) -> Job | None:
    return job if job is not None and job.org_id == org_id else None


# Lookups by a unique key only (its own index), the org checked on the row: with more conditions
# PostgreSQL may walk a list index that starts with org_id instead, when its statistics are stale.
def get(session: Session, org_id: str, job_id: str) -> Job | None:
    return _owned(session.scalar(select(Job).where(Job.id == job_id)), org_id)


def get_any(session: Session, job_id: str) -> Job | None:
    return session.scalar(select(Job).where(Job.id == job_id))


def get_by_idempotency_key(session: Session, org_id: str, key: str) -> Job | None:
    return session.scalar(select(Job).where(Job.org_id == org_id, Job.idempotency_key == key))


def get_by_uuid(session: Session, org_id: str, job_uuid: str) -> Job | None:
    return _owned(session.scalar(select(Job).where(Job.uuid == job_uuid)), org_id)


def get_by_seq(session: Session, org_id: str, seq: int) -> Job | None:
    return _owned(session.get(Job, seq), org_id) if 0 < seq < 2**63 else None


@dataclass(frozen=True)
class Listed:
    """One page of a job list and its total; `unfolded`: counter rows read beyond one per key
    (PostgreSQL appends them; the caller folds them when there are many, `counts.fold`)."""

    rows: list[Job]
    total: int
    unfolded: int = 0


NEWEST_FIRST = (Job.created_at, Job.seq)


def _eq(column: Any, value: str) -> ColumnElement[bool]:
    """`column` is `value`; the counters' `NONE` means no value (NULL)."""
    return column.is_(None) if value == counts.NONE else column == value


def _page(session: Session, where: Sequence[ColumnElement[bool]], arms: Sequence[Sequence[ColumnElement[bool]]],
          order: Sequence[Any], descending: bool, offset: int, limit: int) -> tuple[list[Job], bool]:
    """A page of jobs (`listing.merged_keys`, then the rows by primary key) and whether more follow."""
    seqs = listing.merged_keys(session, Job.seq, where, arms, order, descending, offset, limit + 1)
    found = {job.seq: job for job in session.scalars(select(Job).where(Job.seq.in_(seqs[:limit])))} if seqs else {}
    return [found[seq] for seq in seqs[:limit] if seq in found], len(seqs) > limit


def _total(session: Session, where: Sequence[ColumnElement[bool]], arms: Sequence[Sequence[ColumnElement[bool]]],
           order: Sequence[Any], descending: bool, count_max: int, offset: int, rows: list[Job], more: bool) -> int:
    """The bounded total of the page's list (exact when the page reaches the end)."""
    if not more and (rows or offset == 0):
        return offset + len(rows)
    counted = listing.count_merged(session, Job.seq, where, arms, order, descending, count_max)
    return listing.bounded_total(counted, count_max, offset, len(rows), more)


def latest_of_surface(session: Session, org_id: str, surface: str, app_id: str | None, limit: int) -> list[Job]:
    """Newest first: the jobs of a surface of one app, or of every app of the org (jobs of a surface
    belong to an app): one range per (app, status) present (ix_jobs_app_status_created)."""
    present = counts.counted(session, org_id, surface=surface, app_id=app_id)
    arms = [[_eq(Job.app_id, app), Job.status == status] for app, status in present.combos("app_id", "status")]
    return _page(session, [Job.org_id == org_id, Job.surface == surface], arms, NEWEST_FIRST, True, 0, limit)[0]


def add_event(
    session: Session,
    job_id: str,
    level: str,
    event_type: str,
    message: str,
    payload: Mapping[str, Any] | None = None,
    input_id: str | None = None,
    index: int | None = None,
) -> None:
    session.add(
        JobEvent(
            job_id=job_id,
            input_id=input_id,
            level=level,
            event_type=event_type,
            message=message,
            payload=dict(payload) if payload is not None else None,
            index=index,
            created_at=utcnow(),
        )
    )


def update_status(session: Session, job_ids: Sequence[str], sources: Iterable[JobStatus],
                  values: Mapping[str, Any]) -> set[str]:
    """The guarded UPDATE of a status move: rows of `job_ids` whose status is one of `sources` get
    `values`; returns the ids it changed (a row another writer moved first is left alone)."""
    if not job_ids:
        return set()
    statement = (update(Job).where(Job.id.in_(list(job_ids)), Job.status.in_([s.value for s in sources]))
                 .values(**values).returning(Job.id).execution_options(synchronize_session=False))
    return set(session.scalars(statement))


def queue_stats(session: Session, job: Job) -> tuple[int, int]:
    """Position of `job` among queued jobs of its pipeline type (1-based) and the queue's depth.
    Both are index range counts over queued jobs only (ix_jobs_queue)."""
    queued = [s.value for s in QUEUED]
    ahead = case(
        (
            or_(
                Job.priority > job.priority,
                and_(Job.priority == job.priority, Job.created_at < job.created_at),
                and_(Job.priority == job.priority, Job.created_at == job.created_at, Job.seq < job.seq),
            ),
            1,
        ),
        else_=0,
    )
    depth, position = session.execute(
        select(func.count(), func.coalesce(func.sum(ahead), 0)).where(
            Job.status.in_(queued), Job.pipeline_type == job.pipeline_type
        )
    ).one()
    return int(position) + 1, int(depth)


def queue_depths(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Job.pipeline_type, func.count()).where(Job.status.in_([s.value for s in QUEUED]))
        .group_by(Job.pipeline_type)
    ).all()
    return {r[0]: int(r[1]) for r in rows}


def input_counts(session: Session, job_ids: Sequence[str], port_name: str | None = None) -> dict[str, dict[str, int]]:
    counts = {jid: {"pending": 0, "processing": 0, "completed": 0, "failed": 0} for jid in job_ids}
    if not job_ids:
        return counts
    query = (
        select(JobInput.job_id, JobInput.status, func.count())
        .where(JobInput.job_id.in_(job_ids), JobInput.tracked.is_(True))
        .group_by(JobInput.job_id, JobInput.status)
    )
    if port_name:
        query = query.where(JobInput.port_name == port_name)
    for job_id, status, n in session.execute(query):
        if status in counts[job_id]:
            counts[job_id][status] = int(n)
    return counts


def first_input_errors(session: Session, job_ids: Sequence[str]) -> dict[str, str]:
    """The error message of each job's first failed tracked input (by input id), for jobs that have one."""
    if not job_ids:
        return {}
    first = (
        select(JobInput.job_id, func.min(JobInput.id).label("input_id"))
        .where(JobInput.job_id.in_(job_ids), JobInput.tracked.is_(True),
               JobInput.status == InputStatus.FAILED.value, JobInput.error_message.is_not(None))
        .group_by(JobInput.job_id)
        .subquery()
    )
    rows = session.execute(select(JobInput.job_id, JobInput.error_message).join(first, JobInput.id == first.c.input_id))
    return {job_id: message for job_id, message in rows if message is not None}


def failed_inputs_with_codes(session: Session, job_id: str) -> list[tuple[JobInput, str | None]]:
    """The job's failed tracked inputs in input order, each with the error code of its last
    `inference.failed` event (None when it has none)."""
    rows = list(session.scalars(select(JobInput).where(JobInput.job_id == job_id, JobInput.tracked.is_(True),
                                                       JobInput.status == InputStatus.FAILED.value)
                                .order_by(JobInput.seq)))
    events = session.execute(select(JobEvent.input_id, JobEvent.payload)
                             .where(JobEvent.job_id == job_id, JobEvent.event_type == "inference.failed",
                                    JobEvent.input_id.is_not(None))
                             .order_by(JobEvent.id))
    codes = {input_id: (payload or {}).get("error_code") for input_id, payload in events}
    return [(row, codes.get(row.id)) for row in rows]


def text_match(text: str) -> ColumnElement[bool]:
    like = f"%{text.lower()}%"
    return or_(func.lower(Job.name).like(like), func.lower(Job.pipeline_key).like(like), Job.id == text)


def tags_match(session: Session, tags: Collection[str]) -> ColumnElement[bool]:
    """The job has any of `tags` (a JSON list column)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(Job.tags, postgresql.JSONB).has_any(postgresql.array(list(tags)))
    each = func.json_each(Job.tags).table_valued("value")
    return exists().where(each.c.value.in_(list(tags)))


def list_jobs(
    session: Session,
    org_id: str,
    *,
    pipeline_type: str | None,
    statuses: Sequence[str] | None,
    text: str | None,
    offset: int,
    limit: int,
    count_max: int,
    app_id: str | None = None,
) -> Listed:
    """The org's jobs, newest first. The total comes from the counters, and the rows from one index
    range per (pipeline type, status) present (ix_jobs_org_type_status), merged. `text` is a
    condition on the rows of those ranges, and its total a bounded count (`listing`). `app_id`:
    only that app's jobs (an app key's list; its counters are kept per app too)."""
    present = counts.counted(session, org_id, app_id=app_id, pipeline_type=pipeline_type, statuses=statuses or None)
    arms = [[Job.pipeline_type == t, Job.status == s] for t, s in present.combos("pipeline_type", "status")]
    where = ([Job.org_id == org_id] + ([Job.app_id == app_id] if app_id is not None else [])
             + ([text_match(text)] if text else []))
    if text:
        listing.walk_in_order(session)
    rows, more = _page(session, where, arms, NEWEST_FIRST, True, offset, limit)
    if not text:
        return Listed(rows, present.total, present.extra_rows)
    return Listed(rows, _total(session, where, arms, NEWEST_FIRST, True, count_max, offset, rows, more),
                  present.extra_rows)


def list_app_jobs(session: Session, org_id: str, app_id: str, surface: str, *, statuses: Collection[str] | None,
                  conditions: Sequence[ColumnElement[bool]], narrow: bool, order: Sequence[Any], descending: bool,
                  offset: int, limit: int, count_max: int, count: bool = True) -> Listed:
    """The jobs of an app (of `org_id`) on one surface in `order` (a sort column, then `seq`).
    `statuses`: internal statuses (None: all); `conditions`: the other filters; `narrow`: they pick
    a few rows (one batch, one id), read in one query. Otherwise the rows are one index range per
    status present (ix_jobs_app_status and its siblings by sort column), merged; `app_id` implies
    the org there. Without `conditions` the total comes from the counters, else a bounded count
    (none with `count` false: the total is then -1)."""
    present = counts.counted(session, org_id, surface=surface, app_id=app_id, statuses=statuses)
    where = [Job.app_id == app_id, Job.surface == surface, *conditions]
    in_statuses = [Job.status.in_(present.values("status"))] if statuses is not None else []
    if narrow:
        where.append(Job.org_id == org_id)
        arms: list[list[ColumnElement[bool]]] = [in_statuses]
    else:
        arms = [[Job.status == status] for status in present.values("status")]
        if conditions:
            listing.walk_in_order(session)
    rows, more = _page(session, where, arms, order, descending, offset, limit)
    if not conditions:
        return Listed(rows, present.total, present.extra_rows)
    if not count:
        return Listed(rows, -1, present.extra_rows)
    return Listed(rows, _total(session, where, arms, order, descending, count_max, offset, rows, more),
                  present.extra_rows)


def list_inputs(session: Session, job_id: str, port_name: str | None, statuses: Sequence[str] | None, offset: int,
                limit: int, count_max: int = listing.DEFAULT_COUNT_MAX) -> tuple[list[JobInput], int]:
    query = select(JobInput).where(JobInput.job_id == job_id)
    if port_name:
        query = query.where(JobInput.port_name == port_name)
    if statuses:
        query = query.where(JobInput.status.in_(statuses))
    return listing.paged(session, query, [JobInput.seq], offset, limit, count_max)


def tracked_inputs(session: Session, job_id: str, port_name: str | None, statuses: Sequence[str],
                   newest_first: bool, limit: int) -> list[JobInput]:
    """Up to `limit` tracked inputs of the job with one of `statuses`, oldest or newest first."""
    query = select(JobInput).where(JobInput.job_id == job_id, JobInput.tracked.is_(True),
                                   JobInput.status.in_(list(statuses)))
    if port_name:
        query = query.where(JobInput.port_name == port_name)
    order = JobInput.seq.desc() if newest_first else JobInput.seq.asc()
    return list(session.scalars(query.order_by(order).limit(limit)))


def list_outputs(session: Session, job_id: str, port_name: str | None, input_id: str | None, offset: int, limit: int,
                 count_max: int = listing.DEFAULT_COUNT_MAX) -> tuple[list[JobOutput], int]:
    query = select(JobOutput).where(JobOutput.job_id == job_id)
    if port_name:
        query = query.where(JobOutput.port_name == port_name)
    if input_id:
        query = query.where(JobOutput.input_id == input_id)
    return listing.paged(session, query, [JobOutput.seq], offset, limit, count_max)


def list_events(session: Session, job_id: str, level: str | None, event_type: str | None, input_id: str | None,
                offset: int, limit: int, count_max: int = listing.DEFAULT_COUNT_MAX) -> tuple[list[JobEvent], int]:
    query = select(JobEvent).where(JobEvent.job_id == job_id)
    if level:
        query = query.where(JobEvent.level == level)
    if event_type:
        query = query.where(JobEvent.event_type == event_type)
    if input_id:
        query = query.where(JobEvent.input_id == input_id)
    return listing.paged(session, query, [JobEvent.id], offset, limit, count_max)


def list_progress(session: Session, job_id: str, kind: str | None, input_id: str | None, offset: int, limit: int,
                  count_max: int = listing.DEFAULT_COUNT_MAX) -> tuple[list[JobProgress], int]:
    query = select(JobProgress).where(JobProgress.job_id == job_id)
    if kind:
        query = query.where(JobProgress.kind == kind)
    if input_id:
        query = query.where(JobProgress.input_id == input_id)
    return listing.paged(session, query, [JobProgress.id], offset, limit, count_max)


def latest_progress(session: Session, input_ids: Sequence[str]) -> dict[str, JobProgress]:
    """The newest progress entry of each input (ix_progress_input)."""
    if not input_ids:
        return {}
    newest = (
        select(JobProgress.input_id, func.max(JobProgress.id).label("mid"))
        .where(JobProgress.input_id.in_(input_ids))
        .group_by(JobProgress.input_id)
        .subquery()
    )
    rows = session.scalars(select(JobProgress).join(newest, JobProgress.id == newest.c.mid))
    return {row.input_id: row for row in rows}


def output_blob_keys(session: Session, job_id: str, input_ids: Iterable[str] | None = None) -> list[str]:
    query = select(JobOutput.blob_key).where(JobOutput.job_id == job_id)
    if input_ids is not None:
        query = query.where(JobOutput.input_id.in_(list(input_ids)))
    return list(session.scalars(query))


def delete_outputs_of_inputs(session: Session, job_id: str, input_ids: Sequence[str]) -> list[str]:
    keys = output_blob_keys(session, job_id, input_ids)
    session.execute(delete(JobOutput).where(JobOutput.job_id == job_id, JobOutput.input_id.in_(list(input_ids))))
    return keys


def delete_job(session: Session, job_id: str) -> None:
    for table in (JobEvent, JobProgress, JobOutput, JobInput):
        session.execute(delete(table).where(table.job_id == job_id))
    session.execute(delete(Job).where(Job.id == job_id))


# ---- scheduler queries -------------------------------------------------------------------------

@dataclass(frozen=True)
class RunnableJob:
    """What dispatch needs of a runnable job (its parameters are read only if it gets work)."""

    id: str
    status: str
    parallelism: int
    pipeline_key: str
    pipeline_version: str
    worker_key: str
    record_count: int | None = None  # records billed at creation (app jobs): small ones travel in chunks
    created_at: datetime | None = None
    app_id: str | None = None  # a job of an app version reads its config and references from there
    app_version: str | None = None
    org_id: str | None = None  # orgs take turns among jobs of equal priority (fair share)
    priority: int = 0


RUNNABLE = (JobStatus.PENDING.value, JobStatus.PREEMPTED.value, JobStatus.ADMITTED.value, JobStatus.RUNNING.value)


def _runnable(limit: int, org_id: str | None = None) -> Any:
    query = (select(Job.id, Job.status, Job.parallelism, Job.pipeline_key, Job.pipeline_version, Job.worker_key,
                    Job.record_count, Job.created_at, Job.app_id, Job.app_version, Job.org_id, Job.priority)
             .where(Job.status.in_(RUNNABLE)))
    if org_id is not None:
        query = query.where(Job.org_id == org_id)
    return query.order_by(Job.priority.desc(), Job.created_at, Job.seq).limit(limit)


def runnable_jobs(session: Session, limit: int) -> list[RunnableJob]:
    """Jobs that may get inputs dispatched, in queue order (priority desc, then age): the first
    `limit`, and when those do not hold the whole queue, also the first jobs of every other org
    with runnable jobs (the job counters say which), so that one org's backlog never hides another
    org's jobs from the dispatcher's fair share."""
    rows = [RunnableJob(*row) for row in session.execute(_runnable(limit))]
    if len(rows) < limit:
        return rows
    present = {row.org_id for row in rows}
    c = counts.job_counts.c
    others = [org for org in session.scalars(select(c.org_id).where(c.status.in_(RUNNABLE)).group_by(c.org_id)
                                             .having(func.sum(c.n) > 0)) if org not in present]
    each = max(10, limit // (len(present) + len(others)))
    for org in others:
        rows += [RunnableJob(*row) for row in session.execute(_runnable(each, org))]
    rows.sort(key=lambda job: (-job.priority, job.created_at or datetime.min))
    return rows


def add_events(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Many events in one bulk INSERT (after what the session holds, so they keep their order). The
    statements here are Core inserts of the tables (no ORM bulk bookkeeping per row).
    Each row: job_id, level, event_type, message, and optionally payload, input_id, index."""
    if not rows:
        return
    session.flush()
    now = utcnow()
    blank = {"input_id": None, "payload": None, "index": None, "created_at": now}
    session.execute(insert(JobEvent.__table__), [{**blank, **row} for row in rows])


def add_progress(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Many progress entries in one bulk INSERT (rows as `JobProgress` columns, `created_at` added)."""
    if rows:
        session.flush()
        now = utcnow()
        session.execute(insert(JobProgress.__table__), [{"payload": None, "index": None, "created_at": now, **row}
                                              for row in rows])


def add_outputs(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Outputs of fresh attempts (earlier attempts' rows were deleted at lease) in one bulk INSERT."""
    if rows:
        session.flush()
        session.execute(insert(JobOutput.__table__), list(rows))


def fail_inputs(session: Session, errors: Mapping[str, str]) -> set[str]:
    """`finish_input(FAILED, message)` for many inputs; the ids it moved (those still processing)."""
    if not errors:
        return set()
    moving = set(session.scalars(select(JobInput.id).where(JobInput.id.in_(list(errors)),
                                                          JobInput.status == InputStatus.PROCESSING.value)))
    for input_id in moving:
        finish_input(session, input_id, InputStatus.FAILED, errors[input_id])
    return moving


def lease_for_jobs(session: Session, wants: Mapping[str, int], owner: str,
                   expires_at: datetime) -> dict[str, list[JobInput]]:
    """Lease up to `wants[job]` pending tracked inputs of each job (oldest first) in three statements
    for the whole scheduler pass: pick (a window function limits rows per job), update, read back."""
    if not wants:
        return {}
    rank = func.row_number().over(partition_by=JobInput.job_id, order_by=JobInput.seq).label("rank")
    pending = (select(JobInput.id, JobInput.job_id, rank)
               .where(JobInput.job_id.in_(list(wants)), JobInput.status == InputStatus.PENDING.value,
                      JobInput.tracked.is_(True))
               .subquery())
    picked = [input_id for input_id, job_id, n in session.execute(
        select(pending.c.id, pending.c.job_id, pending.c.rank).where(pending.c.rank <= max(wants.values())))
        if n <= wants[job_id]]
    if not picked:
        return {}
    session.execute(
        update(JobInput)
        .where(JobInput.id.in_(picked), JobInput.status == InputStatus.PENDING.value)
        .values(status=InputStatus.PROCESSING.value, lease_owner=owner, lease_expires_at=expires_at,
                attempts=JobInput.attempts + 1, started_at=utcnow(), error_message=None)
        .execution_options(synchronize_session=False)
    )
    leased: dict[str, list[JobInput]] = {}
    for row in session.scalars(
            select(JobInput).where(JobInput.id.in_(picked), JobInput.lease_owner == owner,
                                   JobInput.status == InputStatus.PROCESSING.value)
            .order_by(JobInput.seq).execution_options(populate_existing=True)):
        leased.setdefault(row.job_id, []).append(row)
    return leased


def job_parameters(session: Session, job_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    rows = session.execute(select(Job.id, Job.parameters).where(Job.id.in_(list(job_ids))))
    return {job_id: parameters or {} for job_id, parameters in rows}


def reference_inputs_of(session: Session, job_ids: Sequence[str]) -> dict[str, list[JobInput]]:
    out: dict[str, list[JobInput]] = {job_id: [] for job_id in job_ids}
    for row in session.scalars(select(JobInput).where(JobInput.job_id.in_(list(job_ids)), JobInput.tracked.is_(False))
                               .order_by(JobInput.seq)):
        out[row.job_id].append(row)
    return out


def renew_leases(session: Session, input_ids: Sequence[str], owner: str, expires_at: datetime) -> None:
    if input_ids:
        session.execute(
            update(JobInput)
            .where(JobInput.id.in_(list(input_ids)), JobInput.lease_owner == owner,
                   JobInput.status == InputStatus.PROCESSING.value)
            .values(lease_expires_at=expires_at)
            .execution_options(synchronize_session=False)
        )


def release_inputs(session: Session, input_ids: Sequence[str], refund_attempt: bool = False) -> None:
    """Leased inputs back to `pending`; `refund_attempt` when the work never started."""
    if input_ids:
        values: dict[str, Any] = {"status": InputStatus.PENDING.value, "lease_owner": None, "lease_expires_at": None}
        if refund_attempt:
            values["attempts"] = func.max(JobInput.attempts - 1, 0) if session.bind.dialect.name == "sqlite" \
                else func.greatest(JobInput.attempts - 1, 0)
        session.execute(
            update(JobInput)
            .where(JobInput.id.in_(list(input_ids)), JobInput.status == InputStatus.PROCESSING.value)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def requeue_interrupted(session: Session, input_ids: Sequence[str]) -> tuple[set[str], list[str]]:
    """Inputs interrupted by the infrastructure (a scheduler restart or stop, a lost lease, a worker
    stopped for another job's cancel) back to `pending` without spending an attempt; each of their
    jobs counts one preemption. Returns the ids it requeued (those of `input_ids` still processing)
    and the blob keys of the interrupted attempts' partial outputs (their rows are deleted here; the
    caller deletes the blobs after the commit)."""
    rows = session.execute(select(JobInput.id, JobInput.job_id).where(
        JobInput.id.in_(list(input_ids)), JobInput.status == InputStatus.PROCESSING.value)).all()
    if not rows:
        return set(), []
    release_inputs(session, [input_id for input_id, _ in rows], refund_attempt=True)
    by_job: dict[str, list[str]] = {}
    for input_id, job_id in rows:
        by_job.setdefault(job_id, []).append(input_id)
    stale = [key for job_id, ids in by_job.items() for key in delete_outputs_of_inputs(session, job_id, ids)]
    session.execute(update(Job).where(Job.id.in_(list(by_job))).values(preemption_count=Job.preemption_count + 1)
                    .execution_options(synchronize_session=False))
    return {input_id for input_id, _ in rows}, stale


def reclaim_leases(session: Session, *, not_owner: str | None = None,
                   expired_before: datetime | None = None) -> tuple[list[JobInput], list[str]]:
    """Return leased inputs of dead schedulers (or expired leases) to `pending` as interrupted
    (`requeue_interrupted`); the rows as they were, and the stale blob keys."""
    query = select(JobInput).where(JobInput.status == InputStatus.PROCESSING.value)
    conditions = []
    if not_owner is not None:
        conditions.append(or_(JobInput.lease_owner.is_(None), JobInput.lease_owner != not_owner))
    if expired_before is not None:
        conditions.append(JobInput.lease_expires_at < expired_before)
    if conditions:
        query = query.where(or_(*conditions))
    rows = list(session.scalars(query))
    return rows, requeue_interrupted(session, [r.id for r in rows])[1]


def finish_input(session: Session, input_id: str, status: InputStatus, error_message: str | None = None) -> bool:
    result = session.execute(
        update(JobInput)
        .where(JobInput.id == input_id, JobInput.status == InputStatus.PROCESSING.value)
        .values(status=status.value, completed_at=utcnow(), lease_owner=None, lease_expires_at=None,
                error_message=error_message)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def fail_unfinished_inputs(session: Session, job_id: str, error_message: str) -> int:
    """Every pending or processing tracked input of the job becomes `failed` with `error_message`
    (a job that cannot run at all: none of its inputs is left waiting); how many moved."""
    result = session.execute(
        update(JobInput)
        .where(JobInput.job_id == job_id, JobInput.tracked.is_(True),
               JobInput.status.in_([InputStatus.PENDING.value, InputStatus.PROCESSING.value]))
        .values(status=InputStatus.FAILED.value, completed_at=utcnow(), lease_owner=None, lease_expires_at=None,
                error_message=error_message)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def complete_inputs(session: Session, input_ids: Sequence[str]) -> dict[str, str]:
    """`finish_input(COMPLETED)` for many inputs in one guarded UPDATE; file ids of those it moved."""
    if not input_ids:
        return {}
    statement = (
        update(JobInput)
        .where(JobInput.id.in_(list(input_ids)), JobInput.status == InputStatus.PROCESSING.value)
        .values(status=InputStatus.COMPLETED.value, completed_at=utcnow(), lease_owner=None, lease_expires_at=None,
                error_message=None)
        .returning(JobInput.id, JobInput.file_id)
        .execution_options(synchronize_session=False)
    )
    return dict(session.execute(statement).all())


def job_statuses(session: Session, job_ids: Sequence[str]) -> dict[str, str]:
    if not job_ids:
        return {}
    return dict(session.execute(select(Job.id, Job.status).where(Job.id.in_(list(job_ids)))).all())


def add_output(session: Session, row: JobOutput) -> None:
    existing = session.scalar(select(JobOutput).where(JobOutput.job_id == row.job_id,
                                                      JobOutput.blob_key == row.blob_key))
    if existing is not None:
        existing.num_bytes = row.num_bytes
        existing.attributes = row.attributes
        existing.created_at = row.created_at
    else:
        session.add(row)


def input_ids_with_status(session: Session, job_id: str, status: InputStatus) -> list[str]:
    return list(session.scalars(select(JobInput.id).where(JobInput.job_id == job_id, JobInput.status == status.value)
                                .order_by(JobInput.seq)))


def release_failed(session: Session, input_ids: Sequence[str]) -> None:
    """Failed inputs go back to `pending` (retry of a job); completed ones are kept."""
    if input_ids:
        session.execute(
            update(JobInput)
            .where(JobInput.id.in_(list(input_ids)), JobInput.status == InputStatus.FAILED.value)
            .values(status=InputStatus.PENDING.value, error_message=None, completed_at=None, attempts=0)
            .execution_options(synchronize_session=False)
        )


def input_file_ids(session: Session, input_ids: Sequence[str]) -> dict[str, str]:
    if not input_ids:
        return {}
    return dict(session.execute(select(JobInput.id, JobInput.file_id).where(JobInput.id.in_(set(input_ids)))).all())
