"""Native routes for apps (`/v0.5/apps`) and the usage ledger (`/v0.5/usage`), jobport extensions
next to the Archetype surface."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from jobport.api.archetype import render, schemas
from jobport.api.archetype.paging import Page
from jobport.api.deps import CtxDep, CurrentOrg, OnlyApp, OrgWide
from jobport.api.errors import surface_route
from jobport.api.openapi import errors
from jobport.services import apps as app_service
from jobport.services import usage as usage_service

router = APIRouter(tags=["apps"], route_class=surface_route(render.error_body))


@router.post("/apps", summary="Create an app (pipeline + config + model files + pricing), version 1",
             status_code=status.HTTP_201_CREATED, response_model=schemas.AppPublic, responses=errors(409))
def create_app(body: app_service.AppCreate, ctx: CtxDep, org: OrgWide) -> dict[str, Any]:
    app = app_service.create_app(ctx, org.id, body)
    return app_service.get_public(ctx, org.id, app.id)


@router.get("/apps", summary="List apps", response_model=schemas.AppList)
def list_apps(ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp, page: Page) -> dict[str, Any]:
    apps, total = app_service.list_apps(ctx, org.id, page.offset, page.limit, only_app)
    return {"total": total, "offset": page.offset, "limit": page.limit, "apps": apps}


@router.patch("/apps/{app_id}", summary="Change an app's settings (batch callback URL, completion window)",
              response_model=schemas.AppPublic, responses=errors(404))
def update_app(app_id: str, body: app_service.AppSettings, ctx: CtxDep, org: OrgWide) -> dict[str, Any]:
    app = app_service.update_settings(ctx, org.id, app_id, body)
    return app_service.get_public(ctx, org.id, app.id)


@router.get("/apps/{app_id}", summary="Get an app (by id or name) with its versions", response_model=schemas.AppPublic,
            responses=errors(404))
def get_app(app_id: str, ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp) -> dict[str, Any]:
    return app_service.get_public(ctx, org.id, app_id, only_app)


@router.post("/apps/{app_id}/versions", summary="Add a version (immutable; becomes the latest)",
             status_code=status.HTTP_201_CREATED, response_model=schemas.AppVersionPublic, responses=errors(404, 409))
def add_version(app_id: str, body: app_service.AppVersionCreate, ctx: CtxDep, org: OrgWide) -> dict[str, Any]:
    return app_service.version_public(app_service.add_version(ctx, org.id, app_id, body))


@router.post("/apps/{app_id}/versions/{version}/deactivate", summary="Deactivate a version",
             response_model=schemas.AppVersionPublic, responses=errors(404))
def deactivate_version(app_id: str, version: str, ctx: CtxDep, org: OrgWide) -> dict[str, Any]:
    return app_service.version_public(app_service.set_version_active(ctx, org.id, app_id, version, False))


@router.post("/apps/{app_id}/versions/{version}/activate", summary="Re-activate a version",
             response_model=schemas.AppVersionPublic, responses=errors(404))
def activate_version(app_id: str, version: str, ctx: CtxDep, org: OrgWide) -> dict[str, Any]:
    return app_service.version_public(app_service.set_version_active(ctx, org.id, app_id, version, True))


@router.put("/usage/budget", summary="Set the org's usage budget", response_model=schemas.BudgetPublic)
def set_budget(body: schemas.BudgetUpdate, ctx: CtxDep, org: OrgWide) -> dict[str, Any]:
    usage_service.set_budget(ctx, org.id, body.budget_units)
    return {"org_id": org.id, "budget_units": body.budget_units}


@router.get("/usage", summary="The org's usage ledger: totals per app and surface, and the latest entries",
            response_model=schemas.UsageReport)
def usage(ctx: CtxDep, org: CurrentOrg, only_app: OnlyApp, page: Page,
          since: Annotated[datetime | None, Query(description="ISO 8601; entries at or after")] = None,
          until: Annotated[datetime | None, Query(description="ISO 8601; entries before")] = None) -> dict[str, Any]:
    return usage_service.report(ctx, org.id, since, until, page.offset, page.limit, only_app)
