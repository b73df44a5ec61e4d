"""Use cases of the web dashboard (`/ui`) that the surfaces' services do not offer: the caller of a
session (a key id, looked up again on every request so a revoked key signs out), the Jobs screen's
filter (parsed from the URL, every bad value a 400 naming the field), its pages, exports and bulk
actions, the "N new jobs" count, a job's detail and its live changes, and the Overview numbers.

Every read is narrowed to what the key's scope allows: its org, and for an app key its app alone
(another org's or app's job answers 404, as on the API)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from sqlalchemy import select

from jobport.callbacks.tables import CallbackDelivery
from jobport.domain.errors import Conflict, Invalid, NotFound, Problem
from jobport.domain.statuses import CANCELLABLE, QUEUED, RETRYABLE, TERMINAL, JobStatus
from jobport.services import apps as app_service
from jobport.services import auth, callbacks
from jobport.services import files as file_service
from jobport.services import pipelines as pipeline_service
from jobport.services import usage as usage_service
from jobport.services.auth import Principal, Scope
from jobport.services.context import AppContext
from jobport.services.jobs import control, queries
from jobport.services.jobs import create as create_service
from jobport.services.jobs.create import JobCreate
from jobport.services.paging import Page
from jobport.store import apps as app_store
from jobport.store import dashboard as dash_store
from jobport.store import jobs as job_store
from jobport.store import listing, orgs
from jobport.store.tables import ApiKey, App, AppVersion, File, Job, JobEvent

SURFACES = ("archetype", "superai", "gravity", "openai")
PAGE_SIZES = (25, 50, 100, 200)
TIMINGS_WINDOW = timedelta(days=7)  # the Overview's queue-wait and run-time percentiles: jobs started since
TIMINGS_MAX_JOBS = 5_000
NEW_JOBS_COUNT_MAX = 999


# ---- the caller of a session ------------------------------------------------------------------------

def principal_for_key_id(ctx: AppContext, key_id: str) -> Principal | None:
    """The caller a session's key stands for, or None once the key is revoked or gone."""
    with ctx.sessions() as session:
        row = orgs.get_key_by_id(session, key_id)
        if row is None or row.revoked_at is not None:
            return None
        org = orgs.find_org(session, row.org_id)
        if org is None:
            return None
        session.expunge(org)
        return Principal(org, row.app_id, Scope(row.scope), row.id)


# ---- the Jobs screen's filter -------------------------------------------------------------------------

def _bad(field_name: str, message: str, suggestion: str) -> Invalid:
    return Invalid(f"{field_name}: {message}", field=field_name, code="invalid_parameter", suggestion=suggestion)


_OFFSET = re.compile(r"^(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?$")


def parse_zone(value: str) -> tzinfo:
    """The time zone `tz` names: an IANA name (`Europe/Berlin`, what the browser reports), an offset
    (`+02:00`, `-0530`) or UTC; empty: UTC. Invalid (400, field `tz`) otherwise."""
    text = value.strip()
    if not text or text.upper() in ("UTC", "Z", "GMT"):
        return UTC
    offset = _OFFSET.match(text.upper())
    if offset:
        sign, hours, minutes = offset.group(1), int(offset.group(2)), int(offset.group(3) or 0)
        if hours <= 14 and minutes < 60:
            delta = timedelta(hours=hours, minutes=minutes)
            return timezone(-delta if sign == "-" else delta)
    elif len(text) <= 64 and ".." not in text and not text.startswith("/"):
        try:
            return ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise _bad("tz", f"{value!r} is not a time zone",
               "Use an IANA zone name (Europe/Berlin), an offset (+02:00), or leave it empty for UTC.")


