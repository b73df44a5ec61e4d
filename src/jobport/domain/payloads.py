"""Typed payloads: the contract between the services that create jobs and the engine that runs them.

- `InputPayload` is what a job input row carries (`job_inputs.data`): the input's file facts and
  where its bytes are, a blob key or the bytes themselves (an inline record). The services build
  it (`of_file`, `of_record`, `of_reference`), the engine reads it (`engine.messages.FileSpec`).
- `ReferenceFile` is one of an app version's copied reference files (`app_versions.references`).
- `ComponentParameters` is a job's `parameters[component]`: its parallelism and validated config.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


def extension_of(filename: str) -> str:
    return filename.rsplit(".", 1)[-1].lower() if "." in filename else ""


class ReferenceFile(BaseModel):
    """A reference file (e.g. a model) copied under an app version's own blob prefix."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    port_name: str
    file_id: str
    file_uid: str
    blob_key: str
    sha256: str
    num_bytes: int
    file_type: str
    attributes: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)


class InputPayload(BaseModel):
    """The `data` of a job input row. Exactly one of `blob_key` and `inline` is set."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    filename: str
    file_type: str
    file_extension: str = ""
    num_bytes: int
    metadata: dict[str, Any] = Field(default_factory=dict)
    file_tags: list[str] = Field(default_factory=list)
    file_attributes: dict[str, Any] = Field(default_factory=dict)
    sha256: str = ""
    blob_key: str | None = None
    inline: str | None = None  # an inline record's bytes (one JSONL line): it travels with the task

    # The factories build payloads from values the server already checked: `model_construct` with
    # every field given skips validation and default factories (10,000 record jobs of one request
    # build 10,000 payloads).
    @classmethod
    def of_file(cls, filename: str, file_type: str, num_bytes: int, sha256: str, blob_key: str,
                attributes: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None) -> InputPayload:
        return cls.model_construct(filename=filename, file_type=file_type, file_extension=extension_of(filename),
                                   num_bytes=num_bytes, metadata=metadata or {}, file_tags=[],
                                   file_attributes=attributes or {}, sha256=sha256, blob_key=blob_key, inline=None)

    @classmethod
    def of_record(cls, filename: str, line: str) -> InputPayload:
        """One JSON object as a one-line JSONL input (`line` without its newline)."""
        return cls.model_construct(filename=filename, file_type="application/x-ndjson",
                                   file_extension=extension_of(filename), num_bytes=len(line.encode()) + 1,
                                   metadata={}, file_tags=[], file_attributes={"num_lines": 1}, sha256="",
                                   blob_key=None, inline=line + "\n")

    @staticmethod
    def record_row(filename: str, line: str) -> dict[str, Any]:
        """`of_record(filename, line).to_row()`, without building the model."""
        return {"filename": filename, "file_type": "application/x-ndjson", "file_extension": extension_of(filename),
                "num_bytes": len(line.encode()) + 1, "metadata": {}, "file_tags": [],
                "file_attributes": {"num_lines": 1}, "sha256": "", "inline": line + "\n"}

    @classmethod
    def of_reference(cls, ref: ReferenceFile) -> InputPayload:
        return cls.model_construct(filename=ref.file_id, file_type=ref.file_type, file_extension="",
                                   num_bytes=ref.num_bytes, metadata=ref.metadata, file_tags=[],
                                   file_attributes=ref.attributes, sha256=ref.sha256, blob_key=ref.blob_key,
                                   inline=None)

    @classmethod
    def from_row(cls, data: dict[str, Any]) -> InputPayload:
        return cls.model_validate(data)

    def to_row(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class ComponentParameters(BaseModel):
    """`parameters[component]` of a job: how many inputs run at once, and the validated config."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    parallelism: int = 1
    config: dict[str, Any] = Field(default_factory=dict)
    resources: dict[str, Any] | None = None  # overrides of the pipeline's worker resources (executor `ray`)


_PARAMETERS = TypeAdapter(dict[str, ComponentParameters])


def job_parameters(component: str, parallelism: int, config: dict[str, Any],
                   resources: dict[str, Any] | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {"parallelism": parallelism, "config": config}
    if resources:
        values["resources"] = resources
    return {component: values}


def component_resources(parameters: dict[str, Any] | None, component: str) -> dict[str, Any] | None:
    """The resource overrides a job's `parameters` hold for `component` (None when there are none)."""
    found = _PARAMETERS.validate_python(parameters or {}).get(component)
    return found.resources if found else None


def component_config(parameters: dict[str, Any] | None, component: str) -> dict[str, Any]:
    """The config a job's `parameters` hold for `component` ({} when there is none)."""
    found = _PARAMETERS.validate_python(parameters or {}).get(component)
    return dict(found.config) if found else {}
