"""The surfaces this server speaks, each one object: its routers, where it is mounted, how its
errors and callbacks look. Adding a fifth dialect means adding one `Surface` here; no other surface
changes (the error handlers, the callback reaction and `/healthz` read this list)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from jobport.api.archetype import apps, callbacks, files, jobs, models, registry, reports, training
from jobport.api.archetype import render as archetype_render
from jobport.api.archetype import schemas as archetype_schemas
from jobport.api.archetype.render import error_body as archetype_error_body
from jobport.api.gravity import jobs as gravity_jobs
from jobport.api.gravity import render as gravity_render
from jobport.api.gravity import schemas as gravity_schemas
from jobport.api.openai import render as openai_render
from jobport.api.openai import routes as openai_routes
from jobport.api.openai import schemas as openai_schemas
from jobport.api.superai import jobs as superai_jobs
from jobport.api.superai import render as superai_render
from jobport.api.superai import schemas as superai_schemas
from jobport.callbacks.reactions import SurfaceCallbacks
from jobport.domain.errors import Problem
from jobport.domain.statuses import TERMINAL, JobStatus


@dataclass(frozen=True)
class Surface:
    name: str  # the `jobs.surface` value of jobs created on it (native/Archetype jobs store None)
    prefix: str  # where its routes live; also picks the error format of paths no route matched
    client_base: str  # what a vendor client appends to the server root as its base URL
    routers: Sequence[APIRouter]
    error_body: Callable[[list[Problem]], dict[str, Any]]
    error_model: type[BaseModel]  # the error body's schema, for /openapi.json
    callbacks: SurfaceCallbacks
    # the path prefixes whose errors are this surface's, when it shares `prefix` with another (default: prefix)
    owns: Sequence[str] = ()

    @property
    def claimed(self) -> Sequence[str]:
        return self.owns or (self.prefix,)


ARCHETYPE = Surface(
    name="archetype", prefix="/v0.5", client_base="/v0.5",
    routers=(files.router, registry.router, jobs.router, reports.router, training.router, models.router,
             apps.router, callbacks.router),
    error_body=archetype_error_body, error_model=archetype_schemas.ArchetypeError,
    callbacks=SurfaceCallbacks(archetype_render.job_callback))
SUPERAI = Surface(
    name="superai", prefix="/v1", client_base="/v1", routers=(superai_jobs.router,),
    error_body=superai_render.error_body,
    error_model=superai_schemas.SuperAIError,
    callbacks=SurfaceCallbacks(superai_render.job_moved_callback, TERMINAL | {JobStatus.SUSPENDED},
                               render_batch=superai_render.batch_callback))
GRAVITY = Surface(
    name="gravity", prefix="/api/v1/jobs", client_base="", routers=(gravity_jobs.router,),
    error_body=gravity_render.error_envelope,
    error_model=gravity_schemas.GravityError,
    callbacks=SurfaceCallbacks(gravity_render.job_callback))
# Mounted under /v1 beside super.AI (whose routes are /v1/apps, /v1/jobs, /v1/operations): no path collides.
OPENAI = Surface(
    name="openai", prefix="/v1", client_base="/v1", routers=(openai_routes.router,),
    error_body=openai_render.error_body, error_model=openai_schemas.OpenAIError,
    callbacks=SurfaceCallbacks(openai_render.job_callback),
    owns=("/v1/files", "/v1/batches"))

SURFACES: tuple[Surface, ...] = (ARCHETYPE, SUPERAI, GRAVITY, OPENAI)


def callback_surfaces() -> dict[str, SurfaceCallbacks]:
    return {surface.name: surface.callbacks for surface in SURFACES}


def surface_for_path(path: str) -> Surface:
    """The surface a request path belongs to (the longest matching claimed prefix; Archetype otherwise)."""
    matches = [(len(p), s) for s in SURFACES for p in s.claimed if path == p or path.startswith(p.rstrip("/") + "/")]
    return max(matches, key=lambda m: m[0])[1] if matches else ARCHETYPE
