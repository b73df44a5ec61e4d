"""The composition root: builds, from `Settings`, the application context (database, blob store,
signer, pipeline registry, transitions with their reactions), the scheduler with its executor,
the callback deliverer, and the FastAPI app that serves them. Nothing else builds a backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from jobport import log
from jobport.api.app import build_app
from jobport.api.surfaces import callback_surfaces
from jobport.blobs import open_store
from jobport.blobs.signing import UrlSigner
from jobport.callbacks.deliverer import CallbackDeliverer
from jobport.callbacks.reactions import JobCallbacks
from jobport.config import Settings
from jobport.engine.executors.base import Executor
from jobport.engine.locks import SchedulerLock
from jobport.engine.scheduler import Scheduler
from jobport.pipelines.registry import Registry
from jobport.pipelines.sdk import HostContext
from jobport.services import auth, examples, pipelines
from jobport.services.context import AppContext, load_or_create_secret
from jobport.services.transitions import Transitions
from jobport.store.db import make_engine, make_session_factory, migrate


def host_context(settings: Settings) -> HostContext:
    return HostContext(models_file=settings.models_path)


def build_context(settings: Settings, registry: Registry | None = None) -> AppContext:
    settings.home.mkdir(parents=True, exist_ok=True)
    db = make_engine(settings.resolved_database_url)
    return AppContext(
        settings=settings,
        db=db,
        sessions=make_session_factory(db),
        blobs=open_store(settings.blobs),
        signer=UrlSigner(load_or_create_secret(settings), settings.limits.signed_url_ttl_seconds),
        registry=registry or Registry.from_entry_points(host_context(settings)),
        transitions=Transitions(reactions=[JobCallbacks(callback_surfaces())]),
    )


def build_executor(ctx: AppContext) -> Executor:
    settings = ctx.settings
    if settings.engine.executor == "inline":
        from jobport.engine.executors.inline import InlineExecutor

        return InlineExecutor(ctx.registry, ctx.blobs, slots=settings.engine.workers * settings.engine.worker_prefetch,
                              warm_models=settings.engine.warm_models_per_worker)
    from jobport.engine.executors.local import LocalExecutor

    engine = settings.engine
    return LocalExecutor(engine.workers, settings.blobs, host_context(settings), engine.warm_models_per_worker,
                         prefetch=engine.worker_prefetch)


def build_scheduler(ctx: AppContext, executor: Executor | None = None) -> Scheduler:
    return Scheduler(ctx.settings, ctx.sessions, ctx.blobs, ctx.registry, executor or build_executor(ctx),
                     SchedulerLock(ctx.db, ctx.settings.home), ctx.transitions)


def prepare(ctx: AppContext) -> None:
    """Bring the database and the registry up to date; first start: the admin key, the example app."""
    migrate(ctx.db)
    new_key = auth.bootstrap(ctx)
    if new_key:
        print(f"\n  Admin API key (shown once; also stored in {auth.admin_key_path(ctx)}):\n    {new_key}\n",
              flush=True)
    pipelines.sync(ctx)
    if ctx.settings.example_app:
        example_key = examples.register_example_app(ctx)
        if example_key:
            print(f"\n  Example app {examples.EXAMPLE_APP} registered; its Gravity key (x-api-key, shown once; "
                  f"also in {examples.example_key_path(ctx)}):\n    {example_key}\n", flush=True)


def create_app(settings: Settings | None = None, *, run_scheduler: bool = True) -> FastAPI:
    """The whole server in one ASGI app: API, and (with `run_scheduler`) the scheduler and the
    callback deliverer, started and stopped with the app's lifespan."""
    settings = settings or Settings()
    log.configure(settings.log.format, settings.log.level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = build_context(settings)
        await run_in_threadpool(prepare, ctx)
        scheduler = build_scheduler(ctx) if run_scheduler else None
        # the outbox deliverer runs next to the scheduler and stops after it; what it has not sent
        # by then stays in the outbox for the next start
        deliverer = CallbackDeliverer(settings, ctx.sessions) if run_scheduler else None
        if scheduler is not None:
            ctx.scheduler = scheduler
            scheduler.start()
        if deliverer is not None:
            deliverer.start()
        app.state.ctx = ctx
        app.state.scheduler = scheduler
        app.state.callback_deliverer = deliverer
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()
            if deliverer is not None:
                deliverer.stop()
            ctx.db.dispose()

    return build_app(settings, lifespan)
