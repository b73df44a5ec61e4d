"""Model catalogue route (`/v0.5/models`, a jobport extension): the names a job may give as
`model_variant`. Paths, URLs and API-key variables stay on the server."""

from __future__ import annotations

from fastapi import APIRouter

from jobport.api.deps import CtxDep, CurrentOrg
from jobport.domain.errors import Misconfigured
from jobport.pipelines.lm.catalogue import CatalogueError, load_catalogue

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", summary="List the models language-model pipelines can use")
def list_models(ctx: CtxDep, org: CurrentOrg) -> dict:
    try:
        entries = load_catalogue(ctx.settings.models_path)
    except CatalogueError as err:
        raise Misconfigured(f"the model catalogue is invalid: {err}", code="model_catalogue_invalid",
                            suggestion="Ask the server admin to fix the models file.") from None
    models = [entry.public() for entry in entries.values()]
    return {"total": len(models), "models": models}
