"""The Usage screen: billed usage of the org (an app key: its app) over whole UTC days `from`..`to`
(in the URL; default the last 30 days), per app and surface with the budget, and per app and day,
with that table as a CSV download."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from jobport.dashboard.deps import CsrfToken, SignedIn, UiCtx
from jobport.dashboard.pages import page
from jobport.services import dashboard as dash

router = APIRouter()
CSV_COLUMNS = ("day", "app_id", "app_name", "jobs", "records", "record_groups", "billed_units", "billed_usd")


def _view(request: Request, ctx: UiCtx, principal: SignedIn) -> dash.UsageView:
    first, last = dash.usage_range(ctx, request.query_params.get("from", ""), request.query_params.get("to", ""))
    return dash.usage(ctx, principal, first, last)


@router.get("/usage", response_class=HTMLResponse)
def usage_page(request: Request, ctx: UiCtx, principal: SignedIn, csrf: CsrfToken) -> Response:
    view = _view(request, ctx, principal)
    highest = max((d.billed_units for d in view.days), default=0)
    return page(request, "usage.html", title="Usage", principal=principal, csrf=csrf, u=view, r=view.report,
                highest=highest, range=f"from={view.first.isoformat()}&to={view.last.isoformat()}")


def _csv(days: list[dash.UsageDay]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for d in days:
        writer.writerow((d.day, d.app_id or "", d.app_name or "", d.jobs, d.records, d.record_groups, d.billed_units,
                         f"{d.billed_units / 1000:.3f}"))
    yield buffer.getvalue()


@router.get("/usage.csv")
def usage_csv(request: Request, ctx: UiCtx, principal: SignedIn) -> Response:
    view = _view(request, ctx, principal)
    name = f"usage-{view.first.isoformat()}-{view.last.isoformat()}.csv"
    return StreamingResponse(_csv(view.days), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})
