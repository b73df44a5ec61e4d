"""The FastAPI app factory: every surface mounted on one app, the error handlers, the JSON body
limit and `/healthz`. What runs beside the API (scheduler, deliverer) is wired by `server.py`."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from jobport import __version__
from jobport.api import blobs as blob_routes
from jobport.api import errors, openapi
from jobport.api.deps import CtxDep, base_url
from jobport.api.surfaces import SURFACES, surface_for_path
from jobport.config import Settings
from jobport.domain.errors import Problem


class Health(BaseModel):
    status: str = Field(description="`ok` once the server accepts jobs.")
    version: str
    scheduler: str = Field(description="`running` (this process schedules), `standby` (another one does) or `off`.")
    surfaces: dict[str, str] = Field(description="Base URL of each surface, by name.")


class BodyLimit:
    """413 for JSON (non-multipart) bodies over `max_json_body_bytes`, before they are read."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
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
            app.include_router(router, prefix=surface.prefix)
    app.include_router(blob_routes.router)

    @app.get("/healthz", tags=["ops"], summary="200 once the server accepts jobs", response_model=Health)
    def healthz(request: Request, ctx: CtxDep) -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "scheduler": ctx.scheduler_state,
            "surfaces": {s.name: base_url(request, ctx) + s.prefix for s in SURFACES},
        }

    app.add_middleware(BodyLimit, limit=settings.limits.max_json_body_bytes)
    return app
