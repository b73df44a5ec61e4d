"""Dependencies shared by every surface (as `Annotated` aliases): the app context and the caller
(any of the three auth headers: `Authorization: Bearer`, `API-KEY`, `x-api-key`), and what the
caller's key scope allows: `OrgPrincipal` / `OrgWide` (scope org or admin), `AdminPrincipal`, and
`OnlyApp` (the app an app key is limited to). The headers are FastAPI security schemes, so OpenAPI
lists them under `securitySchemes` and on every route."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from jobport.domain.errors import Unauthorized
from jobport.services import auth
from jobport.services.context import AppContext

if TYPE_CHECKING:
    from jobport.services.views import Org


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


CtxDep = Annotated[AppContext, Depends(get_ctx)]

# auto_error=False: a missing key is answered by `current_principal` in the surface's error format
bearer = HTTPBearer(auto_error=False, scheme_name="bearer",
                    description="Archetype AI style: `Authorization: Bearer KEY`.")
api_key = APIKeyHeader(name="API-KEY", auto_error=False, scheme_name="apiKey", description="super.AI style header.")
x_api_key = APIKeyHeader(name="x-api-key", auto_error=False, scheme_name="xApiKey",
                         description="Gravity AI style header.")


def current_principal(
    ctx: CtxDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    api_key_value: Annotated[str | None, Depends(api_key)],
    x_api_key_value: Annotated[str | None, Depends(x_api_key)],
) -> auth.Principal:
    key = (credentials.credentials.strip() if credentials else None) or api_key_value or x_api_key_value
    if not key:
        raise Unauthorized("missing API key",
                           suggestion="Send 'Authorization: Bearer <key>' (or an API-KEY / x-api-key header).")
    principal = auth.authenticate_principal(ctx, key)
    if principal is None:
        raise Unauthorized("invalid API key",
                           suggestion="Check the key; create one with `jobport keys create --org NAME`.")
    return principal


CurrentPrincipal = Annotated[auth.Principal, Depends(current_principal)]


def current_org(principal: CurrentPrincipal) -> Org:
    return principal.org


CurrentOrg = Annotated["Org", Depends(current_org)]


# Key scopes (services.auth.Scope). A route names what it needs by the alias it depends on; an app
# key is refused org-wide actions (403 naming the scope needed), and what it reads and acts on is
# narrowed to its app by the services, given `OnlyApp`.
def _action(request: Request) -> str:
    return f"{request.method} {request.url.path}"


def org_principal(request: Request, principal: CurrentPrincipal) -> auth.Principal:
    principal.require(auth.Scope.ORG, _action(request))
    return principal


def admin_principal(request: Request, principal: CurrentPrincipal) -> auth.Principal:
    principal.require(auth.Scope.ADMIN, _action(request))
    return principal


OrgPrincipal = Annotated[auth.Principal, Depends(org_principal)]
AdminPrincipal = Annotated[auth.Principal, Depends(admin_principal)]


def scope_needed(route: Any) -> auth.Scope | None:
    """The scope a route's dependencies ask of the key (None: any key, or no key at all); `route`:
    an `APIRoute`, or a route context of `fastapi.routing.iter_route_contexts`."""
    calls: set[Any] = set()
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        calls.add(dependency.call)
        pending += dependency.dependencies
    if admin_principal in calls:
        return auth.Scope.ADMIN
    return auth.Scope.ORG if org_principal in calls else None


def org_wide(principal: OrgPrincipal) -> Org:
    return principal.org


OrgWide = Annotated["Org", Depends(org_wide)]  # the caller's org, for a key of scope org or admin


def only_app(principal: CurrentPrincipal) -> str | None:
    return principal.only_app


OnlyApp = Annotated[str | None, Depends(only_app)]  # the app an app key is limited to; None: the whole org


def base_url(request: Request, ctx: AppContext) -> str:
    return (ctx.settings.public_url or str(request.base_url)).rstrip("/")
