"""Request ids, access logs and HTTP metrics for every request an app serves.

`RequestObservability` is the outermost ASGI middleware (`install`): it takes the request's
`X-Request-ID` when it is a valid one (else makes one), echoes it on the response, errors included,
puts the request's id, route template and org on every log record made while it is served
(`jobport.log.set_request_fields`), writes one access line when it ends, and counts it in the
process's `Telemetry` by route template (the FastAPI route path, never the raw URL) and status
class. The org is known once the key is checked: `LOG_ORG`, a dependency of the authenticated
routers, notes it on the request.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobport import log
from jobport.api.deps import CurrentPrincipal
from jobport.config import Settings

HEADER = "X-Request-ID"
UNMATCHED = "unmatched"  # the route label of a request no route matched (404s of unknown paths)
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})  # their access lines are debug records
_ID_KEY = "jobport.request_id"
_ORG_KEY = "jobport.org_id"
_TEMPLATES_KEY = "jobport.route_templates"
_VALID_ID = re.compile(r"[A-Za-z0-9._:/+=@-]+")
_HEADER_BYTES = HEADER.lower().encode()

access_log = structlog.get_logger("jobport.access")


async def note_org(request: Request, principal: CurrentPrincipal) -> None:
    request.scope[_ORG_KEY] = principal.org.id


LOG_ORG = Depends(note_org)


def route_templates(routes: Sequence[BaseRoute]) -> dict[int, str]:
    """Each route's whole path template (router prefixes included), by the id of the object the
    router puts in the request scope: the APIRoute (`scope["route"]`), else the endpoint or mounted
    app (`scope["endpoint"]`)."""
    found: dict[int, str] = {}
    for context in iter_route_contexts(routes):
        route = context.original_route
        key = id(route) if isinstance(route, APIRoute) else id(context.endpoint)
        if context.path_format:
            found.setdefault(key, context.path_format)
    return found


def route_template(scope: Scope) -> str | None:
    """The path template of the route that matched (`/v0.5/batch/jobs/{job_id}`), or None."""
    templates: dict[int, str] = scope.get(_TEMPLATES_KEY) or {}
    route = scope.get("route")
    if isinstance(route, APIRoute):
        return templates.get(id(route), route.path_format)
    endpoint = scope.get("endpoint")
    return templates.get(id(endpoint)) if endpoint is not None else None


def request_id_of(scope: Scope, max_chars: int) -> str | None:
    """The caller's `X-Request-ID` if it is 1..max_chars of letters, digits and `._:/+=@-`."""
    for name, value in scope.get("headers", ()):
        if name == _HEADER_BYTES:
            text = value.decode("latin-1").strip()
            return text if len(text) <= max_chars and _VALID_ID.fullmatch(text) else None
    return None


def _fields(scope: Scope) -> Mapping[str, Any]:
    return {"request_id": scope.get(_ID_KEY), "route": route_template(scope), "org_id": scope.get(_ORG_KEY)}


class RequestObservability:
    def __init__(self, app: ASGIApp, max_id_chars: int, access: bool) -> None:
        self.app = app
        self.max_id_chars = max_id_chars
        self.access = access
        self._templates: dict[int, str] | None = None  # built at the first request: every route is added by then

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope, self.max_id_chars) or uuid.uuid4().hex
        scope[_ID_KEY] = request_id
        if self._templates is None:
            self._templates = route_templates(getattr(scope.get("app"), "routes", ()))
        scope[_TEMPLATES_KEY] = self._templates
        echoed = (_HEADER_BYTES, request_id.encode())
        status = 500  # what the client gets if the app raises before it answers
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", ()) if h[0].lower() != _HEADER_BYTES]
                message = {**message, "headers": [*headers, echoed]}
            await send(message)

        token = log.set_request_fields(partial(_fields, scope))
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started)
            log.reset_request_fields(token)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        app = scope.get("app")
        ctx = getattr(getattr(app, "state", None), "ctx", None)
        if ctx is not None:
            ctx.telemetry.http_request(scope["method"], route_template(scope) or UNMATCHED, status, seconds)
        if self.access:
            write = access_log.debug if scope["path"] in PROBES else access_log.info
            write("request", method=scope["method"], path=scope["path"], status=status,
                  duration_ms=round(seconds * 1000, 2))


def install(app: FastAPI, settings: Settings) -> None:
    """Add the middleware outermost (call after every other `add_middleware`)."""
    app.add_middleware(RequestObservability, max_id_chars=settings.http.request_id_max_chars,
                       access=settings.log.access)
