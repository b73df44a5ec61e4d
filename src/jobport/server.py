"""The composition root: builds, from `Settings`, the application context (database, blob store,
signer, pipeline registry, transitions with their reactions), the scheduler with its executor,
the callback deliverer, the link between services and scheduler (in-process or LISTEN/NOTIFY),
and the FastAPI app of the process's role that serves them. Nothing else builds a backend."""

from __future__ import annotations

import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from jobport import log
from jobport.api.app import build_app, build_ops_app
from jobport.api.surfaces import callback_surfaces
from jobport.blobs import open_store
from jobport.blobs.signing import UrlSigner
from jobport.callbacks import outbox
from jobport.callbacks.deliverer import CallbackDeliverer
from jobport.callbacks.reactions import JobCallbacks
from jobport.config import Settings
from jobport.dashboard import build_dashboard
from jobport.engine.executors.base import Executor
from jobport.engine.locks import SchedulerLock
from jobport.engine.scheduler import Scheduler
from jobport.engine.wakeups import PgListener, PgNotifier, SchedulerLink, psycopg_url
from jobport.pipelines.registry import Registry
from jobport.pipelines.sdk import HostContext
from jobport.services import auth, examples, pipelines
from jobport.services.context import AppContext, load_or_create_secret
from jobport.services.jobs.autopublish import AfterTraining
from jobport.services.retention import RetentionService
from jobport.services.telemetry import Telemetry
from jobport.services.transitions import Transitions
from jobport.store.db import make_engine, make_session_factory, migrate, startup_lock


def host_context(settings: Settings) -> HostContext:
    return HostContext(models_file=settings.models_path)


def build_context(settings: Settings, registry: Registry | None = None) -> AppContext:
    settings.home.mkdir(parents=True, exist_ok=True)
    db = make_engine(settings.resolved_database_url)
    blobs = open_store(settings.blobs)
    sessions = make_session_factory(db)
    telemetry = Telemetry()
    telemetry.watch(sessions)  # jobs submitted, and what transactions observed, counted at commit
    after_training = AfterTraining()  # publish / save a reference set once a training job completes
    ctx = AppContext(
        settings=settings,
        db=db,
        sessions=sessions,
        blobs=blobs,
        # links: presigned by the store where it can (S3), else the server's own /blobs/... links
        signer=UrlSigner(load_or_create_secret(settings), settings.limits.signed_url_ttl_seconds, presigner=blobs),
        registry=registry or Registry.from_entry_points(host_context(settings)),
        transitions=Transitions(reactions=[JobCallbacks(callback_surfaces()), telemetry.on_job_moves,
                                           after_training]),
        telemetry=telemetry,
    )
    after_training.bind(ctx)
    ctx.shutdown_hooks.append(after_training.wait)
    return ctx


def build_executor(ctx: AppContext) -> Executor:
    settings = ctx.settings
    if settings.engine.executor == "inline":
        from jobport.engine.executors.inline import InlineExecutor

        return InlineExecutor(ctx.registry, ctx.blobs, slots=settings.engine.workers * settings.engine.worker_prefetch,
                              warm_models=settings.engine.warm_models_per_worker)
    engine = settings.engine
    if engine.executor == "ray":
        from jobport.engine.executors.ray import RayExecutor  # imports ray: only when it is chosen

        return RayExecutor(engine.ray_address, engine.ray_namespace, settings.blobs, host_context(settings),
                           warm_models=engine.warm_models_per_worker, prefetch=engine.worker_prefetch,
                           idle_seconds=engine.ray_idle_actor_seconds, max_actors=engine.ray_max_actors,
                           connect_timeout=engine.ray_connect_timeout_seconds,
                           node_ip_address=engine.ray_node_ip_address,
                           object_store_bytes=engine.ray_object_store_bytes)
    from jobport.engine.executors.local import LocalExecutor

    return LocalExecutor(engine.workers, settings.blobs, host_context(settings), engine.warm_models_per_worker,
                         prefetch=engine.worker_prefetch)


def build_scheduler(ctx: AppContext, executor: Executor | None = None) -> Scheduler:
    return Scheduler(ctx.settings, ctx.sessions, ctx.blobs, ctx.registry, executor or build_executor(ctx),
                     SchedulerLock(ctx.db, ctx.settings.home), ctx.transitions, telemetry=ctx.telemetry)


def prepare(ctx: AppContext) -> None:
    """Bring the database and the registry up to date; first start: the admin key, the example app.
    Processes starting together on PostgreSQL take turns (`startup_lock`)."""
    with startup_lock(ctx.db):
        migrate(ctx.db)
        new_key = auth.bootstrap(ctx)
        pipelines.sync(ctx)
        example_key = examples.register_example_app(ctx) if ctx.settings.example_app else None
    if new_key:
        print(f"\n  Admin API key (shown once; also stored in {auth.admin_key_path(ctx)}):\n    {new_key}\n",
              flush=True)
    if example_key:
        print(f"\n  Example app {examples.EXAMPLE_APP} registered; its Gravity key (x-api-key, shown once; "
              f"also in {examples.example_key_path(ctx)}):\n    {example_key}\n", flush=True)


@dataclass
class Background:
    """What runs beside the API in this process: the scheduler (active or standing by), the
    callback deliverer, the retention service, and on PostgreSQL the listener that hears other
    replicas' wake-ups."""

    scheduler: Scheduler | None = None
    deliverer: CallbackDeliverer | None = None
    listener: PgListener | None = None
    notifier: PgNotifier | None = None
    retention: RetentionService | None = None

    def stop(self) -> None:
        if self.retention is not None:
            self.retention.stop()
        if self.listener is not None:
            self.listener.stop()
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.deliverer is not None:
            self.deliverer.stop()
        if self.notifier is not None:
            outbox.remove_waker(self.notifier)


