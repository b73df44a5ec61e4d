"""Native routes for apps (`/v0.5/apps`) and the usage ledger (`/v0.5/usage`), jobport extensions
next to the Archetype surface."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from jobport.api.archetype.paging import Page
from jobport.api.deps import CtxDep, CurrentOrg
from jobport.services import apps as app_service
from jobport.services import usage as usage_service

router = APIRouter(tags=["apps"])


@router.post("/apps", summary="Create an app (pipeline + config + model files + pricing), version 1", status_code=201)
async def create_app(body: app_service.AppCreate, ctx: CtxDep, org: CurrentOrg) -> JSONResponse:
    app = await run_in_threadpool(app_service.create_app, ctx, org.id, body)
    return JSONResponse(app_service.get_public(ctx, org.id, app.id), status_code=201)


@router.get("/apps", summary="List apps")
def list_apps(ctx: CtxDep, org: CurrentOrg, page: Page) -> dict:
    apps, total = app_service.list_apps(ctx, org.id, page.offset, page.limit)
    return {"total": total, "offset": page.offset, "limit": page.limit, "apps": apps}


@router.patch("/apps/{app_id}", summary="Change an app's settings (batch callback URL, completion window)")
async def update_app(app_id: str, body: app_service.AppSettings, ctx: CtxDep, org: CurrentOrg) -> dict:
    app = await run_in_threadpool(app_service.update_settings, ctx, org.id, app_id, body)
    return app_service.get_public(ctx, org.id, app.id)


@router.get("/apps/{app_id}", summary="Get an app (by id or name) with its versions")
def get_app(app_id: str, ctx: CtxDep, org: CurrentOrg) -> dict:
    return app_service.get_public(ctx, org.id, app_id)


@router.post("/apps/{app_id}/versions", summary="Add a version (immutable; becomes the latest)", status_code=201)
async def add_version(app_id: str, body: app_service.AppVersionCreate, ctx: CtxDep, org: CurrentOrg) -> JSONResponse:
    row = await run_in_threadpool(app_service.add_version, ctx, org.id, app_id, body)
    return JSONResponse(app_service.version_public(row), status_code=201)


@router.post("/apps/{app_id}/versions/{version}/deactivate", summary="Deactivate a version")
def deactivate_version(app_id: str, version: str, ctx: CtxDep, org: CurrentOrg) -> dict:
    return app_service.version_public(app_service.set_version_active(ctx, org.id, app_id, version, False))


@router.post("/apps/{app_id}/versions/{version}/activate", summary="Re-activate a version")
def activate_version(app_id: str, version: str, ctx: CtxDep, org: CurrentOrg) -> dict:
    return app_service.version_public(app_service.set_version_active(ctx, org.id, app_id, version, True))


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    budget_units: int | None = Field(description="Most billed units ($0.001) the org may use; null = no limit. "
                                                 "Over it, waiting jobs are SUSPENDED until it is raised.", ge=0)


@router.put("/usage/budget", summary="Set the org's usage budget")
def set_budget(body: BudgetIn, ctx: CtxDep, org: CurrentOrg) -> dict:
    usage_service.set_budget(ctx, org.id, body.budget_units)
    ctx.wake_scheduler()
    return {"org_id": org.id, "budget_units": body.budget_units}


@router.get("/usage", summary="The org's usage ledger: totals per app and surface, and the latest entries")
def usage(ctx: CtxDep, org: CurrentOrg, page: Page,
          since: Annotated[datetime | None, Query(description="ISO 8601; entries at or after")] = None,
          until: Annotated[datetime | None, Query(description="ISO 8601; entries before")] = None) -> dict:
    return usage_service.report(ctx, org.id, since, until, page.offset, page.limit)
