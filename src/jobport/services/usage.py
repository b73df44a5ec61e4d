"""The usage ledger: what each org was billed, per app and surface (units of $0.001)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jobport.domain.times import iso_utc
from jobport.services.context import AppContext
from jobport.store import apps as app_store
from jobport.store.db import transaction
from jobport.store.tables import Org, UsageEntry


def over_budget(session: Session, org_id: str, extra_units: int = 0) -> bool:
    """Whether the org's billed usage plus `extra_units` exceeds its budget (no budget: never)."""
    budget = session.scalar(select(Org.budget_units).where(Org.id == org_id))
    if budget is None:
        return False
    billed = session.scalar(select(func.coalesce(func.sum(UsageEntry.billed_units), 0))
                            .where(UsageEntry.org_id == org_id)) or 0
    return int(billed) + extra_units > int(budget)


def set_budget(ctx: AppContext, org_id: str, budget_units: int | None) -> None:
    """Set (None: remove) the org's budget. The scheduler is woken: jobs SUSPENDED over the old
    budget may run now, waiting jobs over the new one get suspended."""
    with transaction(ctx.sessions) as session:
        _org(session, org_id).budget_units = budget_units
    ctx.wake_scheduler()


def _org(session: Session, org_id: str) -> Org:
    org = session.get(Org, org_id)
    if org is None:
        raise LookupError(f"org {org_id} does not exist")  # callers pass the authenticated org
    return org


def report(ctx: AppContext, org_id: str, since: datetime | None, until: datetime | None,
           offset: int, limit: int, only_app: str | None = None) -> dict[str, Any]:
    """Billed usage in [since, until): totals, per app and surface (most billed first), and one page
    of the ledger's entries (newest first), with the org's budget; `only_app` (an app key's app):
    that app's usage alone."""
    with ctx.sessions() as session:
        totals = app_store.usage_totals(session, org_id, since, until, only_app)
        entries, total = app_store.usage_entries(session, org_id, since, until, offset, limit,
                                                 ctx.settings.limits.list_count_max, only_app)
        names = {a.id: a.name for a in app_store.list_apps(session, org_id, 0, 10_000)[0]}
        budget = _org(session, org_id).budget_units
    by_app = [{"app_id": app_id, "app_name": names.get(app_id), "surface": surface, "jobs": jobs,
               "records": int(records or 0), "record_groups": int(groups or 0), "billed_units": int(units or 0)}
              for app_id, surface, jobs, records, groups, units in totals]
    billed_units = sum(r["billed_units"] for r in by_app)
    return {
        "org_id": org_id, "since": iso_utc(since), "until": iso_utc(until), "budget_units": budget,
        "totals": {"jobs": sum(r["jobs"] for r in by_app), "records": sum(r["records"] for r in by_app),
                   "record_groups": sum(r["record_groups"] for r in by_app),
                   "billed_units": billed_units, "billed_usd": round(billed_units / 1000, 3)},
        "by_app": sorted(by_app, key=lambda r: -r["billed_units"]),
        "total": total, "offset": offset, "limit": limit,
        "entries": [_entry_public(e) for e in entries],
    }


def _entry_public(entry: UsageEntry) -> dict[str, Any]:
    return {"job_id": entry.job_id, "app_id": entry.app_id, "surface": entry.surface, "records": entry.records,
            "record_groups": entry.record_groups, "billed_units": entry.billed_units,
            "created_at": iso_utc(entry.created_at)}
