"""The pipeline registry: pipeline classes found through the `jobport.pipelines` entry-point group,
and what the registry API shows of each (ports, JSON Schema of the config, default config)."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any

import structlog
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from jobport.pipelines.sdk import HostContext, Pipeline, PipelineSpec

ENTRY_POINT_GROUP = "jobport.pipelines"
log = structlog.get_logger("jobport.registry")


def default_values(model: type[BaseModel]) -> dict[str, Any]:
    """The defaults a config model declares, nested models included; required fields are left out."""
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if field.default is not PydanticUndefined:
            default = field.default
            values[name] = default.model_dump(mode="json") if isinstance(default, BaseModel) else default
        elif field.default_factory is not None:
            default = field.default_factory()  # type: ignore[call-arg]
            values[name] = default.model_dump(mode="json") if isinstance(default, BaseModel) else default
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            values[name] = default_values(annotation)
    return values


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def default_config(spec: PipelineSpec) -> dict[str, Any]:
    return {spec.component: {"parallelism": spec.default_parallelism, "config": default_values(spec.config_model)}}


def user_config_schema(spec: PipelineSpec) -> dict[str, Any]:
    return spec.config_model.model_json_schema()


def config_schema(spec: PipelineSpec) -> dict[str, Any]:
    """Schema of the whole `parameters` object: per component, parallelism and config."""
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            spec.component: {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "parallelism": {"type": "integer", "minimum": 1, "default": spec.default_parallelism},
                    "config": user_config_schema(spec),
                },
            }
        },
    }


class Registry:
    """All pipelines this server can run, by (key, version)."""

    def __init__(self, pipelines: Iterable[Pipeline]) -> None:
        self._by_key_version: dict[tuple[str, str], Pipeline] = {}
        for pipeline in pipelines:
            spec = pipeline.spec
            self._by_key_version[(spec.key, spec.version)] = pipeline

    @classmethod
    def from_entry_points(cls, host: HostContext | None = None) -> Registry:
        host = host or HostContext()
        pipelines = []
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                pipeline = ep.load()()
                pipeline.configure(host)
            except Exception:  # one broken plugin must not take the server down; it is logged
                log.exception("pipeline entry point failed to load", entry_point=ep.name)
                continue
            pipelines.append(pipeline)
        return cls(pipelines)

    def get(self, key: str, version: str) -> Pipeline | None:
        return self._by_key_version.get((key, version))

    def all(self) -> list[Pipeline]:
        return list(self._by_key_version.values())

    def keys(self) -> list[str]:
        return sorted({k for k, _ in self._by_key_version})