def start_background(ctx: AppContext, run_scheduler: bool) -> Background:
    """Start the scheduler and deliverer (when this process runs them) and link the services to
    the scheduler: in-process on SQLite, through LISTEN/NOTIFY on PostgreSQL."""
    settings = ctx.settings
    on_postgres = ctx.db.dialect.name == "postgresql"
    background = Background(notifier=PgNotifier(ctx.db) if on_postgres else None)
    if run_scheduler:
        background.scheduler = build_scheduler(ctx)
        # the outbox deliverer runs next to the scheduler and stops after it; what it has not sent
        # by then stays in the outbox for the next start (or for another scheduler process)
        background.deliverer = CallbackDeliverer(settings, ctx.sessions, on_attempt=ctx.telemetry.callback_attempt)
        background.retention = RetentionService(ctx)
    elif background.notifier is not None:
        outbox.add_waker(background.notifier)  # callbacks enqueued here wake a scheduler process's deliverer
    ctx.scheduler = SchedulerLink(background.scheduler, background.notifier)
    scheduler, deliverer = background.scheduler, background.deliverer
    if scheduler is not None and deliverer is not None:
        scheduler.start()
        deliverer.start()
        if background.retention is not None:
            background.retention.start()
        if on_postgres:
            def on_wake() -> None:
                scheduler.wake()
                deliverer.wake()

            def on_cancel(job_id: str) -> None:
                scheduler.cancel(job_id, wait=False)

            background.listener = PgListener(psycopg_url(settings.resolved_database_url), on_wake, on_cancel)
            background.listener.start()
    return background


def create_app(settings: Settings | None = None, *, run_scheduler: bool | None = None) -> FastAPI:
    """The server of one role (`settings.role`) as an ASGI app: `all` = every surface plus the
    scheduler and the callback deliverer, started and stopped with the app's lifespan; `api` = the
    surfaces only; `scheduler` = the scheduler and deliverer behind `/healthz` and `/readyz`.
    `run_scheduler=False` serves the surfaces without a scheduler (API tests)."""
    settings = settings or Settings()
    log.configure(settings.log.format, settings.log.level)
    runs_scheduler = settings.role in ("all", "scheduler") if run_scheduler is None else run_scheduler
    tracer: Any = None
    if settings.otel:
        from jobport import tracing  # the `otel` extra: imported only when tracing is on

        tracer = tracing.start()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = build_context(settings)
        if tracer is not None:
            tracing.trace_engine(ctx.db, tracer)
        await run_in_threadpool(prepare, ctx)
        background = start_background(ctx, runs_scheduler)
        app.state.ctx = ctx
        app.state.scheduler = background.scheduler
        app.state.callback_deliverer = background.deliverer
        restore_sigterm = drain_on_sigterm(ctx, settings.http.drain_seconds)
        try:
            yield
        finally:
            ctx.draining.set()
            restore_sigterm()
            background.stop()
            for hook in ctx.shutdown_hooks:
                hook()
            ctx.db.dispose()
            if tracer is not None:
                tracing.stop(tracer)

    app = build_ops_app(settings, lifespan) if settings.role == "scheduler" else build_app(settings, lifespan)
    if settings.role != "scheduler":
        answer_database_outages(app)
        app.mount("/ui", build_dashboard(app))  # the web dashboard (jobport.dashboard)
    if tracer is not None:
        tracing.trace_app(app, tracer)
        app.state.tracer_provider = tracer
    return app


def drain_on_sigterm(ctx: AppContext, seconds: float) -> Callable[[], None]:
    """On SIGTERM, mark the process draining (`/readyz` answers 503) and hand the signal to the
    server's own handler (uvicorn's graceful shutdown) `seconds` later; a second SIGTERM hands it
    over at once. Installed over the handler the server set while it starts the app (main thread
    only); returns what puts that handler back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return lambda: None
    server_stop: Callable[[int, Any], Any] = previous

    def on_sigterm(signum: int, frame: Any) -> None:
        if ctx.draining.is_set() or seconds <= 0:
            ctx.draining.set()
            server_stop(signum, frame)
            return
        ctx.draining.set()
        structlog.get_logger("jobport.server").info("draining before shutdown", seconds=seconds)
        timer = threading.Timer(seconds, server_stop, (signum, frame))
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        if signal.getsignal(signal.SIGTERM) is on_sigterm:
            signal.signal(signal.SIGTERM, previous)

    return restore


def answer_database_outages(app: FastAPI) -> None:
    """A database that cannot be reached (down, restarting, out of connections) is a 503 in the
    surface's own error format, never a 500 with a stack trace. Registered here because routes
    never import SQLAlchemy (the layer rules)."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    from jobport.api.surfaces import surface_for_path
    from jobport.domain.errors import Problem

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError) and not exc.connection_invalidated:
            raise exc  # a statement's own error: a bug, not an outage
        structlog.get_logger("jobport.api").error("database unavailable", path=request.url.path,
                                                  error=str(exc).split("\n")[0])
        problem = Problem("the database is unavailable; the request was not carried out", None,
                          "Retry in a few seconds; if it persists, the operator should check the database server "
                          "and JOBPORT_DATABASE_URL.", "database_unavailable")
        return JSONResponse(surface_for_path(request.url.path).error_body([problem]), status_code=503,
                            headers={"Retry-After": "5"})

    app.add_exception_handler(DBAPIError, unavailable)