def _parse_time(field_name: str, value: str, zone: tzinfo = UTC) -> datetime:
    """An ISO date or date-time; without a zone of its own it is in `zone` (UTC by default)."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _bad(field_name, f"{value!r} is not a date or time",
                   "Use ISO 8601, e.g. 2026-01-31 or 2026-01-31T08:00 (in the time zone `tz`, your browser's, "
                   "unless the value names one).") from None
    # in UTC: SQLite compares the stored UTC text with the bound value's own wall-clock digits
    try:
        return (parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)).astimezone(UTC)
    except OverflowError:
        raise _bad(field_name, f"{value!r} is out of range", "Use a date between the years 2 and 9998.") from None


def _parse_int(field_name: str, value: str | None, default: int, lowest: int, highest: int) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or not lowest <= int(value) <= highest:
        raise _bad(field_name, f"{value!r} is not a whole number from {lowest} to {highest}",
                   f"Use {field_name}={default}.")
    return int(value)


@dataclass(frozen=True)
class JobFilter:
    """What the Jobs screen shows, exactly as held in its URL (`query_string` writes it back)."""

    statuses: tuple[str, ...] = ()
    pipeline: str = ""
    app: str = ""
    surface: str = ""
    created_from: str = ""
    created_to: str = ""
    tz: str = ""  # the zone of `from` and `to` without one of their own (the browser's); empty: UTC
    tags: tuple[str, ...] = ()
    metadata: tuple[str, ...] = ()  # "key=value"
    q: str = ""
    page: int = 1
    per_page: int = 50
    _times: tuple[datetime | None, datetime | None] = field(default=(None, None), compare=False, repr=False)

    @classmethod
    def parse(cls, params: Mapping[str, Sequence[str]]) -> JobFilter:
        """From the URL's query (each name with all its values); Invalid (400) names a bad field."""
        def one(name: str) -> str:
            values = [v.strip() for v in params.get(name, ()) if v.strip()]
            return values[-1] if values else ""

        def many(name: str) -> tuple[str, ...]:
            return tuple(dict.fromkeys(v.strip() for v in params.get(name, ()) if v.strip()))

        statuses = tuple(s.upper() for s in many("status"))
        for status in statuses:
            if status not in JobStatus.__members__:
                raise _bad("status", f"{status!r} is not a job status",
                           f"Use one of {', '.join(s.value for s in JobStatus)}.")
        surface = one("surface").lower()
        if surface and surface not in SURFACES:
            raise _bad("surface", f"{surface!r} is not a surface", f"Use one of {', '.join(SURFACES)}.")
        metadata = many("meta")
        for pair in metadata:
            if "=" not in pair or not pair.split("=", 1)[0].strip():
                raise _bad("meta", f"{pair!r} is not key=value", "Write a metadata filter as key=value, e.g. team=ml.")
        created_from, created_to, tz = one("from"), one("to"), one("tz")[:64]
        zone = parse_zone(tz)
        times = (_parse_time("from", created_from, zone) if created_from else None,
                 _parse_time("to", created_to, zone) if created_to else None)
        if times[0] and times[1] and times[0] >= times[1]:
            raise _bad("to", "the end of the time range is not after its start", "Pick a 'to' after 'from'.")
        per_page = _parse_int("per_page", one("per_page"), 50, 1, PAGE_SIZES[-1])
        return cls(statuses=statuses, pipeline=one("pipeline")[:200], app=one("app")[:200], surface=surface,
                   created_from=created_from, created_to=created_to, tz=tz, tags=many("tag"), metadata=metadata,
                   q=one("q")[:500], page=_parse_int("page", one("page"), 1, 1, 1_000_000), per_page=per_page,
                   _times=times)

    def pairs(self, with_page: bool = False) -> list[tuple[str, str]]:
        """The filter as URL query pairs (the page only when asked: links keep the filter)."""
        pairs = [("status", s) for s in self.statuses]
        pairs += [(name, value) for name, value in (("pipeline", self.pipeline), ("app", self.app),
                                                    ("surface", self.surface), ("from", self.created_from),
                                                    ("to", self.created_to), ("q", self.q)) if value]
        if self.tz and (self.created_from or self.created_to):
            pairs.append(("tz", self.tz))
        pairs += [("tag", t) for t in self.tags] + [("meta", m) for m in self.metadata]
        if self.per_page != 50:
            pairs.append(("per_page", str(self.per_page)))
        if with_page and self.page != 1:
            pairs.append(("page", str(self.page)))
        return pairs

    def query_string(self, **changes: Any) -> str:
        """This filter's URL query with `changes` applied (e.g. `page=2`)."""
        return urlencode((replace(self, **changes) if changes else self).pairs(with_page=True))

    @property
    def is_empty(self) -> bool:
        return not self.pairs()


def _store_query(principal: Principal, chosen: JobFilter) -> dash_store.JobQuery:
    only_app = principal.only_app
    if chosen.app and only_app is not None and chosen.app != only_app:
        raise NotFound(f"app {chosen.app!r} not found", field="app", suggestion="This key sees only its own app.")
    metadata = tuple((k.strip(), v.strip()) for k, v in (m.split("=", 1) for m in chosen.metadata))
    return dash_store.JobQuery(
        org_id=principal.org.id, app_id=only_app or chosen.app or None, statuses=chosen.statuses,
        pipeline_key=chosen.pipeline or None, surface=chosen.surface or None, created_from=chosen._times[0],
        created_to=chosen._times[1], tags=chosen.tags, metadata=metadata, text=chosen.q or None)


