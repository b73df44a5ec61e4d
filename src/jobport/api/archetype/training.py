"""Training routes (`/v0.5/batch/jobs/{id}/publish`): serve a completed training job's model as a
`tabular-model` app version (Gravity, super.AI and Archetype then run it by the app's name)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from jobport.api.archetype import render, schemas
from jobport.api.deps import CtxDep, OrgWide
from jobport.api.errors import surface_route
from jobport.api.openapi import errors
from jobport.services import apps as app_service
from jobport.services.jobs import publish as publish_service

router = APIRouter(prefix="/batch/jobs", tags=["jobs"], route_class=surface_route(render.error_body))


@router.post("/{job_id}/publish", summary="Publish a training job's model as an app version",
             status_code=status.HTTP_201_CREATED, response_model=schemas.AppPublic, responses=errors(404, 409),
             description="The job's model.onnx becomes the model of a `tabular-model` app version whose features "
                         "and outputs come from the training columns and classes; a new app name creates the app. "
                         "The model is loaded and checked against them before the version is stored.")
def publish_job(job_id: str, body: publish_service.PublishIn, ctx: CtxDep, org: OrgWide) -> dict[str, Any]:
    app = publish_service.publish(ctx, org.id, job_id, body)
    return app_service.get_public(ctx, org.id, app.id)
