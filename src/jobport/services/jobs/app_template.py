"""What the jobs of an app share: the app version a request runs (the latest active one unless it
names another), its pipeline, its config with the request's overrides, its copied reference files
and its pricing. Gravity jobs (a posted file) and super.AI jobs (inline records) start here.
Their rows stay lean: a job stores only the request's overrides, and the app version keeps the
config and the reference files the scheduler reads (`engine.scheduler._app_version_parts`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from jobport.domain.errors import Invalid
from jobport.domain.payloads import InputPayload, ReferenceFile
from jobport.domain.pricing import billing
from jobport.pipelines.registry import deep_merge
from jobport.pipelines.sdk import Pipeline
from jobport.services import pipelines as pipeline_service
from jobport.services.apps import resolve_version
from jobport.services.context import AppContext
from jobport.services.jobs.draft import Billing, DraftInput, JobTemplate, config_problems
from jobport.store.tables import App, AppVersion


@dataclass(frozen=True)
class AppRun:
    """An app version ready to make jobs from."""

    app: App
    version: AppVersion
    template: JobTemplate

    def bill(self, records: int) -> Billing:
        groups, units = billing(records, self.version.records_per_group, self.version.units_per_group)
        return Billing(records, groups, units)

    @property
    def data_port(self) -> str:
        port = self.template.data_port
        if port is None:
            raise Invalid(f"app {self.app.name}'s pipeline takes no data input", code="invalid_app")
        return port


def app_pipeline(ctx: AppContext, session: Session, app: App, version_label: str | None) -> tuple[AppVersion, Pipeline]:
    """The app version a request runs (400 if unknown or inactive) and its installed pipeline."""
    version = resolve_version(session, app, version_label)
    return version, installed_pipeline(ctx, app, version)


def _version_of(ctx: AppContext, app: App, version_label: str | None) -> tuple[AppVersion, str]:
    """The app version a request runs and its pipeline's row id, from this process's cache when
    the app row is unchanged: adding a version or (de)activating one stamps the app's
    `updated_at`, so a key with it never answers a version the database no longer would."""
    key = (app.id, app.updated_at, version_label)
    found: tuple[AppVersion, str] | None = ctx.app_versions.get(key, math.inf)
    if found is None:
        with ctx.sessions() as session:
            version, pipeline = app_pipeline(ctx, session, app, version_label)
            found = version, pipeline_service.row_id(session, pipeline.spec.key, pipeline.spec.version)
        ctx.app_versions.put(key, found)
    return found


def installed_pipeline(ctx: AppContext, app: App, version: AppVersion) -> Pipeline:
    """The installed pipeline an app version needs; 400 when this server lacks it."""
    pipeline = ctx.registry.get(app.pipeline_key, version.pipeline_version)
    if pipeline is None:
        raise Invalid(f"app {app.name} version {version.version} needs pipeline {app.pipeline_key} "
                      f"{version.pipeline_version}, which is not installed on this server", field="version",
                      code="invalid_version")
    return pipeline


def references_of(version: AppVersion) -> list[DraftInput]:
    refs = [ReferenceFile.model_validate(ref) for ref in version.references]
    return [DraftInput(r.port_name, r.file_id, r.file_uid, InputPayload.of_reference(r), tracked=False) for r in refs]


# the request's config overrides, given the settings the app's pipeline has (its config model)
Overrides = Callable[[type[BaseModel]], dict[str, Any]]


def app_run(ctx: AppContext, app: App, version_label: str | None, overrides: Overrides,
            problems_prefix: str) -> AppRun:
    """The app version with the request's config overrides validated (problems name
    `<problems_prefix>.<setting>`)."""
    version, pipeline_id = _version_of(ctx, app, version_label)
    pipeline = installed_pipeline(ctx, app, version)
    model = pipeline.spec.config_model
    changes = overrides(model)
    try:
        config = model.model_validate(deep_merge(version.config, changes))
    except ValidationError as err:
        raise Invalid.from_problems(config_problems(err, problems_prefix)) from None
    return AppRun(app, version, JobTemplate(pipeline, pipeline_id, config, 1, references_of(version),
                                            version.resources or None, app_overrides=changes))
