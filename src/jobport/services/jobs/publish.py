"""Publish a training job's model as a hosted app (`POST /v0.5/batch/jobs/{id}/publish`): the
`model.onnx` a completed `tabular-training` job wrote becomes the model of a `tabular-model` app
version, its features and outputs derived from the job's `metrics.json` (the training columns,
the classes) and the ONNX graph. A new app name creates the app; an existing one gets the version.
The version is checked like every app version (the model loads and fits the declared features
and outputs) before it is stored; the training job already scored its measured rows with the
ONNX graph and the fitted model and wrote the model only if they agree.

`publish: {app, version}` in a training job's config publishes the same way when the job
completes (`autopublish.AfterTraining`); `target_problems` refuses, at job creation, a target
that cannot be published to (the version exists, the app runs another pipeline)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from jobport.blobs import keys
from jobport.domain.errors import Conflict, Invalid, Problem
from jobport.domain.statuses import JobStatus
from jobport.services import apps as app_service
from jobport.services import files as file_service
from jobport.services.context import AppContext
from jobport.services.jobs.control import owned
from jobport.store import apps as app_store
from jobport.store import jobs as job_store
from jobport.store.tables import App

TRAINING_PIPELINE = "tabular-training"
SERVING_PIPELINE = "tabular-model"
RESULTS_PORT = "worker.results"


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app: str = Field(min_length=1, max_length=200, pattern=r"^[^/\s][^/]*$",
                     description="The app to publish to: created if the org has none of this name.")
    version: str = Field("1.0.0", pattern=app_service.VERSION_PATTERN, description="The new version's label.")
    description: str = Field("", max_length=5000, description="The app's description (a new app only).")
    pricing: app_service.PricingIn | None = Field(None, description="Default: the tabular-model pipeline's.")


def serving_config(report: dict[str, Any]) -> dict[str, Any]:
    """The `tabular-model` config that serves the model of a training report: CSV with a header,
    the training features as numbers; classification: `label` and one `probability_<class>` per
    class (in the model's class order) when the graph gives probabilities; regression: `prediction`."""
    features = [{"name": name, "type": "number"} for name in report["features"]]
    if report["task"] == "regression":
        outputs = [{"name": "prediction", "type": "number"}]
    else:
        outputs = [{"name": "label", "type": "string"}]
        if "probabilities" in report.get("onnx", {}).get("outputs", []):
            outputs += [{"name": f"probability_{c}", "type": "number"} for c in report["classes"]]
    return {"mime_type": "text/csv; header=present", "features": features, "outputs": outputs}


def _trained_outputs(ctx: AppContext, org_id: str, job_id: str, only_app: str | None) -> tuple[str, dict[str, str]]:
    """The job's id and its result files (name -> blob key); 409 unless it is a completed training job."""
    with ctx.sessions() as session:
        job = owned(session, org_id, job_id, only_app)
        if job.pipeline_key != TRAINING_PIPELINE or job.status != JobStatus.COMPLETED.value:
            raise Conflict(f"job {job.id} is a {job.status} {job.pipeline_key} job; only a COMPLETED "
                           f"{TRAINING_PIPELINE} job can be published", code="invalid_state",
                           suggestion="Publish a training job once it has completed.")
        rows, _ = job_store.list_outputs(session, job.id, RESULTS_PORT, None, 0, 100)
    return job.id, {row.filename: row.blob_key for row in rows}


def publish(ctx: AppContext, org_id: str, job_id: str, body: PublishIn, only_app: str | None = None) -> App:
    """Create the app (or its new version) serving the job's model; the app row."""
    job_id, outputs = _trained_outputs(ctx, org_id, job_id, only_app)
    report: dict[str, Any] = {}
    if "metrics.json" in outputs:
        with ctx.blobs.open(outputs["metrics.json"]) as handle:
            report = json.load(handle)
    if "model.onnx" not in outputs or not report:
        why = report.get("onnx", {}).get("error", "")
        raise Invalid(f"job {job_id} wrote no ONNX model{': ' + why if why else ''}", code="no_onnx_model",
                      suggestion="Train with another model.family (every family exports to ONNX unless a "
                                 "hyperparameter keeps skl2onnx from converting it).")
    file_id = f"{job_id}-model.onnx"
    _copy_to_org_file(ctx, org_id, outputs["model.onnx"], file_id)
    version = app_service.AppVersionCreate(
        version=body.version, config=serving_config(report), pricing=body.pricing,
        references={"worker.model": [app_service.ReferenceIn(file_id=file_id, metadata={"training_job": job_id})]})
    try:
        with ctx.sessions() as session:
            existing = app_store.get(session, org_id, body.app)
        if existing is None:
            return app_service.create_app(ctx, org_id, app_service.AppCreate(
                name=body.app, pipeline_key=SERVING_PIPELINE, description=body.description,
                **version.model_dump(exclude_unset=True)))
        if existing.pipeline_key != SERVING_PIPELINE:
            raise Conflict(f"app {body.app} runs {existing.pipeline_key}, not {SERVING_PIPELINE}", field="app",
                           code="app_exists", suggestion="Publish to a new app name.")
        app_service.add_version(ctx, org_id, existing.id, version)
        return existing
    finally:
        file_service.delete(ctx, org_id, file_id)  # the app version keeps its own copy of the model


def target_problems(session: Session, org_id: str, pipeline_key: str, config: BaseModel) -> list[Problem]:
    """A training job's `publish` target that cannot be published to, as create-time problems."""
    target = getattr(config, "publish", None) if pipeline_key == TRAINING_PIPELINE else None
    if target is None:
        return []
    field = "parameters.worker.config.publish"
    app = app_store.get(session, org_id, target.app)
    if app is None:
        return []
    if app.pipeline_key != SERVING_PIPELINE:
        return [Problem(f"{field}.app: app {target.app} runs {app.pipeline_key}, not {SERVING_PIPELINE}",
                        f"{field}.app", "Publish to a new app name, or to a tabular-model app.", "app_exists")]
    if app_store.get_version(session, app.id, target.version) is not None:
        return [Problem(f"{field}.version: app {target.app} already has version {target.version}",
                        f"{field}.version", "Versions are immutable; pick a new version label.", "version_exists")]
    return []


def _copy_to_org_file(ctx: AppContext, org_id: str, blob_key: str, file_id: str) -> None:
    uid = file_service.new_file_uid()
    stats = file_service.UploadStats(is_csv=False)
    with ctx.blobs.writer(keys.org_file(org_id, uid)) as out:
        for chunk in ctx.blobs.iter_chunks(blob_key):
            stats.feed(chunk)
            out.write(chunk)
    file_service.record_upload(ctx, org_id, file_id, uid, "application/octet-stream", stats)