@dataclass(frozen=True)
class JobRow:
    job: Job
    counts: dict[str, int]


@dataclass(frozen=True)
class FilterChoices:
    """What the filter form offers: the org's apps (names by id) and the registered pipelines."""

    apps: dict[str, str]
    pipelines: list[str]


def filter_choices(ctx: AppContext, principal: Principal) -> FilterChoices:
    with ctx.sessions() as session:
        rows: list[App] = app_store.list_apps(session, principal.org.id, 0, 500)[0]
        pipelines = dash_store.pipeline_keys(session)
    only_app = principal.only_app
    return FilterChoices({a.id: a.name for a in rows if only_app is None or a.id == only_app}, pipelines)


def list_jobs(ctx: AppContext, principal: Principal, chosen: JobFilter) -> Page[JobRow]:
    query = _store_query(principal, chosen)
    with ctx.sessions() as session:
        rows, total = dash_store.list_jobs(session, query, (chosen.page - 1) * chosen.per_page, chosen.per_page,
                                           ctx.settings.limits.search_count_max)
        counts = job_store.input_counts(session, [r.id for r in rows])
    return Page([JobRow(r, counts[r.id]) for r in rows], total)


def newest_job_number(ctx: AppContext, principal: Principal) -> int:
    with ctx.sessions() as session:
        return dash_store.newest_seq(session, principal.org.id)


def count_new_jobs(ctx: AppContext, principal: Principal, chosen: JobFilter, after_seq: int) -> int:
    """Jobs of the filter created after the job numbered `after_seq` (up to NEW_JOBS_COUNT_MAX + 1)."""
    query = _store_query(principal, chosen)
    with ctx.sessions() as session:
        return dash_store.count_newer(session, query, after_seq, NEW_JOBS_COUNT_MAX)


def export_jobs(ctx: AppContext, principal: Principal, chosen: JobFilter) -> Iterator[JobRow]:
    """Every job of the filter (up to setting `ui_export_max_rows`), newest first, read a thousand
    at a time."""
    query = _store_query(principal, chosen)
    most = ctx.settings.ui.export_max_rows
    before: int | None = None
    sent = 0
    while sent < most:
        with ctx.sessions() as session:
            rows = dash_store.export_page(session, query, before, min(1_000, most - sent))
            counts = job_store.input_counts(session, [r.id for r in rows])
        if not rows:
            return
        for row in rows:
            yield JobRow(row, counts[row.id])
        sent += len(rows)
        before = rows[-1].seq


# ---- bulk actions ---------------------------------------------------------------------------------------

BULK_ACTIONS = {"cancel": CANCELLABLE, "retry": RETRYABLE}


@dataclass(frozen=True)
class BulkResult:
    action: str
    done: list[str]
    skipped: dict[str, str]  # job id -> why


def _check_action(action: str) -> frozenset[JobStatus]:
    if action not in BULK_ACTIONS:
        raise _bad("action", f"{action!r} is not a bulk action", "Use action=cancel or action=retry.")
    return frozenset(BULK_ACTIONS[action])


def bulk_targets(ctx: AppContext, principal: Principal, action: str, job_ids: Sequence[str],
                 chosen: JobFilter | None) -> list[str]:
    """The jobs a bulk action would act on: the selected ids (the caller's own only), or the jobs of
    the filter whose status allows the action; at most setting `ui_bulk_action_max`."""
    allowed = _check_action(action)
    most = ctx.settings.ui.bulk_action_max
    if not job_ids and chosen is None:
        raise _bad("job_id", "no job is selected", "Tick the jobs to act on, or act on the whole filter.")
    with ctx.sessions() as session:
        if chosen is None:
            return dash_store.owned_ids(session, principal.org.id, principal.only_app,
                                        list(dict.fromkeys(job_ids))[:most])
        query = _store_query(principal, chosen)
        statuses = [s.value for s in allowed if not query.statuses or s.value in query.statuses]
        if not statuses:
            return []
        return dash_store.matching_ids(session, replace(query, statuses=statuses), most)


