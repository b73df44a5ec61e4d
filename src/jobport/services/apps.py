"""Apps: a named, saved pipeline + config + reference files (the model) + pricing, in versions.

A version is immutable: its reference files are copied under `apps/<app id>/<version>/` when it is
created, so re-uploading a file of the same name never changes what a version runs. `version:
null` on the Gravity surface means the latest active version (the most recently added one).
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jobport.blobs import keys
from jobport.callbacks.urls import guard_for, validate_callback_url
from jobport.domain.errors import Conflict, Invalid, NotFound, Problem
from jobport.domain.ids import new_id
from jobport.domain.times import iso_utc
from jobport.pipelines.registry import deep_merge, default_config
from jobport.pipelines.sdk import FileFacts, FileRef, Pipeline
from jobport.services import pipelines as pipeline_service
from jobport.services.context import AppContext
from jobport.services.jobs.draft import ResourcesIn, config_problems
from jobport.store import apps as app_store
from jobport.store import files as file_store
from jobport.store.db import transaction, utcnow
from jobport.store.tables import App, AppVersion, File

VERSION_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,49}$"


class ReferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file_id: str = Field(min_length=1, max_length=512, description="A file uploaded with the Files API.")
    metadata: dict[str, Any] | None = None


class PricingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    records_per_group: int = Field(1, ge=1, le=1_000_000_000, description="Records billed as one group.")
    units_per_group: int = Field(1, ge=0, le=1_000_000_000, description="Billed units ($0.001 each) per group.")


class AppVersionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(pattern=VERSION_PATTERN, description='Version label, e.g. "1.0.1".')
    pipeline_version: str | None = Field(None, max_length=50, description="Default: the latest published.")
    config: dict[str, Any] = Field(default_factory=dict, description="Pipeline config (merged onto its defaults).")
    references: dict[str, list[ReferenceIn]] = Field(default_factory=dict,
                                                     description="Reference ports (e.g. the model file).")
    pricing: PricingIn | None = Field(None, description="Default: the pipeline's pricing.")
    resources: ResourcesIn | None = Field(None, description="What each worker of this version's jobs reserves on "
                                                            "a Ray cluster (default: the pipeline's).")


class AppSettings(BaseModel):
    """Project settings of the super.AI surface."""

    model_config = ConfigDict(extra="forbid")
    batch_callback_url: str | None = Field(None, max_length=2048, pattern=r"^https?://",
                                           description="Where super.AI batch callbacks (v2) go.")
    completion_window_seconds: int | None = Field(None, ge=1, le=365 * 86400,
                                                  description="Jobs not finished this long after creation expire.")


class AppCreate(AppVersionCreate, AppSettings):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^/\s][^/]*$")
    description: str = Field("", max_length=5000)
    pipeline_key: str = Field(min_length=1, max_length=200)
    version: str = Field("1.0.0", pattern=VERSION_PATTERN)


# A reference file of a version being created: (port name, the org's file, the reference's metadata).
Reference = tuple[str, File, dict[str, Any]]


def _reference_file_problems(ctx: AppContext, pipeline: Pipeline, config: BaseModel,
                             refs: list[Reference]) -> list[Problem]:
    """What the pipeline finds reading the version's reference files (the model loads...)."""
    files = [FileRef(input_id=f.uid, port_name=port, file_id=f.file_id, filename=f.file_id, metadata=meta,
                     sha256=f.sha256, num_bytes=f.num_bytes, opener=partial(ctx.blobs.open, f.blob_key),
                     path=ctx.blobs.local_path(f.blob_key)) for port, f, meta in refs]
    return [Problem(p.message, p.field, p.suggestion, p.code) for p in pipeline.check_references(config, files)]


