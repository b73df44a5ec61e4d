"""The dashboard's queries (SQL only, no rules): jobs of every surface filtered by what the Jobs screen
offers (status, pipeline, app, surface, creation time, tags, `metadata.k=v`, id or text), the jobs
newer than a page, the numbers of the Overview (status counts, the oldest queued job, timings of
recently finished jobs) and a job's events after an id (the live timeline)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from jobport.store import listing
from jobport.store.jobs import tags_match
from jobport.store.tables import Job, JobEvent, OpenAIBatch, PipelineRow, UsageEntry

NATIVE_SURFACE = "archetype"  # jobs created on the native API store no surface (NULL)
NEWEST_FIRST = (Job.created_at.desc(), Job.seq.desc())


@dataclass(frozen=True)
class JobQuery:
    """Which jobs of one org a list shows; every field narrows it (empty: no condition)."""

    org_id: str
    app_id: str | None = None  # an app key's app, or the app filter
    statuses: Sequence[str] = ()
    pipeline_key: str | None = None
    surface: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    tags: Sequence[str] = ()
    metadata: Sequence[tuple[str, str]] = field(default_factory=tuple)
    text: str | None = None


def _text_match(text: str) -> ColumnElement[bool]:
    like = f"%{text.lower()}%"
    exact = [Job.id == text, Job.uuid == text]
    if text.isdigit() and len(text) < 19:
        exact.append(Job.seq == int(text))
    return or_(*exact, func.lower(Job.name).like(like), func.lower(Job.pipeline_key).like(like),
               func.lower(Job.id).like(like))


def conditions(session: Session, query: JobQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [Job.org_id == query.org_id]
    if query.app_id is not None:
        where.append(Job.app_id == query.app_id)
    if query.statuses:
        where.append(Job.status.in_(list(query.statuses)))
    if query.pipeline_key:
        where.append(Job.pipeline_key == query.pipeline_key)
    if query.surface == NATIVE_SURFACE:
        where.append(or_(Job.surface.is_(None), Job.surface == NATIVE_SURFACE))
    elif query.surface:
        where.append(Job.surface == query.surface)
    if query.created_from is not None:
        where.append(Job.created_at >= query.created_from)
    if query.created_to is not None:
        where.append(Job.created_at < query.created_to)
    where += [tags_match(session, [tag]) for tag in query.tags]  # every tag named
    where += [Job.job_metadata[key].as_string() == value for key, value in query.metadata]
    if query.text:
        where.append(_text_match(query.text))
    return where


def _select(session: Session, query: JobQuery) -> Select[Any]:
    return select(Job).where(*conditions(session, query))


def list_jobs(session: Session, query: JobQuery, offset: int, limit: int, count_max: int) -> tuple[list[Job], int]:
    """One page of the matching jobs, newest first, with a bounded total (`listing.paged`)."""
    return listing.paged(session, _select(session, query), NEWEST_FIRST, offset, limit, count_max)


def matching_ids(session: Session, query: JobQuery, limit: int) -> list[str]:
    """Ids of up to `limit` matching jobs, newest first (a bulk action's targets)."""
    chosen = select(Job.id).where(*conditions(session, query)).order_by(*NEWEST_FIRST).limit(limit)
    return list(session.scalars(chosen))


def owned_ids(session: Session, org_id: str, app_id: str | None, job_ids: Sequence[str]) -> list[str]:
    """Those of `job_ids` that are jobs of the org (of `app_id` when given)."""
    if not job_ids:
        return []
    where = [Job.org_id == org_id, Job.id.in_(list(job_ids))]
    if app_id is not None:
        where.append(Job.app_id == app_id)
    return list(session.scalars(select(Job.id).where(*where)))


def newest_seq(session: Session, org_id: str) -> int:
    return int(session.scalar(select(func.max(Job.seq)).where(Job.org_id == org_id)) or 0)


def count_newer(session: Session, query: JobQuery, after_seq: int, cap: int) -> int:
    """Matching jobs created after the job numbered `after_seq`, counted up to cap + 1."""
    newer = select(Job.seq).where(*conditions(session, query), Job.seq > after_seq)
    return listing.count_upto(session, newer, cap)


def status_counts(session: Session, org_id: str, app_id: str | None) -> dict[str, int]:
    where = [Job.org_id == org_id] + ([Job.app_id == app_id] if app_id is not None else [])
    rows = session.execute(select(Job.status, func.count()).where(*where).group_by(Job.status))
    return {status: int(n) for status, n in rows}


def oldest_created(session: Session, org_id: str, app_id: str | None, statuses: Sequence[str]) -> datetime | None:
    where = [Job.org_id == org_id, Job.status.in_(list(statuses))]
    if app_id is not None:
        where.append(Job.app_id == app_id)
    found: datetime | None = session.scalar(select(func.min(Job.created_at)).where(*where))
    return found


def finished_timings(session: Session, org_id: str, app_id: str | None, since: datetime,
                     limit: int) -> list[tuple[str, datetime, datetime | None, datetime | None]]:
    """(pipeline key, created, started, ended) of up to `limit` jobs that started since `since`,
    newest first; `ended` is when it completed or failed (None while it runs)."""
    where = [Job.org_id == org_id, Job.started_at.is_not(None), Job.created_at >= since]
    if app_id is not None:
        where.append(Job.app_id == app_id)
    ended = func.coalesce(Job.completed_at, Job.failed_at)
    rows = session.execute(select(Job.pipeline_key, Job.created_at, Job.started_at, ended).where(*where)
                           .order_by(*NEWEST_FIRST).limit(limit))
    return [(key, created, started, end) for key, created, started, end in rows]


def events(session: Session, job_id: str, *, after_id: int = 0, text: str | None = None,
           limit: int) -> list[JobEvent]:
    """The job's events with an id above `after_id`, oldest first; `text`: whose message or type
    contains it (any case)."""
    query = select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.id > after_id)
    if text:
        like = f"%{text.lower()}%"
        query = query.where(or_(func.lower(JobEvent.message).like(like), func.lower(JobEvent.event_type).like(like)))
    return list(session.scalars(query.order_by(JobEvent.id).limit(limit)))