def run_bulk(ctx: AppContext, principal: Principal, action: str, job_ids: Sequence[str]) -> BulkResult:
    """Cancel or retry each job (each its own transaction); a job whose status does not allow it
    is skipped with the reason."""
    _check_action(action)
    done: list[str] = []
    skipped: dict[str, str] = {}
    for job_id in job_ids[:ctx.settings.ui.bulk_action_max]:
        try:
            if action == "cancel":
                control.cancel_job(ctx, principal.org.id, job_id, principal.only_app)
            else:
                control.retry_job(ctx, principal.org.id, job_id, app_id=principal.only_app)
            done.append(job_id)
        except (Conflict, NotFound) as problem:
            skipped[job_id] = problem.message
    return BulkResult(action, done, skipped)


# ---- one job ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class JobItems:
    """The first inputs and outputs of a job (setting `ui_job_page_items` of each)."""

    inputs: Page[Any]
    outputs: Page[queries.OutputRow]


@dataclass(frozen=True)
class JobDetail:
    job: Job
    counts: dict[str, int]
    inputs: Page[Any]
    outputs: Page[queries.OutputRow]
    events: list[JobEvent]
    deliveries: Page[callbacks.Delivery]
    app_name: str | None
    openai_batch_id: str | None = None  # the OpenAI batch whose work the job is (surface openai)


def job_items(ctx: AppContext, principal: Principal, job_id: str) -> JobItems:
    org_id, only_app, most = principal.org.id, principal.only_app, ctx.settings.ui.job_page_items
    return JobItems(queries.list_inputs(ctx, org_id, job_id, None, None, 0, most, only_app),
                    queries.list_outputs(ctx, org_id, job_id, None, None, 0, most, only_app))


def job_detail(ctx: AppContext, principal: Principal, job_id: str, event_text: str | None = None) -> JobDetail:
    org_id, only_app = principal.org.id, principal.only_app
    found = queries.job_with_counts(ctx, org_id, job_id, only_app)
    items = job_items(ctx, principal, found.job.id)
    with ctx.sessions() as session:
        events = dash_store.events(session, found.job.id, text=event_text, limit=ctx.settings.ui.job_page_events)
        app = app_store.get(session, org_id, found.job.app_id) if found.job.app_id else None
        batch_id = dash_store.openai_batch_id(session, org_id, found.job.id) if found.job.surface == "openai" else None
    deliveries = callbacks.list_deliveries(ctx, org_id, job_id=found.job.id, status=None, offset=0, limit=50,
                                           only_app=only_app)
    return JobDetail(found.job, found.counts, items.inputs, items.outputs, events, deliveries,
                     app.name if app else None, batch_id)


def job_events(ctx: AppContext, principal: Principal, job_id: str, after_id: int = 0,
               limit: int | None = None) -> list[JobEvent]:
    """The job's events after `after_id` (up to `limit`, default setting `ui_export_max_rows`)."""
    job = control.get_job(ctx, principal.org.id, job_id, principal.only_app)
    with ctx.sessions() as session:
        return dash_store.events(session, job.id, after_id=after_id,
                                 limit=limit if limit is not None else ctx.settings.ui.export_max_rows)


@dataclass(frozen=True)
class JobChanges:
    """A job as it is now and its events after the id the watcher has seen."""

    job: Job
    counts: dict[str, int]
    events: list[JobEvent]

    @property
    def ended(self) -> bool:
        return JobStatus(self.job.status) in TERMINAL


def job_changes(ctx: AppContext, principal: Principal, job_id: str, after_event_id: int) -> JobChanges:
    found = queries.job_with_counts(ctx, principal.org.id, job_id, principal.only_app)
    with ctx.sessions() as session:
        events = dash_store.events(session, found.job.id, after_id=after_event_id, limit=200)
    return JobChanges(found.job, found.counts, events)


def cancel(ctx: AppContext, principal: Principal, job_id: str) -> Job:
    return control.cancel_job(ctx, principal.org.id, job_id, principal.only_app)


def retry(ctx: AppContext, principal: Principal, job_id: str) -> Job:
    return control.retry_job(ctx, principal.org.id, job_id, app_id=principal.only_app)


def replay_delivery(ctx: AppContext, principal: Principal, delivery_id: str) -> callbacks.DeliveryDetail:
    return callbacks.replay(ctx, principal.org.id, delivery_id, principal.only_app)


# ---- the Overview ------------------------------------------------------------------------------------------

