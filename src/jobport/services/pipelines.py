"""The pipeline registry as the API shows it: rows synced from the installed pipelines at start."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jobport.domain.errors import Invalid, NotFound
from jobport.domain.ids import new_id
from jobport.domain.times import iso_utc
from jobport.pipelines.registry import config_schema, default_config, user_config_schema
from jobport.pipelines.sdk import Pipeline
from jobport.services.context import AppContext
from jobport.store.db import transaction, utcnow
from jobport.store.tables import PipelineRow

PUBLISHED = "published"


def _version_tuple(version: str) -> tuple[int | str, ...]:
    return tuple(int(p) if p.isdigit() else p for p in version.replace("-", ".").split("."))


def _document(pipeline: Pipeline) -> dict[str, Any]:
    spec = pipeline.spec
    return {
        "default_config": default_config(spec),
        "config_schema": config_schema(spec),
        "user_config_schema": user_config_schema(spec),
        "inputs": [p.public() for p in spec.inputs],
        "outputs": [p.public() for p in spec.outputs],
        "edges": [],
        "retry_policy": spec.retry_policy.public(),
        "pricing": {"records_per_group": spec.pricing.records_per_group,
                    "units_per_group": spec.pricing.units_per_group},
    }


def sync(ctx: AppContext) -> None:
    """Insert or refresh a published registry row for every installed pipeline version."""
    now = utcnow()
    with transaction(ctx.sessions) as session:
        for pipeline in ctx.registry.all():
            spec = pipeline.spec
            row = session.scalar(select(PipelineRow).where(PipelineRow.pipeline_key == spec.key,
                                                           PipelineRow.pipeline_version == spec.version))
            if row is None:
                row = PipelineRow(id=new_id("ppl"), pipeline_key=spec.key, pipeline_version=spec.version,
                                  component_id=new_id("cmp"), status=PUBLISHED, visibility="platform", created_at=now)
                session.add(row)
            row.name = spec.name
            row.description = spec.description
            row.pipeline_type = spec.pipeline_type
            row.document = _document(pipeline)
            row.updated_at = now


def resolve(session: Session, key: str, version: str | None, pipeline_type: str | None = None) -> PipelineRow:
    rows = list(session.scalars(select(PipelineRow).where(PipelineRow.pipeline_key == key)))
    if not rows:
        known = sorted(set(session.scalars(select(PipelineRow.pipeline_key).where(PipelineRow.status == PUBLISHED))))
        raise Invalid(f"unknown pipeline {key!r}", field="pipeline_key", code="invalid_pipeline",
                      suggestion=f"Use one of: {', '.join(known) or '(none installed)'}.")
    published = [r for r in rows if r.status == PUBLISHED]
    if version is None:
        if not published:
            raise Invalid(f"Pipeline {key!r} has no active versions", field="pipeline_key", code="invalid_pipeline",
                          suggestion="Pick another pipeline from GET /v0.5/batch/registry/pipelines.")
        row = max(published, key=lambda r: _version_tuple(r.pipeline_version))
    else:
        wanted = next((r for r in published if r.pipeline_version == version), None)
        if wanted is None:
            versions = ", ".join(sorted(r.pipeline_version for r in published)) or "none"
            raise Invalid(f"pipeline {key!r} has no published version {version!r}", field="pipeline_version",
                          code="invalid_model_version",
                          suggestion=f"Published versions: {versions}; or omit it for the latest.")
        row = wanted
    if pipeline_type is not None and row.pipeline_type != pipeline_type:
        raise Invalid(f"pipeline {key!r} is a {row.pipeline_type} pipeline, not {pipeline_type}", field="pipeline_type",
                      code="invalid_parameter", suggestion=f"Send pipeline_type '{row.pipeline_type}'.")
    return row


def row_id(session: Session, key: str, version: str) -> str:
    """The registry row id of an installed pipeline version (`key@version` if it has none yet)."""
    found = session.scalar(select(PipelineRow.id).where(PipelineRow.pipeline_key == key,
                                                        PipelineRow.pipeline_version == version))
    return found or f"{key}@{version}"


def public(row: PipelineRow, org_id: str | None = None) -> dict[str, Any]:
    doc = row.document
    return {
        "id": row.id,
        "pipeline_key": row.pipeline_key,
        "pipeline_version": row.pipeline_version,
        "name": row.name,
        "description": row.description,
        "pipeline_type": row.pipeline_type,
        "components": {"worker": row.component_id},
        "default_config": doc["default_config"],
        "config_schema": doc["config_schema"],
        "user_config_schema": doc["user_config_schema"],
        "edges": doc["edges"],
        "inputs": doc["inputs"],
        "outputs": doc["outputs"],
        "retry_policy": doc["retry_policy"],
        "visibility": row.visibility,
        "org_id": None,
        "status": row.status,
        "created_at": iso_utc(row.created_at),
        "updated_at": iso_utc(row.updated_at),
    }


def schema(row: PipelineRow) -> dict[str, Any]:
    doc = row.document
    return {
        "id": row.id,
        "pipeline_key": row.pipeline_key,
        "pipeline_version": row.pipeline_version,
        "user_schema": doc["user_config_schema"],
        "config_schema": doc["config_schema"],
        "inputs": doc["inputs"],
        "outputs": doc["outputs"],
    }


def list_rows(ctx: AppContext, pipeline_type: str | None, visibility: str | None, status: str | None,
              offset: int, limit: int) -> tuple[list[PipelineRow], int]:
    with ctx.sessions() as session:
        query = select(PipelineRow)
        if pipeline_type:
            query = query.where(PipelineRow.pipeline_type == pipeline_type)
        if visibility:
            query = query.where(PipelineRow.visibility == visibility)
        if status:
            query = query.where(PipelineRow.status == status)
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        query = query.order_by(PipelineRow.pipeline_key, PipelineRow.pipeline_version)
        rows = list(session.scalars(query.offset(offset).limit(limit)))
    return rows, int(total)


def get_row(ctx: AppContext, pipeline_id: str) -> PipelineRow:
    with ctx.sessions() as session:
        row = session.get(PipelineRow, pipeline_id)
        if row is None:
            # Accept the key (latest published version) as well as the ppl_ id.
            rows = list(session.scalars(select(PipelineRow).where(
                PipelineRow.pipeline_key == pipeline_id, PipelineRow.status == PUBLISHED)))
            if rows:
                row = max(rows, key=lambda r: _version_tuple(r.pipeline_version))
    if row is None:
        raise NotFound(f"pipeline {pipeline_id!r} not found",
                       suggestion="List pipelines with GET /v0.5/batch/registry/pipelines.")
    return row
