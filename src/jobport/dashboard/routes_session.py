"""Signing in with an API key (a session cookie, never the key itself) and signing out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jobport.dashboard.deps import CheckedForm, CsrfToken, UiCtx, UiSigner, form_value
from jobport.dashboard.pages import PREFIX, page
from jobport.dashboard.security import COOKIE_PATH, SESSION_COOKIE
from jobport.services import auth

router = APIRouter()


def _safe_next(target: str) -> str:
    """Where to go after signing in: a dashboard path only (never another host)."""
    if target.startswith(f"{PREFIX}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PREFIX}/"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, csrf: CsrfToken, next: str = "") -> Response:
    return page(request, "login.html", title="Sign in", csrf=csrf, next=_safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, ctx: UiCtx, signer: UiSigner, form: CheckedForm, csrf: CsrfToken) -> Response:
    key = form_value(form, "api_key")
    target = _safe_next(form_value(form, "next"))
    principal = auth.authenticate_principal(ctx, key) if key else None
    if principal is None or principal.key_id is None:
        error = "Paste an API key." if not key else "That API key is unknown or revoked."
        return page(request, "login.html", status_code=401, title="Sign in", csrf=csrf, next=target, error=error)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, signer.session_value(principal.key_id), max_age=signer.session_max_seconds,
                        path=COOKIE_PATH, secure=request.url.scheme == "https", httponly=True, samesite="strict")
    return response


@router.post("/logout")
def logout(request: Request, form: CheckedForm) -> Response:
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return response
