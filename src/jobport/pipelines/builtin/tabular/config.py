"""Config of the `tabular-model` pipeline (`parameters.worker.config`; the Gravity surface builds it
from the app's saved settings and the request's `mimeType`, `mapping` and `outputMapping`).

Everything that can be checked without the file is checked here, so a bad request is a 400 that
names the setting: the MIME type, schema-path syntax, mapping destinations that are not features,
default values of the wrong type, the output filename. The JSON Schema of `TabularModelConfig` is
the pipeline's `user_config_schema`, so every field has a description.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jobport.pipelines.builtin.tabular.coercion import CoercionError, FieldType, coerce, is_missing
from jobport.pipelines.builtin.tabular.formats import ACCEPTED_MIME_TYPES, RecordFormat, parse_mime
from jobport.pipelines.builtin.tabular.paths import PathError, SchemaPath, check_writable, parse_path

_UNSAFE_FILENAME = re.compile(r"[/\\\x00-\x1f]")


class FieldSpec(BaseModel):
    """One model input (feature) or output column."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=200, description="Field name: a CSV column or JSON key.")
    type: FieldType = Field(
        "number",
        description="number (finite float), integer (no fractional part), string, or boolean (true/false).",
    )


class MappingRule(BaseModel):
    """Gravity mapping object: copy the value at `source` to `destination`; `defaultValue` fills a
    missing or empty value."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True)

    source: str = Field(
        ...,
        max_length=1000,
        description="Schema path of the value to read: `/`-separated keys, `[n]` array position, `[*]` every "
        "position (e.g. `customer/addresses[0]/zip`, `items[*]/price`); a CSV column name.",
    )
    destination: str = Field(
        ...,
        max_length=1000,
        description="Schema path to write: a feature name in `mapping`, any path in `output_mapping`.",
    )
    default_value: str | bool | int | float | None = Field(
        None,
        alias="defaultValue",
        description='Used when the source is missing or empty (null, ""); must fit the destination\'s type.',
    )

    @field_validator("source", "destination")
    @classmethod
    def _is_path(cls, value: str) -> str:
        try:
            parse_path(value)
        except PathError as err:
            raise ValueError(str(err)) from None
        return value

    @property
    def source_path(self) -> SchemaPath:
        return parse_path(self.source)

    @property
    def destination_path(self) -> SchemaPath:
        return parse_path(self.destination)

    @property
    def has_default(self) -> bool:
        return not is_missing(self.default_value)


class TabularModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mime_type: str = Field(
        "text/csv; header=present",
        description=f"Format of the input files (and of the output file): one of {', '.join(ACCEPTED_MIME_TYPES)}. "
        "`text/csv` alone means header=present.",
    )
    columns: list[str] | None = Field(
        None,
        min_length=1,
        description="Column names of a `text/csv; header=absent` file, in order (default: the feature names).",
    )
    features: list[FieldSpec] = Field(..., min_length=1, description="The model's inputs, in the model's order.")
    outputs: list[FieldSpec] = Field(
        ...,
        min_length=1,
        description="The model's outputs flattened in order: one name per output column (an [N, k] output is k "
        "columns; scikit-learn: predict, then the predict_proba columns).",
    )
    mapping: list[MappingRule] = Field(
        default_factory=list,
        description="Input mapping: feature (destination) <- input record path (source). A feature without a "
        "rule reads the input field of the same name.",
    )
    output_mapping: list[MappingRule] = Field(
        default_factory=list,
        description="Output mapping: output record path (source) -> output path (destination). When given, the "
        "output records hold exactly these destinations.",
    )
    output_filename: str | None = Field(
        None,
        max_length=255,
        description="Name of the output file (default `data_<input stem>.<csv|json|jsonl>`): a plain file name.",
    )
    chunk_rows: int = Field(10_000, ge=1, le=1_000_000, description="Records read, scored and written per chunk.")
    include_inputs: bool = Field(True, description="Start each output record with the input record's fields.")

    @field_validator("mime_type")
    @classmethod
    def _known_format(cls, value: str) -> str:
        parse_mime(value)
        return value

    @field_validator("output_filename")
    @classmethod
    def _plain_filename(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.strip() or value in (".", "..") or _UNSAFE_FILENAME.search(value):
            raise ValueError(f"{value!r} is not a plain file name (no '/', '\\' or control characters)")
        return value

    @field_validator("columns")
    @classmethod
    def _distinct_columns(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            _check_distinct("columns", value)
            if any(not name for name in value):
                raise ValueError("column names must not be empty")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TabularModelConfig:
        _check_distinct("features", [f.name for f in self.features])
        _check_distinct("outputs", [f.name for f in self.outputs])
        self._check_mapping()
        self._check_output_mapping()
        return self

    def _check_mapping(self) -> None:
        types = {f.name: f.type for f in self.features}
        seen: dict[str, int] = {}
        for i, rule in enumerate(self.mapping):
            name = rule.destination_path.text.lstrip("/")
            if name not in types:
                raise ValueError(
                    f"mapping[{i}].destination '{rule.destination}' is not a feature; features: {', '.join(types)}"
                )
            if name in seen:
                raise ValueError(f"mapping[{i}] and mapping[{seen[name]}] both map to feature '{name}'")
            seen[name] = i
            _check_default(f"mapping[{i}]", rule, types[name], f"feature '{name}'")

    def _check_output_mapping(self) -> None:
        types = {f.name: f.type for f in self.outputs}
        seen: dict[str, int] = {}
        for i, rule in enumerate(self.output_mapping):
            try:
                check_writable(rule.destination_path)
            except PathError as err:
                raise ValueError(f"output_mapping[{i}].destination: {err}") from None
            if rule.destination in seen:
                raise ValueError(
                    f"output_mapping[{i}] and output_mapping[{seen[rule.destination]}] both write '{rule.destination}'"
                )
            seen[rule.destination] = i
            key = rule.source_path.simple_key
            if key in types:
                _check_default(f"output_mapping[{i}]", rule, types[key], f"output '{key}'")

    @property
    def record_format(self) -> RecordFormat:
        return parse_mime(self.mime_type)

    @property
    def csv_column_names(self) -> list[str]:
        """Names of the columns of a header=absent CSV."""
        return list(self.columns) if self.columns else [f.name for f in self.features]

    def output_name(self, input_stem: str) -> str:
        return self.output_filename or f"data_{input_stem}.{self.record_format.extension}"


def _check_distinct(what: str, names: list[str]) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what} lists '{name}' more than once")
        seen.add(name)


def _check_default(where: str, rule: MappingRule, field_type: FieldType, target: str) -> Any:
    if not rule.has_default:
        return None
    try:
        return coerce(rule.default_value, field_type)
    except CoercionError as err:
        raise ValueError(f"{where}.default_value: {err} ({target} is {field_type})") from None
