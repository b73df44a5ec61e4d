"""The usage ledger: what each org was billed, per app and surface (units of $0.001)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from jobport.services.context import AppContext
from jobport.store import apps as app_store
from jobport.store.db import as_utc, transaction
from jobport.store.tables import Org, UsageEntry


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat().replace("+00:00", "Z") if value else None


def over_budget(session, org_id: str, extra_units: int = 0) -> bool:
    """Whether the org's billed usage plus `extra_units` exceeds its budget (no budget: never)."""
    budget = session.scalar(select(Org.budget_units).where(Org.id == org_id))
    if budget is None:
        return False
    billed = session.scalar(select(func.coalesce(func.sum(UsageEntry.billed_units), 0))
                            .where(UsageEntry.org_id == org_id)) or 0
    return int(billed) + extra_units > budget


def set_budget(ctx: AppContext, org_id: str, budget_units: int | None) -> None:
    with transaction(ctx.sessions) as session:
        session.get(Org, org_id).budget_units = budget_units


def report(ctx: AppContext, org_id: str, since: datetime | None, until: datetime | None,
           offset: int, limit: int) -> dict[str, Any]:
    with ctx.sessions() as session:
        totals = app_store.usage_totals(session, org_id, since, until)
        entries, total = app_store.usage_entries(session, org_id, since, until, offset, limit)
        names = {a.id: a.name for a in app_store.list_apps(session, org_id, 0, 10_000)[0]}
        budget = session.get(Org, org_id).budget_units
    by_app = [{"app_id": app_id, "app_name": names.get(app_id), "surface": surface, "jobs": jobs,
               "records": int(records or 0), "record_groups": int(groups or 0), "billed_units": int(units or 0)}
              for app_id, surface, jobs, records, groups, units in totals]
    return {
        "org_id": org_id, "since": _iso(since), "until": _iso(until), "budget_units": budget,
        "totals": {"jobs": sum(r["jobs"] for r in by_app), "records": sum(r["records"] for r in by_app),
                   "record_groups": sum(r["record_groups"] for r in by_app),
                   "billed_units": sum(r["billed_units"] for r in by_app),
                   "billed_usd": round(sum(r["billed_units"] for r in by_app) / 1000, 3)},
        "by_app": sorted(by_app, key=lambda r: -r["billed_units"]),
        "total": total, "offset": offset, "limit": limit,
        "entries": [{"job_id": e.job_id, "app_id": e.app_id, "surface": e.surface, "records": e.records,
                     "record_groups": e.record_groups, "billed_units": e.billed_units, "created_at": _iso(e.created_at)}
                    for e in entries],
    }
