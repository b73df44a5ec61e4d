"""Limits on the wire: the request-rate dependency every surface route runs, the 429 answer of any
`LimitExceeded` (in the error format of the path's surface, with `Retry-After` and `RateLimit-*`
headers and a `limit` object: which limit, its usage, when it resets), `GET /v0.5/usage/limits`,
and the request body read timeout (`BodyReadTimeout`).

The rate dependency runs after authentication (an unknown key is a 401, not a 429); see
`services.limits` for what is counted and where."""

from __future__ import annotations

from typing import Any, Literal

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobport.api import deps
from jobport.api.archetype.render import error_body as archetype_error_body
from jobport.api.errors import surface_route
from jobport.api.surfaces import surface_for_path
from jobport.config import Settings
from jobport.domain.errors import Problem
from jobport.services import limits
from jobport.services.auth import Principal


def _key_of(principal: Principal) -> str:
    """How the rate limiter names the caller's key."""
    return principal.key_id or f"org-key:{principal.org.id}"


async def enforce_request_rate(ctx: deps.CtxDep, principal: deps.CurrentPrincipal) -> None:
    """Count the request against its key's and its org's rates; `LimitExceeded` (429) over one.
    In the event loop, except every few seconds per org, when the org's overrides are read again."""
    org_id = principal.org.id
    applying = limits.cached_org_limits(ctx, org_id) or await run_in_threadpool(limits.org_limits, ctx, org_id)
    limits.check_request_rate(ctx, org_id, _key_of(principal), applying)


RATE_LIMITED = [Depends(enforce_request_rate)]
RATE_LIMIT_RESPONSES: dict[int | str, dict[str, Any]] = {429: {
    "description": "Over a limit (a request rate, a job quota, the org's inputsFileUrl fetches in flight): the "
                   "error names the limit; `Retry-After` says when to retry; the `limit` object beside the error "
                   "says the limit, its usage and when it resets (docs/operations.md \"Limits\")"}}


async def limit_exceeded(request: Request, exc: Exception) -> JSONResponse:
    """The 429 of a `LimitExceeded`, in the error format of the path's surface."""
    assert isinstance(exc, limits.LimitExceeded)
    body = surface_for_path(request.url.path).error_body(
        [Problem(exc.message, None, exc.suggestion, exc.code)])
    body["limit"] = exc.limit.public()
    headers = {"Retry-After": str(exc.retry_after), "RateLimit-Limit": str(body["limit"]["allowed"]),
               "RateLimit-Remaining": str(body["limit"]["remaining"])}
    return JSONResponse(body, status_code=429, headers=headers)


class LimitPublic(BaseModel):
    """One limit: the setting that sets it, what it allows and what is used now."""

    limit: str = Field(description="The setting (environment name without JOBPORT_), e.g. "
                                   "quota_key_requests_per_second.")
    scope: Literal["key", "org"] = Field(description="Whose usage it counts: the calling key's or its org's.")
    unit: str = Field(description="What is counted.")
    allowed: int | float = Field(description="What the limit allows (a rate's burst, a quota's maximum).")
    used: int | float = Field(description="What is used now.")
    remaining: int | float = Field(description="allowed - used, at least 0.")
    resets_at: str | None = Field(description="When a rate's bucket is full again (ISO 8601 UTC); null for quotas, "
                                              "which free up as jobs end.")


class UsageLimits(BaseModel):
    org_id: str
    limits: list[LimitPublic]


router = APIRouter(tags=["usage"], route_class=surface_route(archetype_error_body))


@router.get("/usage/limits", summary="The caller's limits and their current usage",
            description="Request rates of the calling key and of its org (token buckets counted by the server "
                        "process that answers), the org's quotas of queued or running jobs and pending inputs, "
                        "and its inputsFileUrl fetches in flight; each with the setting that sets it "
                        "(docs/operations.md \"Limits\"). A request over a limit is answered 429 with the same "
                        "`limit` object.", response_model=UsageLimits)
def usage_limits(ctx: deps.CtxDep, principal: deps.CurrentPrincipal) -> dict[str, Any]:
    shown = limits.report(ctx, principal.org.id, _key_of(principal))
    return {"org_id": principal.org.id, "limits": [limit.public() for limit in shown]}


class BodyTimedOut(Exception):
    """The client sent no part of the request body within the read timeout."""


class BodyReadTimeout:
    """ASGI middleware: while a request body is incomplete, each wait for its next part lasts at
    most `seconds`; past that the request is answered 408 with `Connection: close` (instead of
    whatever the app answers a body that never came: FastAPI says 400 "error parsing the body"), so
    the server drops a client that stops sending mid-body."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = timed_out = answered = ours = False

        async def timed_receive() -> Message:
            nonlocal body_done, timed_out
            if body_done:
                return await receive()
            with anyio.move_on_after(self.seconds) as waited:
                message = await receive()
            if waited.cancelled_caught:
                timed_out = True
                raise BodyTimedOut
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered, ours
            if timed_out and (ours or not answered):  # the app's answer to the missing body: ours instead
                if not ours:
                    ours = answered = True
                    await self._answer_timeout(scope, send)
                return
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except BodyTimedOut:
            if answered and not ours:
                raise
            if not ours:
                await self._answer_timeout(scope, send)

    async def _answer_timeout(self, scope: Scope, send: Send) -> None:
        body = surface_for_path(scope.get("path", "")).error_body([Problem(
            f"the request body did not arrive: no data for {self.seconds:g} s", "body",
            "Send the whole body promptly (Content-Length must match what is sent).", "request_timeout")])
        response = JSONResponse(body, status_code=408, headers={"Connection": "close"})

        async def nothing() -> Message:
            return {"type": "http.disconnect"}

        await response(scope, nothing, send)


def install(app: FastAPI, settings: Settings) -> None:
    """The 429 handler, the body read timeout and `GET /v0.5/usage/limits` on `app`."""
    app.add_exception_handler(limits.LimitExceeded, limit_exceeded)
    app.add_middleware(BodyReadTimeout, seconds=settings.http.body_read_timeout_seconds)
    app.include_router(router, prefix="/v0.5", dependencies=RATE_LIMITED, responses=RATE_LIMIT_RESPONSES)
