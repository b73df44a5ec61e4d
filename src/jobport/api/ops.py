"""Operations routes every role serves: `/healthz` (liveness: the process answers), `/readyz`
(readiness: what this process still waits for, 503 until nothing required is missing) and
`/metrics` (Prometheus text: server-wide figures read from the database, and this process's own
counters and histograms)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from jobport import __version__
from jobport.api.deps import CtxDep, base_url
from jobport.api.surfaces import SURFACES
from jobport.services import metrics, readiness

router = APIRouter(tags=["ops"])


class Health(BaseModel):
    status: str = Field(description="`ok` once the process answers.")
    version: str
    role: str = Field(description="`all`, `api` or `scheduler` (`jobport serve --role`).")
    scheduler: str = Field(description="`running` (this process schedules), `standby` (another one does), "
                                       "`waiting` (its executor is unreachable), `remote` (an API replica) or `off`.")
    surfaces: dict[str, str] = Field(description="The base URL to configure in each surface's vendor client, by name "
                                                 "(Gravity's client takes the server root).")


class CheckPublic(BaseModel):
    name: str = Field(description="draining, database, migrations, blob_store or scheduler.")
    ok: bool
    required: bool = Field(description="Whether readiness waits for it (a replica does not wait for the scheduler).")
    detail: str


class ReadinessPublic(BaseModel):
    status: str = Field(description="`ready` or `waiting`.")
    role: str
    waiting_for: list[str] = Field(description="The required checks that failed, each with what is wrong.")
    checks: list[CheckPublic]


@router.get("/healthz", summary="200 while the process answers (liveness; no dependency is checked)",
            response_model=Health)
def healthz(request: Request, ctx: CtxDep) -> dict[str, Any]:
    serves_api = ctx.settings.role != "scheduler"
    return {
        "status": "ok",
        "version": __version__,
        "role": ctx.settings.role,
        "scheduler": ctx.scheduler_state,
        "surfaces": {s.name: base_url(request, ctx) + s.client_base for s in SURFACES} if serves_api else {},
    }


@router.get("/readyz", summary="200 when this process can do its job; 503 with what it waits for",
            response_model=ReadinessPublic, responses={503: {"model": ReadinessPublic}})
async def readyz(ctx: CtxDep) -> Any:
    result = await run_in_threadpool(readiness.check, ctx)
    body = ReadinessPublic(
        status="ready" if result.ready else "waiting", role=result.role, waiting_for=result.waiting_for,
        checks=[CheckPublic(name=c.name, ok=c.ok, required=c.required, detail=c.detail) for c in result.checks])
    if result.ready:
        return body
    return JSONResponse(body.model_dump(), status_code=503)


@router.get("/metrics", summary="Prometheus metrics (text exposition format; no auth, no per-org labels)",
            response_class=Response,
            responses={200: {"content": {metrics.CONTENT_TYPE: {"schema": {"type": "string"}}}}})
async def prometheus_metrics(ctx: CtxDep) -> Response:
    body = await run_in_threadpool(metrics.exposition, ctx)
    return Response(body, media_type=metrics.CONTENT_TYPE)