def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile (`share` 0..1) of `values`; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass(frozen=True)
class PipelineTimings:
    pipeline_key: str
    jobs: int
    wait_p50: float | None
    wait_p95: float | None
    run_p50: float | None
    run_p95: float | None


@dataclass(frozen=True)
class Overview:
    status_counts: dict[str, int]
    queued: int
    oldest_queued_seconds: float | None
    failure_rate: float | None  # failed / (completed + failed + expired), all time
    timings: list[PipelineTimings]
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


def _timings(rows: Sequence[tuple[str, datetime, datetime | None, datetime | None]]) -> list[PipelineTimings]:
    waits: dict[str, list[float]] = {}
    runs: dict[str, list[float]] = {}
    for key, created, started, ended in rows:
        if started is None:
            continue
        waits.setdefault(key, []).append(max(0.0, (_aware(started) - _aware(created)).total_seconds()))
        if ended is not None:
            runs.setdefault(key, []).append(max(0.0, (_aware(ended) - _aware(started)).total_seconds()))
    return [PipelineTimings(key, len(waits[key]), percentile(waits[key], 0.5), percentile(waits[key], 0.95),
                            percentile(runs.get(key, []), 0.5), percentile(runs.get(key, []), 0.95))
            for key in sorted(waits)]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite hands back naive UTC


def overview(ctx: AppContext, principal: Principal) -> Overview:
    org_id, only_app = principal.org.id, principal.only_app
    now = datetime.now(UTC)
    queued_statuses = [s.value for s in QUEUED]
    with ctx.sessions() as session:
        counts = dash_store.status_counts(session, org_id, only_app)
        oldest = dash_store.oldest_created(session, org_id, only_app, queued_statuses)
        rows = dash_store.finished_timings(session, org_id, only_app, now - TIMINGS_WINDOW, TIMINGS_MAX_JOBS)
    failed = counts.get(JobStatus.FAILED.value, 0) + counts.get(JobStatus.EXPIRED.value, 0)
    ended = failed + counts.get(JobStatus.COMPLETED.value, 0)
    return Overview(
        status_counts={s.value: counts.get(s.value, 0) for s in JobStatus},
        queued=sum(counts.get(s, 0) for s in queued_statuses),
        oldest_queued_seconds=(now - _aware(oldest)).total_seconds() if oldest is not None else None,
        failure_rate=failed / ended if ended else None, timings=_timings(rows), now=now)


# ---- the Apps screen ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AppView:
    """An app with its versions, oldest first."""

    app: App
    versions: list[AppVersion]

    @property
    def active_version(self) -> str | None:
        """The version jobs naming no version run: the latest active one."""
        active = [v.version for v in self.versions if v.active]
        return active[-1] if active else None


def page_number(value: str | None) -> int:
    """A screen's `page` query value (1 when absent); Invalid (400) names the field."""
    return _parse_int("page", value, 1, 1, 1_000_000)


def list_apps(ctx: AppContext, principal: Principal, page: int, per_page: int) -> Page[AppView]:
    """The org's apps, newest first, with their versions; an app key's own app alone."""
    only_app = principal.only_app
    with ctx.sessions() as session:
        if only_app is None:
            rows, total = app_store.list_apps(session, principal.org.id, (page - 1) * per_page, per_page)
        else:
            own = app_store.get_any(session, only_app)
            rows = [own] if own is not None and own.org_id == principal.org.id and page == 1 else []
            total = 1 if own is not None and own.org_id == principal.org.id else 0
        versions = app_store.versions(session, [r.id for r in rows])
    return Page([AppView(r, versions[r.id]) for r in rows], total)


def set_version_active(ctx: AppContext, principal: Principal, app_id: str, version: str,
                       active: bool) -> AppVersion:
    """Activate or deactivate a version of one of the org's apps (a key of scope org or admin)."""
    principal.require(Scope.ORG, "activating or deactivating an app version")
    return app_service.set_version_active(ctx, principal.org.id, app_id, version, active)


# ---- the Keys screen ---------------------------------------------------------------------------------------

def list_keys(ctx: AppContext, principal: Principal, page: int, per_page: int) -> Page[ApiKey]:
    """The keys of the caller's org, without their secrets (a key of scope org or admin)."""
    principal.require(Scope.ORG, "the Keys page")
    return auth.list_keys(ctx, principal, principal.org.id, (page - 1) * per_page, per_page)


