"""The FastAPI app factories: `build_app` mounts every surface on one app with the error handlers,
the JSON body limit and the ops routes (`/healthz`, `/readyz`); `build_ops_app` serves only the ops
routes (the scheduler role). What runs beside the API is wired by `server.py`."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from jobport import __version__
from jobport.api import admin as admin_routes
from jobport.api import blobs as blob_routes
from jobport.api import errors, observability, openapi, ops, upload_parts
from jobport.api import limits as limits_api
from jobport.api.surfaces import ARCHETYPE, SURFACES, surface_for_path
from jobport.config import Settings
from jobport.domain.errors import Problem


class BodyLimit:
    """413 for JSON (non-multipart) bodies over `max_json_body_bytes`, before they are read. Part
    PUTs of direct uploads are file bytes, checked against their part's length instead."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not upload_parts.is_part_upload(scope):
            headers = dict(scope["headers"])
            content_type = headers.get(b"content-type", b"")
            length = headers.get(b"content-length", b"")
            if not content_type.startswith(b"multipart/") and length.isdigit() and int(length) > self.limit:
                body = surface_for_path(scope.get("path", "")).error_body([Problem(
                    f"request body is larger than {self.limit} bytes", "body",
                    "Send a smaller body; upload big data through /v0.5/files.", "request_too_large")])
                await JSONResponse(body, status_code=413)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def build_app(settings: Settings, lifespan: Callable[[FastAPI], AbstractAsyncContextManager[Any]]) -> FastAPI:
    """The app; `lifespan` must put the application context on `app.state.ctx`."""
    app = FastAPI(
        title="jobport",
        version=__version__,
        description="Self-hosted batch jobs API for ML pipelines (Archetype-compatible surface at /v0.5).",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    errors.install(app, lambda path: surface_for_path(path).error_body)
    openapi.install(app, lambda path: surface_for_path(path).error_model)
    for surface in SURFACES:
        for router in surface.routers:
            app.include_router(router, prefix=surface.prefix,
                               dependencies=[*limits_api.RATE_LIMITED, observability.LOG_ORG],
                               responses=limits_api.RATE_LIMIT_RESPONSES)
    # /v0.5/admin: orgs and keys
    app.include_router(admin_routes.router, prefix=ARCHETYPE.prefix, dependencies=[observability.LOG_ORG])
    app.include_router(blob_routes.router)
    app.include_router(upload_parts.router)
    app.include_router(ops.router)

    app.add_middleware(BodyLimit, limit=settings.limits.max_json_body_bytes)
    limits_api.install(app, settings)  # 429s, /v0.5/usage/limits, the body read timeout
    # outermost but one: an exception escaping any middleware or route becomes a 500 in the surface's format
    app.add_middleware(errors.UnexpectedErrors, error_body_for=lambda path: surface_for_path(path).error_body)
    observability.install(app, settings)  # outermost: request ids, access log, HTTP metrics
    return app


def build_ops_app(settings: Settings, lifespan: Callable[[FastAPI], AbstractAsyncContextManager[Any]]) -> FastAPI:
    """The scheduler role's app: `/healthz` and `/readyz` only (probes of a process without surfaces)."""
    app = FastAPI(title="jobport scheduler", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.include_router(ops.router)
    observability.install(app, settings)
    return app
