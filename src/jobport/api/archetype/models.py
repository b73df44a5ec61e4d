"""Model catalogue route (`/v0.5/models`, a jobport extension): the names a job may give as
`model_variant`. Paths, URLs and API-key variables stay on the server."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from jobport.api.archetype import render, schemas
from jobport.api.deps import CtxDep, CurrentOrg
from jobport.api.errors import surface_route
from jobport.api.openapi import errors
from jobport.services import models as model_service

router = APIRouter(prefix="/models", tags=["models"], route_class=surface_route(render.error_body))


@router.get("", summary="List the models language-model pipelines can use", response_model=schemas.ModelList,
            responses=errors(503))
def list_models(ctx: CtxDep, org: CurrentOrg) -> dict[str, Any]:
    """The server's catalogue: the built-in model plus those the admin lists in the file of setting
    `models_file` (default `<home>/models.toml`); 503 while that file is invalid."""
    models = model_service.public_models(ctx)
    return {"total": len(models), "models": models}