def create_key(ctx: AppContext, principal: Principal, name: str, scope: str, app: str) -> auth.IssuedKey:
    """A new key of the caller's org (its plaintext is shown once); Invalid (400) names a bad field."""
    principal.require(Scope.ORG, "creating API keys")
    try:
        body = auth.KeyCreate(name=name or None, scope=scope or None, app=app or None)
    except ValidationError as problem:
        first = problem.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "key"
        raise _bad(where, str(first.get("msg", "invalid value")), "Correct the value and create the key again.") \
            from None
    return auth.issue_key(ctx, principal, body)


def revoke_key(ctx: AppContext, principal: Principal, key_id: str) -> ApiKey:
    """Revoke a key of the caller's org (NotFound for another org's, unless the caller is an admin)."""
    principal.require(Scope.ORG, "revoking API keys")
    return auth.revoke_key(ctx, principal, key_id)


# ---- the Webhooks screen -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeliveryFilter:
    """What the Webhooks screen's delivery log shows, as held in its URL."""

    status: str = ""
    job_id: str = ""
    event_type: str = ""
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, Sequence[str]]) -> DeliveryFilter:
        def one(name: str) -> str:
            values = [v.strip() for v in params.get(name, ()) if v.strip()]
            return values[-1] if values else ""

        status = one("status").lower()
        if status and status not in callbacks.STATUSES:
            raise _bad("status", f"{status!r} is not a delivery status", f"Use one of {', '.join(callbacks.STATUSES)}.")
        job_id, event_type = one("job_id"), one("event_type")
        if len(job_id) > 64:
            raise _bad("job_id", "a job id has at most 64 characters", "Paste the job's id, e.g. job_01h...")
        if len(event_type) > 100:
            raise _bad("event_type", "an event type has at most 100 characters", "Use e.g. job.completed.")
        return cls(status, job_id, event_type, page_number(one("page")))

    def pairs(self, with_page: bool = False) -> list[tuple[str, str]]:
        pairs = [(k, v) for k, v in (("status", self.status), ("job_id", self.job_id),
                                     ("event_type", self.event_type)) if v]
        return pairs + ([("page", str(self.page))] if with_page and self.page != 1 else [])

    def query_string(self, **changes: Any) -> str:
        return urlencode((replace(self, **changes) if changes else self).pairs(with_page=True))


def list_deliveries(ctx: AppContext, principal: Principal, chosen: DeliveryFilter,
                    per_page: int) -> Page[callbacks.Delivery]:
    """The org's callback deliveries of the filter (an app key: of its app's jobs), newest first."""
    org_id, only_app = principal.org.id, principal.only_app
    query = select(CallbackDelivery).where(CallbackDelivery.org_id == org_id)
    if only_app is not None:
        query = query.where(CallbackDelivery.job_id.in_(select(Job.id).where(Job.org_id == org_id,
                                                                              Job.app_id == only_app)))
    if chosen.job_id:
        query = query.where(CallbackDelivery.job_id == chosen.job_id)
    if chosen.status:
        query = query.where(CallbackDelivery.status == chosen.status)
    if chosen.event_type:
        query = query.where(CallbackDelivery.event_type == chosen.event_type)
    with ctx.sessions() as session:
        rows, total = listing.paged(session, query, [CallbackDelivery.created_at.desc(), CallbackDelivery.id.desc()],
                                    (chosen.page - 1) * per_page, per_page, ctx.settings.limits.list_count_max)
    return Page(rows, total)


def signing_secret(ctx: AppContext, principal: Principal) -> callbacks.SigningSecret | None:
    """The org's webhook signing secret (created on first use); None for an app key, which may not see it."""
    if not principal.allows(Scope.ORG):
        return None
    return callbacks.signing_secret(ctx, principal.org.id)


def rotate_secret(ctx: AppContext, principal: Principal) -> callbacks.SigningSecret:
    principal.require(Scope.ORG, "rotating the webhook signing secret")
    return callbacks.rotate_secret(ctx, principal.org.id)


# ---- the Usage screen --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UsageDay:
    day: str  # YYYY-MM-DD, UTC
    app_id: str | None
    app_name: str | None
    jobs: int
    records: int
    record_groups: int
    billed_units: int


@dataclass(frozen=True)
class UsageView:
    """Billed usage over whole UTC days `first`..`last` (both included): the ledger's totals per app
    and surface with the org's budget (`services.usage.report`), and per app and day."""

    first: date
    last: date
    report: dict[str, Any]
    days: list[UsageDay]