def _validated_version(ctx: AppContext, session: Session, org_id: str, pipeline_key: str, body: AppVersionCreate,
                       check_files: bool = True) -> tuple[Pipeline, str, dict[str, Any], list[Reference], PricingIn]:
    row = pipeline_service.resolve(session, pipeline_key, body.pipeline_version)
    pipeline = ctx.registry.get(row.pipeline_key, row.pipeline_version)
    if pipeline is None:
        raise Invalid(f"pipeline {row.pipeline_key} {row.pipeline_version} is not installed on this server",
                      field="pipeline_version", code="invalid_pipeline")
    spec = pipeline.spec
    problems: list[Problem] = []
    config = None
    try:
        defaults = default_config(spec)[spec.component]["config"]
        config = spec.config_model.model_validate(deep_merge(defaults, body.config))
    except ValidationError as err:
        problems += config_problems(err, "config")
    reference_ports = {p.name: p for p in spec.inputs if not p.tracked}
    files = file_store.get_many(session, org_id, [r.file_id for refs in body.references.values() for r in refs])
    refs: list[Reference] = []
    for port_name, items in body.references.items():
        if port_name not in reference_ports:
            problems.append(Problem(f"references.{port_name}: not a reference port of {spec.key}",
                                    f"references.{port_name}",
                                    f"Use one of: {', '.join(reference_ports) or '(none)'}.", "invalid_port"))
            continue
        for i, item in enumerate(items):
            if item.file_id not in files:
                problems.append(Problem(f"references.{port_name}[{i}].file_id: {item.file_id!r} has not been uploaded",
                                        f"references.{port_name}[{i}].file_id",
                                        "Upload it first with POST /v0.5/files.", "file_not_found"))
            else:
                refs.append((port_name, files[item.file_id], item.metadata or {}))
    for name, port in reference_ports.items():
        if port.required and not body.references.get(name):
            problems.append(Problem(f"references.{name}: required reference port has no files", f"references.{name}",
                                    f"Add {{'file_id': ...}} under references['{name}'].", "missing_parameter"))
    if not problems and config is not None:
        facts = {port: [FileFacts(f.file_id, f.num_bytes, f.attributes, meta) for p, f, meta in refs if p == port]
                 for port in body.references}
        problems += [Problem(p.message, p.field, p.suggestion, p.code) for p in pipeline.check_create(config, facts)]
    if not problems and config is not None and check_files:
        problems += _reference_file_problems(ctx, pipeline, config, refs)
    if problems:
        raise Invalid.from_problems(problems)
    assert config is not None
    pricing = body.pricing or PricingIn(records_per_group=spec.pricing.records_per_group,
                                        units_per_group=spec.pricing.units_per_group)
    return pipeline, row.pipeline_version, config.model_dump(mode="json"), refs, pricing


def _copy_references(ctx: AppContext, app_id: str, version: str, refs: list[Reference]) -> list[dict[str, Any]]:
    """Copy each reference blob under the version's own prefix; the version row stores where."""
    copied = []
    for port_name, file, metadata in refs:
        key = keys.app_reference(app_id, version, port_name, file.file_id)
        with ctx.blobs.writer(key) as out:
            for chunk in ctx.blobs.iter_chunks(file.blob_key):
                out.write(chunk)
        copied.append({"port_name": port_name, "file_id": file.file_id, "file_uid": file.uid, "blob_key": key,
                       "sha256": file.sha256, "num_bytes": file.num_bytes, "file_type": file.file_type,
                       "attributes": file.attributes, "metadata": metadata})
    return copied


def _insert_version(session: Session, app: App, body: AppVersionCreate, pipeline_version: str,
                    config: dict[str, Any], references: list[dict[str, Any]], pricing: PricingIn) -> AppVersion:
    row = AppVersion(id=new_id("apv"), app_id=app.id, version=body.version, pipeline_version=pipeline_version,
                     config=config, references=references, records_per_group=pricing.records_per_group,
                     units_per_group=pricing.units_per_group, active=True, created_at=utcnow(), deactivated_at=None,
                     resources=body.resources.overrides() if body.resources else None)
    session.add(row)
    return row


def create_app(ctx: AppContext, org_id: str, body: AppCreate, check_files: bool = True) -> App:
    """A new app and its first version. `check_files=False` skips reading the reference files (the
    built-in example app, whose model is made by the server itself, at first start)."""
    if body.batch_callback_url:
        validate_callback_url(body.batch_callback_url, guard_for(ctx.settings), field="batch_callback_url")
    app_id = str(uuid.uuid4())
    with ctx.sessions() as session:
        if app_store.get(session, org_id, body.name) is not None:
            raise Conflict(f"an app named {body.name!r} already exists", field="name", code="app_exists",
                           suggestion="Pick another name, or add a version to the existing app.")
        _, pipeline_version, config, refs, pricing = _validated_version(ctx, session, org_id, body.pipeline_key, body,
                                                                        check_files)
    references = _copy_references(ctx, app_id, body.version, refs)
    now = utcnow()
    try:
        with transaction(ctx.sessions) as session:
            app = App(id=app_id, org_id=org_id, name=body.name, description=body.description,
                      pipeline_key=body.pipeline_key, created_at=now, updated_at=now,
                      batch_callback_url=body.batch_callback_url,
                      completion_window_seconds=body.completion_window_seconds)
            session.add(app)
            session.flush()
            _insert_version(session, app, body, pipeline_version, config, references, pricing)
    except IntegrityError:
        ctx.blobs.delete_prefix(keys.app_prefix(app_id))
        raise Conflict(f"an app named {body.name!r} already exists", field="name", code="app_exists") from None
    except BaseException:
        ctx.blobs.delete_prefix(keys.app_prefix(app_id))
        raise
    return app


def update_settings(ctx: AppContext, org_id: str, app_ref: str, body: AppSettings) -> App:
    """Set the fields the request names (null clears one)."""
    app = get_app(ctx, org_id, app_ref)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("batch_callback_url"):
        validate_callback_url(changes["batch_callback_url"], guard_for(ctx.settings), field="batch_callback_url")
    with transaction(ctx.sessions) as session:
        row = _app_row(session, app.id)
        for name, value in changes.items():
            setattr(row, name, value)
        row.updated_at = utcnow()
        session.flush()
        session.expunge(row)
    return row


