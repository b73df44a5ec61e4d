"""The Overview (status counts, failure rate, queue depth and the oldest queued job's age, p50/p95
queue wait and run time per pipeline, as server-rendered SVG; every tile links to the filtered
Jobs list) and the System page (readiness checks, versions, settings that are not secrets)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jobport.dashboard.deps import CsrfToken, SignedIn, UiCtx
from jobport.dashboard.pages import PREFIX, page
from jobport.domain.statuses import JobStatus
from jobport.services import dashboard as dash
from jobport.services import readiness
from jobport.services.auth import Scope
from jobport.services.context import AppContext

router = APIRouter()
SECRET_WORDS = ("secret", "key", "password", "token", "credential")


@router.get("/")
def home() -> Response:
    return RedirectResponse(f"{PREFIX}/overview", status_code=303)


@router.get("/overview", response_class=HTMLResponse)
def overview_page(request: Request, ctx: UiCtx, principal: SignedIn, csrf: CsrfToken) -> Response:
    numbers = dash.overview(ctx, principal)
    highest_count = max(numbers.status_counts.values(), default=0)
    highest_time = max((v or 0.0 for t in numbers.timings for v in (t.wait_p95, t.run_p95)), default=0.0)
    return page(request, "overview.html", title="Overview", principal=principal, csrf=csrf, o=numbers,
                statuses=[s.value for s in JobStatus], highest_count=highest_count, highest_time=highest_time)


def _public_settings(ctx: AppContext) -> list[tuple[str, Any]]:
    """The settings as `name = value`, without any whose name suggests a secret, nor URLs with passwords."""
    shown: list[tuple[str, Any]] = []
    for group, values in ctx.settings.model_dump(mode="json").items():
        items = values.items() if isinstance(values, dict) else [("", values)]
        for name, value in items:
            full = f"{group}.{name}" if name else group
            if any(word in full.lower() for word in SECRET_WORDS):
                continue
            if isinstance(value, str) and "://" in value and "@" in value:
                value = "(set; not shown: it may hold a password)"
            shown.append((full, value))
    return sorted(shown)


@router.get("/system", response_class=HTMLResponse)
def system_page(request: Request, ctx: UiCtx, principal: SignedIn, csrf: CsrfToken) -> Response:
    principal.require(Scope.ADMIN, "the System page")
    ready = readiness.check(ctx)
    return page(request, "system.html", title="System", principal=principal, csrf=csrf, ready=ready,
                settings=_public_settings(ctx), database=ctx.db.dialect.name, scheduler=ctx.scheduler_state)