def _parse_day(field_name: str, value: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise _bad(field_name, f"{value!r} is not a date", "Use a date as YYYY-MM-DD, e.g. 2026-01-31.") from None
    if not 1 < day.year < 9999:
        raise _bad(field_name, f"{value!r} is out of range", "Use a date between the years 2 and 9998.")
    return day


def usage_range(ctx: AppContext, first_text: str, last_text: str, today: date | None = None) -> tuple[date, date]:
    """The days a Usage view covers: `from`..`to` (UTC dates, both included); default the last 30
    days; at most setting `ui_usage_max_days` of them."""
    today = today or datetime.now(UTC).date()
    last = _parse_day("to", last_text.strip()) if last_text.strip() else today
    first = _parse_day("from", first_text.strip()) if first_text.strip() else last - timedelta(days=29)
    if first > last:
        raise _bad("to", "the last day is before the first", "Pick a 'to' on or after 'from'.")
    most = ctx.settings.ui.usage_max_days
    if (last - first).days + 1 > most:
        raise _bad("from", f"the range covers {(last - first).days + 1} days, more than {most}",
                   f"Pick at most {most} days (setting JOBPORT_UI_USAGE_MAX_DAYS).")
    return first, last


def usage(ctx: AppContext, principal: Principal, first: date, last: date) -> UsageView:
    org_id, only_app = principal.org.id, principal.only_app
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    until = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    totals = usage_service.report(ctx, org_id, since, until, 0, 1, only_app)
    with ctx.sessions() as session:
        rows = dash_store.usage_by_day(session, org_id, only_app, since, until)
        names = {a.id: a.name for a in app_store.list_apps(session, org_id, 0, 10_000)[0]} if rows else {}
    days = [UsageDay(day, app_id, names.get(app_id or ""), jobs, records, groups, units)
            for day, app_id, jobs, records, groups, units in rows]
    return UsageView(first, last, totals, days)


# ---- the Files screen ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class FilesView:
    """One page of the caller's files, newest first, with where the next (older) page starts."""

    files: list[File]
    older_after: file_service.Position | None
    num_files: int
    num_bytes: int


def list_files(ctx: AppContext, principal: Principal, after: file_service.Position | None,
               per_page: int) -> FilesView:
    """The files a key sees (an app key: its app's reference files), as `GET /v0.5/files/metadata`."""
    found = file_service.list_page(ctx, principal.org.id, per_page, after, None, principal.only_app)
    totals = file_service.summary(ctx, principal.org.id, principal.only_app)
    return FilesView(found.files, found.older_after if found.has_more else None, int(totals.get("num_files", 0)),
                     int(totals.get("num_bytes", 0)))


def require_file_upload(principal: Principal) -> None:
    """ScopeRequired (403) unless the key may upload and delete files (as `POST /v0.5/files`: org or admin)."""
    principal.require(Scope.ORG, "uploading and deleting files")


def record_uploads(ctx: AppContext, principal: Principal,
                   received: Sequence[tuple[str, str, str, file_service.UploadStats]]) -> list[File]:
    """Record files whose bytes are in the blob store (`(file_id, uid, file_type, stats)` each) through
    the service `POST /v0.5/files` uses; an empty one is refused (Invalid) before any is recorded."""
    require_file_upload(principal)
    for file_id, _, _, stats in received:
        if stats.num_bytes == 0:
            raise Invalid(f"file {file_id!r} is empty", field="file", code="invalid_file_size",
                          suggestion="Upload a file with content.")
    return [file_service.record_upload(ctx, principal.org.id, file_id, uid, file_type, stats)
            for file_id, uid, file_type, stats in received]


def file_of(ctx: AppContext, principal: Principal, file_id: str) -> File:
    """One of the caller's files (NotFound for another org's, or an app key's other files)."""
    return file_service.get(ctx, principal.org.id, file_id, principal.only_app)


def delete_file(ctx: AppContext, principal: Principal, file_id: str) -> File:
    require_file_upload(principal)
    return file_service.delete(ctx, principal.org.id, file_id)


# ---- the New job screen --------------------------------------------------------------------------------

NEW_JOB_MAX_FILES = 500  # the newest files the form offers on each port


@dataclass(frozen=True)
class PipelineChoice:
    key: str
    version: str
    name: str
    description: str
    pipeline_type: str


def pipeline_choices(ctx: AppContext) -> list[PipelineChoice]:
    """The latest published version of every pipeline of the registry (`GET /v0.5/batch/registry/pipelines`)."""
    rows, _ = pipeline_service.list_rows(ctx, None, None, pipeline_service.PUBLISHED, 0, 10_000)
    latest = [pipeline_service.get_row(ctx, key) for key in sorted({r.pipeline_key for r in rows})]
    return [PipelineChoice(r.pipeline_key, r.pipeline_version, r.name or r.pipeline_key, r.description or "",
                           r.pipeline_type) for r in latest]


def pipeline_of(ctx: AppContext, key: str) -> dict[str, Any]:
    """The registry's view of a pipeline's latest version (its ports and default config); Invalid
    naming `pipeline` when there is no such pipeline."""
    try:
        return pipeline_service.public(pipeline_service.get_row(ctx, key))
    except NotFound:
        known = ", ".join(c.key for c in pipeline_choices(ctx)) or "(none installed)"
        raise _bad("pipeline", f"unknown pipeline {key!r}", f"Pick one of: {known}.") from None


def file_choices(ctx: AppContext, principal: Principal) -> list[File]:
    return file_service.list_page(ctx, principal.org.id, NEW_JOB_MAX_FILES, None, None, principal.only_app).files


@dataclass
class NewJobForm:
    """The New job form as typed: every value a string; `files[port]` the file ids chosen for a port,
    `classes` and `metadata` (JSON text) per (port, file id)."""

    pipeline: str = ""
    name: str = ""
    priority: str = ""
    tags: str = ""
    parameters: str = ""
    files: dict[str, list[str]] = field(default_factory=dict)
    classes: dict[tuple[str, str], str] = field(default_factory=dict)
    metadata: dict[tuple[str, str], str] = field(default_factory=dict)


def _json_object(field_name: str, text: str, what: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as err:
        raise _bad(field_name, f"not valid JSON ({err})", f"Write {what} as a JSON object.") from None
    if not isinstance(value, dict):
        raise _bad(field_name, f"expected a JSON object, got {type(value).__name__}",
                   f"Write {what} as a JSON object, e.g. {{\"key\": \"value\"}}.")
    return value


def job_body(form: NewJobForm, pipeline: Mapping[str, Any]) -> JobCreate:
    """The body `POST /v0.5/batch/jobs` would take for this form; Invalid naming the field otherwise."""
    parameters = _json_object("parameters", form.parameters,
                              'the parameters, e.g. {"worker": {"config": {...}}}')
    text = form.priority.strip() or "0"
    if not re.fullmatch(r"[+-]?\d{1,4}", text) or not -1000 <= int(text) <= 1000:
        raise _bad("priority", f"{text!r} is not a whole number from -1000 to 1000",
                   "Use 0, or a higher number to run this job before others.")
    priority = int(text)
    inputs: dict[str, list[dict[str, Any]]] = {}
    for port, file_ids in form.files.items():
        items = []
        for i, file_id in enumerate(file_ids):
            meta = _json_object(f"inputs.{port}[{i}].metadata", form.metadata.get((port, file_id), ""),
                                f"the metadata of {file_id}")
            label = form.classes.get((port, file_id), "").strip()
            if label:
                meta["class"] = label
            items.append({"file_id": file_id, **({"metadata": meta} if meta else {})})
        if items:
            inputs[port] = items
    tags = [t.strip() for t in form.tags.split(",") if t.strip()]
    try:
        return JobCreate.model_validate({
            "name": form.name.strip(), "pipeline_type": pipeline["pipeline_type"],
            "pipeline_key": pipeline["pipeline_key"], "inputs": inputs, "parameters": parameters,
            "tags": tags, "priority": priority})
    except ValidationError as problem:
        found = [Problem(f"{_where(e)}: {e.get('msg', 'invalid value')}", _where(e),
                         "Correct the value and submit the form again.", "invalid_parameter")
                 for e in problem.errors()]
        raise Invalid.from_problems(found) from None


def _where(error: Mapping[str, Any]) -> str:
    where = ""
    for part in error.get("loc", ()):
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return where or "body"


def create_job(ctx: AppContext, principal: Principal, form: NewJobForm) -> Job:
    """Create the job of the form through the service `POST /v0.5/batch/jobs` uses (org or admin keys,
    as there): its domain errors name the field."""
    principal.require(Scope.ORG, "creating jobs")
    pipeline = pipeline_of(ctx, form.pipeline)
    job, _ = create_service.create_job(ctx, principal.org.id, job_body(form, pipeline))
    return job