def pipeline_keys(session: Session) -> list[str]:
    """The keys of the registered pipelines (a small table: no scan of the jobs)."""
    return list(session.scalars(select(PipelineRow.pipeline_key).distinct().order_by(PipelineRow.pipeline_key)))


def export_page(session: Session, query: JobQuery, before_seq: int | None, limit: int) -> list[Job]:
    """Up to `limit` matching jobs numbered below `before_seq` (None: from the newest), newest first
    by number: an export walks the list page by page without offsets."""
    where = conditions(session, query) + ([Job.seq < before_seq] if before_seq is not None else [])
    return list(session.scalars(select(Job).where(*where).order_by(Job.seq.desc()).limit(limit)))


def openai_batch_id(session: Session, org_id: str, job_id: str) -> str | None:
    """The id of the OpenAI batch whose work is the job, if any."""
    found: str | None = session.scalar(select(OpenAIBatch.id).where(OpenAIBatch.org_id == org_id,
                                                                    OpenAIBatch.job_id == job_id).limit(1))
    return found


def usage_by_day(session: Session, org_id: str, app_id: str | None, since: datetime,
                 until: datetime) -> list[tuple[str, str | None, int, int, int, int]]:
    """(UTC day as YYYY-MM-DD, app id, jobs, records, record groups, billed units) of the usage
    ledger in [since, until), per day and app, newest day first (of one app if `app_id`)."""
    created = UsageEntry.created_at
    if session.get_bind().dialect.name == "postgresql":
        day = func.to_char(func.timezone("UTC", created), "YYYY-MM-DD")
    else:  # SQLite keeps the UTC time as text
        day = func.date(created)
    where = [UsageEntry.org_id == org_id, created >= since, created < until]
    if app_id is not None:
        where.append(UsageEntry.app_id == app_id)
    rows = session.execute(select(day.label("day"), UsageEntry.app_id, func.count(), func.sum(UsageEntry.records),
                                  func.sum(UsageEntry.record_groups), func.sum(UsageEntry.billed_units))
                           .where(*where).group_by(day, UsageEntry.app_id)
                           .order_by(day.desc(), UsageEntry.app_id))
    return [(str(d), a, int(n or 0), int(r or 0), int(g or 0), int(u or 0)) for d, a, n, r, g, u in rows]
