"""The example app `jobport serve` registers on first start: an Iris classifier (scikit-learn,
trained from the dataset bundled in scikit-learn, exported to ONNX) hosted with the
`tabular-model` pipeline, and an API key bound to it for the Gravity surface."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from jobport.blobs import keys
from jobport.services import apps as app_service
from jobport.services import files as file_service
from jobport.services.context import AppContext, write_secret_file
from jobport.store import apps as app_store
from jobport.store import orgs
from jobport.store.db import transaction

EXAMPLE_APP = "iris-classifier"
MODEL_FILE = "iris-classifier.onnx"
PIPELINE = "tabular-model"
# Gravity's documented example: 3 records -> 1 record group -> 20 units ($0.020).
PRICING = app_service.PricingIn(records_per_group=1000, units_per_group=20)


def write_example_model(dest_dir: Path) -> tuple[Path, Path]:
    """The example app's model and config as files for `jobport apps create`: (model.onnx path,
    config JSON path). Trains in a child process, like the server does."""
    from jobport.pipelines.builtin.tabular.example import build_example_model

    model = build_example_model(dest_dir, isolated=True)
    config = Path(dest_dir) / "iris-config.json"
    config.write_text(json.dumps(model.config, indent=2) + "\n")
    return model.path, config


def example_key_path(ctx: AppContext) -> Path:
    return ctx.settings.home / "example-app.key"


def register_example_app(ctx: AppContext) -> str | None:
    """Create the example app in the default org unless it exists (or the pipeline is missing).
    Returns the new app-bound key on the start that created it (stored 0600 under home too)."""
    if not any(p.spec.key == PIPELINE for p in ctx.registry.all()):
        return None
    from jobport.pipelines.builtin.tabular.example import build_example_model  # trains a model: only when needed

    with transaction(ctx.sessions) as session:
        org = orgs.get_or_create_org(session, ctx.settings.default_org)
        if app_store.get(session, org.id, EXAMPLE_APP) is not None:
            return None
        org_id = org.id
    with tempfile.TemporaryDirectory(prefix="jobport-example-") as tmp:
        model = build_example_model(Path(tmp), isolated=True)  # keeps scikit-learn out of the server
        uid = file_service.new_file_uid()
        stats = file_service.UploadStats(is_csv=False)
        with open(model.path, "rb") as source, ctx.blobs.writer(keys.org_file(org_id, uid)) as out:
            while chunk := source.read(1 << 20):
                stats.feed(chunk)
                out.write(chunk)
    file_service.record_upload(ctx, org_id, MODEL_FILE, uid, "application/octet-stream", stats)
    body = app_service.AppCreate(
        name=EXAMPLE_APP, pipeline_key=PIPELINE, version="1.0.0", config=model.config, pricing=PRICING,
        references={"worker.model": [app_service.ReferenceIn(file_id=MODEL_FILE)]},
        description="Iris species from sepal_length, sepal_width, petal_length, petal_width (cm): a scikit-learn "
                    "logistic regression exported to ONNX. Outputs label and one probability per species.",
    )
    app = app_service.create_app(ctx, org_id, body, check_files=False)  # keep onnxruntime out of the server
    file_service.delete(ctx, org_id, MODEL_FILE)  # the app version keeps its own copy of the model
    with transaction(ctx.sessions) as session:
        org = orgs.get_or_create_org(session, ctx.settings.default_org)
        _, plaintext = orgs.add_key(session, org, name=f"{EXAMPLE_APP} (example app)", scope="app", app_id=app.id)
    write_secret_file(example_key_path(ctx), plaintext)
    return plaintext
