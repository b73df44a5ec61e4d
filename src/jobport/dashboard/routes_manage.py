"""The org's management screens: Apps (each app's versions, pipeline, active version and pricing;
activate and deactivate a version), Keys (list, create with the new key shown once, revoke) and
Webhooks (the callback delivery log filtered by status, job and event type in the URL, replay,
and the signing secret with its rotation). An app key sees its own app and its jobs' deliveries;
changing anything here, the Keys page and the signing secret need a key of scope org or admin (403)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from jobport.dashboard.deps import CheckedForm, CsrfToken, SignedIn, UiCtx, form_value
from jobport.dashboard.pages import PREFIX, page
from jobport.services import callbacks
from jobport.services import dashboard as dash
from jobport.services.auth import IssuedKey, Principal, Scope
from jobport.services.context import AppContext

router = APIRouter()
PER_PAGE = 50  # rows of one page of the Apps, Keys and Webhooks lists
SCOPES = ("org", "app")


def _page(request: Request) -> int:
    return dash.page_number(request.query_params.get("page"))


def _pages(total: int) -> int:
    return max(1, -(-total // PER_PAGE))


# ---- Apps ----------------------------------------------------------------------------------------------

@router.get("/apps", response_class=HTMLResponse)
def apps_page(request: Request, ctx: UiCtx, principal: SignedIn, csrf: CsrfToken) -> Response:
    number = _page(request)
    listed = dash.list_apps(ctx, principal, number, PER_PAGE)
    return page(request, "apps.html", title="Apps", principal=principal, csrf=csrf, listed=listed, page_no=number,
                pages=_pages(listed.total), can_manage=principal.allows(Scope.ORG))


@router.post("/apps/{app_id}/versions/{version}/{action}")
def app_version(ctx: UiCtx, principal: SignedIn, form: CheckedForm, app_id: str, version: str,
                action: str) -> Response:
    if action not in ("activate", "deactivate"):
        raise HTTPException(404, f"no action {action!r}: use activate or deactivate")
    dash.set_version_active(ctx, principal, app_id, version, action == "activate")
    return RedirectResponse(f"{PREFIX}/apps#app-{app_id}", status_code=303)


# ---- Keys ----------------------------------------------------------------------------------------------

def _keys_page(request: Request, ctx: AppContext, principal: Principal, csrf: str, issued: IssuedKey | None = None,
               status_code: int = 200) -> Response:
    number = _page(request) if issued is None else 1
    listed = dash.list_keys(ctx, principal, number, PER_PAGE)
    apps = dash.filter_choices(ctx, principal).apps
    return page(request, "keys.html", status_code=status_code, title="Keys", principal=principal, csrf=csrf,
                listed=listed, page_no=number, pages=_pages(listed.total), issued=issued, apps=apps,
                scopes=SCOPES + (("admin",) if principal.allows(Scope.ADMIN) else ()))


@router.get("/keys", response_class=HTMLResponse)
def keys_page(request: Request, ctx: UiCtx, principal: SignedIn, csrf: CsrfToken) -> Response:
    return _keys_page(request, ctx, principal, csrf)


@router.post("/keys", response_class=HTMLResponse)
def create_key(request: Request, ctx: UiCtx, principal: SignedIn, form: CheckedForm, csrf: CsrfToken) -> Response:
    """The new key, shown on this one page (no-store) and never again: only its hash is kept."""
    scope = form_value(form, "scope")
    app = form_value(form, "app") if scope == "app" else ""
    issued = dash.create_key(ctx, principal, form_value(form, "name"), scope, app)
    return _keys_page(request, ctx, principal, csrf, issued=issued, status_code=201)


@router.post("/keys/{key_id}/revoke")
def revoke_key(ctx: UiCtx, principal: SignedIn, form: CheckedForm, key_id: str) -> Response:
    dash.revoke_key(ctx, principal, key_id)
    return RedirectResponse(f"{PREFIX}/keys", status_code=303)


# ---- Webhooks ------------------------------------------------------------------------------------------

def delivery_filter(request: Request) -> dash.DeliveryFilter:
    return dash.DeliveryFilter.parse({name: request.query_params.getlist(name)
                                      for name in ("status", "job_id", "event_type", "page")})


@router.get("/webhooks", response_class=HTMLResponse)
def webhooks_page(request: Request, ctx: UiCtx, principal: SignedIn, csrf: CsrfToken) -> Response:
    chosen = delivery_filter(request)
    listed = dash.list_deliveries(ctx, principal, chosen, PER_PAGE)
    here = f"{PREFIX}/webhooks" + (f"?{chosen.query_string()}" if chosen.query_string() else "")
    return page(request, "webhooks.html", title="Webhooks", principal=principal, csrf=csrf, filter=chosen,
                listed=listed, pages=_pages(listed.total), statuses=callbacks.STATUSES,
                secret=dash.signing_secret(ctx, principal), here=here,
                grace=ctx.settings.callbacks.secret_grace_seconds)


@router.post("/webhooks/secret/rotate")
def rotate_secret(ctx: UiCtx, principal: SignedIn, form: CheckedForm) -> Response:
    dash.rotate_secret(ctx, principal)
    return RedirectResponse(f"{PREFIX}/webhooks#secret", status_code=303)
