"""The FastAPI application: surfaces mounted on one app, lifespan that migrates the database,
bootstraps the admin key, syncs the pipeline registry and runs the scheduler."""

from __future__ import annotations

from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from jobport import __version__
from jobport.api import blobs as blob_routes
from jobport.api import callback_hooks  # callbacks: the outbox transition hook
from jobport.api import errors
from jobport.api.archetype import apps, files, jobs, models, registry
from jobport.api.archetype import callbacks as callback_routes  # callbacks
from jobport.api.deps import base_url
from jobport.api.gravity import jobs as gravity_jobs
from jobport.api.superai import jobs as superai_jobs
from jobport.api.errors import body_for_path
from jobport.callbacks.deliverer import CallbackDeliverer  # callbacks
from jobport.config import Settings
from jobport.domain.errors import Problem
from jobport.engine.local import LocalExecutor
from jobport.engine.locks import SchedulerLock
from jobport.engine.scheduler import Scheduler
from jobport.llm import catalogue
from jobport.services import auth, examples, pipelines
from jobport.services.context import AppContext
from jobport.store.db import migrate

log = structlog.get_logger("jobport")

SURFACES = {"archetype": "/v0.5", "superai": "/v1", "gravity": "/api/v1/jobs"}


class BodyLimit:
    """413 for JSON (non-multipart) bodies over `max_json_body_bytes`, before they are read."""

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            content_type = headers.get(b"content-type", b"")
            length = headers.get(b"content-length", b"")
            if not content_type.startswith(b"multipart/") and length.isdigit() and int(length) > self.limit:
                body = body_for_path(scope.get("path", ""), [Problem(
                    f"request body is larger than {self.limit} bytes", "body",
                    "Send a smaller body; upload big data through /v0.5/files.", "request_too_large")])
                await JSONResponse(body, status_code=413)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None, *, run_scheduler: bool = True) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        catalogue.configure(settings.models_path)
        ctx = AppContext.build(settings)
        migrate(ctx.db)
        new_key = auth.bootstrap(ctx)
        if new_key:
            print(f"\n  Admin API key (shown once; also stored in {auth.admin_key_path(ctx)}):\n    {new_key}\n", flush=True)
        pipelines.sync(ctx)
        if settings.example_app:
            example_key = await run_in_threadpool(examples.register_example_app, ctx)
            if example_key:
                print(f"\n  Example app {examples.EXAMPLE_APP} registered; its Gravity key (x-api-key, shown once; also "
                      f"in {examples.example_key_path(ctx)}):\n    {example_key}\n", flush=True)
        if run_scheduler:
            executor = LocalExecutor(settings.workers, str(ctx.blobs.root), settings.warm_models_per_worker,
                                     str(settings.models_path), prefetch=settings.worker_prefetch)
            ctx.scheduler = Scheduler(settings, ctx.sessions, ctx.blobs, ctx.registry, executor,
                                      SchedulerLock(ctx.db, settings.home))
            ctx.scheduler.start()
        # callbacks: the outbox deliverer runs next to the scheduler and stops after it; what it has
        # not sent by then stays in the outbox for the next start
        deliverer = CallbackDeliverer(settings, ctx.sessions) if run_scheduler else None
        if deliverer is not None:
            deliverer.start()
        app.state.callback_deliverer = deliverer
        app.state.ctx = ctx
        try:
            yield
        finally:
            if ctx.scheduler is not None:
                ctx.scheduler.stop()
            if deliverer is not None:  # callbacks
                deliverer.stop()
            ctx.db.dispose()

    app = FastAPI(
        title="jobport",
        version=__version__,
        description="Self-hosted batch jobs API for ML pipelines (Archetype-compatible surface at /v0.5).",
        lifespan=lifespan,
    )
    errors.install(app)
    callback_hooks.install()  # callbacks: job callbacks enter the outbox with the job's terminal move
    for router in (files.router, registry.router, jobs.router, models.router, apps.router, callback_routes.router):
        app.include_router(router, prefix=SURFACES["archetype"])
    app.include_router(gravity_jobs.router)
    app.include_router(superai_jobs.router)
    app.include_router(blob_routes.router)

    @app.get("/healthz", tags=["ops"], summary="200 once the server accepts jobs")
    def healthz(request: Request) -> dict:
        ctx: AppContext = request.app.state.ctx
        scheduler = ctx.scheduler
        return {
            "status": "ok",
            "version": __version__,
            "scheduler": "running" if scheduler and scheduler.has_lock else ("standby" if scheduler else "off"),
            "surfaces": {name: base_url(request, ctx) + prefix for name, prefix in SURFACES.items()},
        }

    app.add_middleware(BodyLimit, limit=settings.max_json_body_bytes)
    return app
