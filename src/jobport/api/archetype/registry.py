"""Pipeline registry routes (`/v0.5/batch/registry/pipelines...`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from jobport.api.archetype import render, schemas
from jobport.api.archetype.paging import Page
from jobport.api.deps import CtxDep, CurrentOrg
from jobport.api.errors import surface_route
from jobport.api.openapi import errors
from jobport.services import pipelines as pipeline_service

router = APIRouter(prefix="/batch/registry/pipelines", tags=["registry"], route_class=surface_route(render.error_body))

@router.get("", summary="List pipelines", response_model=schemas.PipelineList)
def list_pipelines(
    ctx: CtxDep, org: CurrentOrg, page: Page,
    pipeline_type: Literal["batch", "training"] | None = None,
    visibility: Literal["platform", "org"] | None = None,
    status: Annotated[Literal["draft", "published", "deactivated", "deleted"] | None, Query()] = None,
) -> dict[str, Any]:
    rows, total = pipeline_service.list_rows(ctx, pipeline_type, visibility, status, page.offset, page.limit)
    return {"total": total, "offset": page.offset, "limit": page.limit,
            "pipelines": [pipeline_service.public(r) for r in rows]}


@router.get("/{pipeline_id}", summary="Get a pipeline (by ppl_ id, or by key for the latest version)",
            response_model=schemas.PipelinePublic, responses=errors(404))
def get_pipeline(pipeline_id: str, ctx: CtxDep, org: CurrentOrg) -> dict[str, Any]:
    return pipeline_service.public(pipeline_service.get_row(ctx, pipeline_id))


@router.get("/{pipeline_id}/schema", summary="Get a pipeline's config schema and ports",
            response_model=schemas.PipelineSchema, responses=errors(404))
def get_pipeline_schema(pipeline_id: str, ctx: CtxDep, org: CurrentOrg) -> dict[str, Any]:
    return pipeline_service.schema(pipeline_service.get_row(ctx, pipeline_id))