def _app_row(session: Session, app_id: str) -> App:
    """An app row known to exist (looked up by `get_app` first)."""
    row = session.get(App, app_id)
    if row is None:
        raise NotFound(f"app {app_id!r} not found", field="app_id", suggestion="List apps with GET /v0.5/apps.")
    return row


def get_app(ctx: AppContext, org_id: str, app_ref: str, only_app: str | None = None) -> App:
    """The org's app by id or name; 404 also for another app than `only_app` (an app key's)."""
    with ctx.sessions() as session:
        app = app_store.get(session, org_id, app_ref)
    if app is None or (only_app is not None and app.id != only_app):
        raise NotFound(f"app {app_ref!r} not found", field="app_id", suggestion="List apps with GET /v0.5/apps.")
    return app


def add_version(ctx: AppContext, org_id: str, app_ref: str, body: AppVersionCreate) -> AppVersion:
    app = get_app(ctx, org_id, app_ref)
    with ctx.sessions() as session:
        if app_store.get_version(session, app.id, body.version) is not None:
            raise Conflict(f"app {app.name} already has version {body.version}", field="version",
                           code="version_exists", suggestion="Versions are immutable; add a new version label.")
        _, pipeline_version, config, refs, pricing = _validated_version(ctx, session, org_id, app.pipeline_key, body)
    references = _copy_references(ctx, app.id, body.version, refs)
    try:
        with transaction(ctx.sessions) as session:
            row = _insert_version(session, app, body, pipeline_version, config, references, pricing)
            _app_row(session, app.id).updated_at = utcnow()
    except IntegrityError:
        raise Conflict(f"app {app.name} already has version {body.version}", field="version",
                       code="version_exists") from None
    return row


def set_version_active(ctx: AppContext, org_id: str, app_ref: str, version: str, active: bool) -> AppVersion:
    app = get_app(ctx, org_id, app_ref)
    with transaction(ctx.sessions) as session:
        row = app_store.get_version(session, app.id, version)
        if row is None:
            raise NotFound(f"app {app.name} has no version {version!r}", field="version")
        row.active = active
        row.deactivated_at = None if active else utcnow()
        _app_row(session, app.id).updated_at = utcnow()  # the app changed: cached versions of it are stale
        session.flush()
        session.expunge(row)
    return row


def resolve_version(session: Session, app: App, version: str | None) -> AppVersion:
    """The version a request asked for (None = latest active); Invalid if unknown or inactive."""
    if version is None:
        row = app_store.latest_active_version(session, app.id)
        if row is None:
            raise Invalid(f"app {app.name} has no active version", field="version", code="no_active_version",
                          suggestion="Ask the app's owner to add or re-activate a version.")
        return row
    row = app_store.get_version(session, app.id, version)
    if row is None or not row.active:
        state = "inactive" if row is not None else "unknown"
        raise Invalid(f"version {version!r} of app {app.name} is {state}", field="version", code="invalid_version",
                      suggestion='Send "version": null for the latest active version.')
    return row


def list_apps(ctx: AppContext, org_id: str, offset: int, limit: int,
              only_app: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """The org's apps, newest first; `only_app` (an app key's app): that one alone."""
    with ctx.sessions() as session:
        if only_app is None:
            rows, total = app_store.list_apps(session, org_id, offset, limit)
        else:
            own = [a for a in [app_store.get_any(session, only_app)] if a is not None and a.org_id == org_id]
            rows, total = own[offset:offset + limit], len(own)
        versions = app_store.versions(session, [r.id for r in rows])
    return [public(r, versions[r.id]) for r in rows], total


def get_public(ctx: AppContext, org_id: str, app_ref: str, only_app: str | None = None) -> dict[str, Any]:
    app = get_app(ctx, org_id, app_ref, only_app)
    with ctx.sessions() as session:
        versions = app_store.versions(session, [app.id])[app.id]
    return public(app, versions)


def version_public(row: AppVersion) -> dict[str, Any]:
    return {
        "version": row.version, "pipeline_version": row.pipeline_version, "active": row.active, "config": row.config,
        "references": [{k: ref[k] for k in ("port_name", "file_id", "sha256", "num_bytes")} for ref in row.references],
        "pricing": {"records_per_group": row.records_per_group, "units_per_group": row.units_per_group},
        "resources": row.resources,
        "created_at": iso_utc(row.created_at), "deactivated_at": iso_utc(row.deactivated_at),
    }


def public(app: App, versions: list[AppVersion]) -> dict[str, Any]:
    active = [v for v in versions if v.active]
    return {
        "id": app.id, "name": app.name, "description": app.description, "pipeline_key": app.pipeline_key,
        "latest_version": active[-1].version if active else None,
        "batch_callback_url": app.batch_callback_url, "completion_window_seconds": app.completion_window_seconds,
        "versions": [version_public(v) for v in versions],
        "created_at": iso_utc(app.created_at), "updated_at": iso_utc(app.updated_at),
    }
