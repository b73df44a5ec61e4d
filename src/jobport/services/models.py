"""The model catalogue as users see it: the names a job may give as `model_variant`, built in or
listed by the admin in the TOML file of setting `models_file` (default `<home>/models.toml`).
Paths, URLs and API-key variables stay on the server."""

from __future__ import annotations

from typing import Any

from jobport.domain.errors import Misconfigured
from jobport.pipelines.lm.catalogue import CatalogueError, load_catalogue
from jobport.services.context import AppContext


def public_models(ctx: AppContext) -> list[dict[str, Any]]:
    """Every catalogue entry as the API shows it (name, kind, description, multimodal, aliases,
    context_tokens); Misconfigured (503) if the admin's models file is invalid."""
    try:
        entries = load_catalogue(ctx.settings.models_path)
    except CatalogueError as err:
        raise Misconfigured(f"the model catalogue is invalid: {err}", code="model_catalogue_invalid",
                            suggestion="Ask the server admin to fix the models file.") from None
    return [entry.public() for entry in entries.values()]
