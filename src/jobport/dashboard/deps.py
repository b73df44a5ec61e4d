"""Dependencies of the dashboard's routes, as `Annotated` aliases: the application context (on the
app the dashboard is mounted on), the signed-in caller (`SignedIn`; a browser without a session is
sent to the sign-in form), the signer of cookies and tokens, and the checked form of a POST
(`CheckedForm`: refused with 403 unless it carries the CSRF token of the browser's cookie)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from jobport.dashboard.security import CSRF_COOKIE, CSRF_FIELD, SESSION_COOKIE, Signer
from jobport.domain.errors import DomainError
from jobport.services import dashboard as dash
from jobport.services.auth import Principal
from jobport.services.context import AppContext, load_or_create_secret


class SignInRequired(Exception):
    """No valid session: pages redirect to the sign-in form, other requests answer 401."""


class CsrfRejected(DomainError):
    status_code = 403
    default_code = "csrf_rejected"


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.parent.state.ctx  # the context of the app /ui is mounted on
    return ctx


UiCtx = Annotated[AppContext, Depends(get_ctx)]


def get_signer(request: Request, ctx: UiCtx) -> Signer:
    state = request.app.state
    signer: Signer | None = getattr(state, "signer", None)
    if (signer is None or getattr(state, "signer_for", None) is not ctx
            or signer.session_max_seconds != ctx.settings.ui.session_max_seconds):
        signer = Signer(load_or_create_secret(ctx.settings), ctx.settings.ui.session_max_seconds)
        state.signer, state.signer_for = signer, ctx
    return signer


UiSigner = Annotated[Signer, Depends(get_signer)]


def signed_in(request: Request, ctx: UiCtx, signer: UiSigner) -> Principal:
    key_id = signer.session_key_id(request.cookies.get(SESSION_COOKIE))
    principal = dash.principal_for_key_id(ctx, key_id) if key_id else None
    if principal is None:
        raise SignInRequired()
    return principal


SignedIn = Annotated[Principal, Depends(signed_in)]


def csrf_token(request: Request, signer: UiSigner) -> str:
    """The token the forms of this page carry (of the browser's CSRF cookie, set by the middleware)."""
    return signer.csrf_token(request.state.csrf_cookie)


CsrfToken = Annotated[str, Depends(csrf_token)]


async def checked_form(request: Request, signer: UiSigner) -> FormData:
    form = await request.form()
    token = form.get(CSRF_FIELD)
    if not signer.csrf_ok(request.cookies.get(CSRF_COOKIE), token if isinstance(token, str) else None):
        raise CsrfRejected("the form's security token is missing or does not match this browser's",
                           field=CSRF_FIELD, suggestion="Reload the page and submit the form again.")
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def form_values(form: FormData, name: str) -> list[str]:
    return [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def form_value(form: FormData, name: str) -> str:
    values = form_values(form, name)
    return values[-1] if values else ""
