"""Apps, their versions, app-bound API keys and the usage ledger."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jobport.store import listing
from jobport.store.tables import App, AppVersion, UsageEntry


def get(session: Session, org_id: str, app_ref: str) -> App | None:
    """An org's app by UUID or by name."""
    app = session.scalar(select(App).where(App.org_id == org_id, App.id == app_ref))
    return app or session.scalar(select(App).where(App.org_id == org_id, App.name == app_ref))


def get_any(session: Session, app_id: str) -> App | None:
    return session.get(App, app_id)


def list_apps(session: Session, org_id: str, offset: int, limit: int) -> tuple[list[App], int]:
    query = select(App).where(App.org_id == org_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(App.created_at.desc(), App.id.desc()).offset(offset).limit(limit)).all()
    return list(rows), total


def versions(session: Session, app_ids: Sequence[str]) -> dict[str, list[AppVersion]]:
    out: dict[str, list[AppVersion]] = {app_id: [] for app_id in app_ids}
    if not app_ids:
        return out
    rows = session.scalars(select(AppVersion).where(AppVersion.app_id.in_(app_ids))
                           .order_by(AppVersion.created_at, AppVersion.id))
    for row in rows:
        out[row.app_id].append(row)
    return out


def versions_by_label(session: Session, wanted: Iterable[tuple[str | None, str | None]]
                      ) -> dict[tuple[str | None, str | None], AppVersion]:
    """The app versions named by (app id, version label) pairs, in one query."""
    pairs = [(a, v) for a, v in wanted if a and v]
    if not pairs:
        return {}
    rows = session.scalars(select(AppVersion).where(AppVersion.app_id.in_({a for a, _ in pairs})))
    found = {(row.app_id, row.version): row for row in rows}
    return {pair: found[pair] for pair in pairs if pair in found}


def get_version(session: Session, app_id: str, version: str) -> AppVersion | None:
    return session.scalar(select(AppVersion).where(AppVersion.app_id == app_id, AppVersion.version == version))


def latest_active_version(session: Session, app_id: str) -> AppVersion | None:
    return session.scalar(select(AppVersion).where(AppVersion.app_id == app_id, AppVersion.active.is_(True))
                          .order_by(AppVersion.created_at.desc(), AppVersion.id.desc()).limit(1))


def _of_app(app_id: str | None) -> list:
    return [] if app_id is None else [UsageEntry.app_id == app_id]


def add_usage(session: Session, entry: UsageEntry) -> None:
    session.add(entry)


def usage_totals(session: Session, org_id: str, since: datetime | None, until: datetime | None,
                 app_id: str | None = None) -> list[tuple]:
    """(app_id, surface, jobs, records, record_groups, billed_units) per app and surface (of one
    app, if `app_id`)."""
    query = select(UsageEntry.app_id, UsageEntry.surface, func.count(), func.sum(UsageEntry.records),
                   func.sum(UsageEntry.record_groups), func.sum(UsageEntry.billed_units)
                   ).where(UsageEntry.org_id == org_id, *_of_app(app_id))
    if since is not None:
        query = query.where(UsageEntry.created_at >= since)
    if until is not None:
        query = query.where(UsageEntry.created_at < until)
    return [tuple(r) for r in session.execute(query.group_by(UsageEntry.app_id, UsageEntry.surface))]


def usage_entries(session: Session, org_id: str, since: datetime | None, until: datetime | None,
                  offset: int, limit: int, count_max: int = listing.DEFAULT_COUNT_MAX,
                  app_id: str | None = None) -> tuple[list[UsageEntry], int]:
    """Newest first (ix_usage_org_created), with a bounded total (`store.listing`); of one app if `app_id`."""
    query = select(UsageEntry).where(UsageEntry.org_id == org_id, *_of_app(app_id))
    if since is not None:
        query = query.where(UsageEntry.created_at >= since)
    if until is not None:
        query = query.where(UsageEntry.created_at < until)
    return listing.paged(session, query, [UsageEntry.created_at.desc(), UsageEntry.id.desc()], offset, limit,
                         count_max)
