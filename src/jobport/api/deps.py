"""Dependencies shared by every surface: the app context and the caller's org (any of the three
auth headers: `Authorization: Bearer`, `API-KEY`, `x-api-key`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from jobport.domain.errors import Unauthorized
from jobport.services import auth
from jobport.services.context import AppContext
from jobport.store.tables import Org


def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx


CtxDep = Annotated[AppContext, Depends(get_ctx)]


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return request.headers.get("api-key") or request.headers.get("x-api-key")


def current_principal(request: Request, ctx: CtxDep) -> auth.Principal:
    key = presented_key(request)
    if not key:
        raise Unauthorized("missing API key", suggestion="Send 'Authorization: Bearer <key>' (or an API-KEY / x-api-key header).")
    principal = auth.authenticate_principal(ctx, key)
    if principal is None:
        raise Unauthorized("invalid API key", suggestion="Check the key; create one with `jobport keys create --org NAME`.")
    return principal


CurrentPrincipal = Annotated[auth.Principal, Depends(current_principal)]


def current_org(principal: CurrentPrincipal) -> Org:
    return principal.org


CurrentOrg = Annotated[Org, Depends(current_org)]


def base_url(request: Request, ctx: AppContext) -> str:
    return (ctx.settings.public_url or str(request.base_url)).rstrip("/")
