"""Input mapping: input records -> model-ready feature columns.

For each feature the value is read at the source of the mapping rule whose destination is that
feature, else at the input field of the same name. A missing or empty value takes the rule's
default; a value still missing, or one that does not fit the feature's type, is a `RecordError`
naming the record's line and the source. `from_records` does this per record (any schema path);
`from_table` does it per column on the fast CSV path (plain column names only).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobport.pipelines.builtin.tabular.coercion import (
    NUMPY_DTYPES,
    CoercionError,
    ColumnError,
    FieldType,
    coerce,
    column_values,
    is_missing,
)
from jobport.pipelines.builtin.tabular.config import TabularModelConfig
from jobport.pipelines.builtin.tabular.errors import RecordError
from jobport.pipelines.builtin.tabular.formats import RecordFormat
from jobport.pipelines.builtin.tabular.paths import MISSING, SchemaPath, field_path, get_path

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

# numpy is imported where features are made (in a worker, or by preflight), not with the config.
Features = dict[str, "np.ndarray"]


@dataclass(frozen=True)
class FeatureSource:
    feature: str
    index: int  # position among the features
    type: FieldType
    path: SchemaPath
    rule: int | None  # index of the mapping rule, None when read from the field of the same name
    default: Any  # coerced default value, None when there is none

    @property
    def config_field(self) -> str:
        """The setting to fix when this source is missing."""
        return f"mapping[{self.rule}].source" if self.rule is not None else f"features[{self.index}].name"

    def describe(self, fmt: RecordFormat) -> str:
        mapped = f" (-> feature '{self.feature}')" if self.rule is not None and self.path.text != self.feature else ""
        return f"{fmt.field_word} '{self.path.text}'{mapped}"

    def missing_error(self, fmt: RecordFormat, position: int) -> RecordError:
        return RecordError(
            f"{fmt.position_word} {position}: {self.describe(fmt)} is missing or empty and has no default value",
            self.config_field,
            f"Fill in '{self.path.text}' or give a defaultValue in a mapping rule for feature '{self.feature}'.",
            code="missing_value",
        )

    def value_error(self, fmt: RecordFormat, position: int, reason: str) -> RecordError:
        return RecordError(
            f"{fmt.position_word} {position}: {self.describe(fmt)}: {reason}",
            suggestion=f"Feature '{self.feature}' is declared {self.type}: make every '{self.path.text}' value one.",
            code="invalid_value",
        )


class InputMapping:
    def __init__(self, config: TabularModelConfig) -> None:
        self.format = config.record_format
        rules = {rule.destination_path.text.lstrip("/"): (i, rule) for i, rule in enumerate(config.mapping)}
        self.sources: list[FeatureSource] = []
        for position, spec in enumerate(config.features):
            index, rule = rules.get(spec.name, (None, None))
            path = rule.source_path if rule is not None else field_path(spec.name)
            default = coerce(rule.default_value, spec.type) if rule is not None and rule.has_default else None
            self.sources.append(FeatureSource(spec.name, position, spec.type, path, index, default))

    def source_columns(self) -> list[str] | None:
        """The source column names when every source is a plain column name (the fast CSV path
        reads them as text and converts them column by column); None otherwise."""
        keys = [source.path.simple_key for source in self.sources]
        if any(key is None for key in keys):
            return None
        return list(dict.fromkeys(keys))  # type: ignore[arg-type]

    def check_columns(self, names: Sequence[str], header: bool) -> None:
        """Every source without a default must be a column of the CSV, and a source read as a plain
        column name must not be a repeated one (`RecordError` naming it)."""
        present = set(names)
        self._check_repeated(names, header)
        for source in self.sources:
            if source.default is not None or source.path.segments[0].key in present:
                continue
            where = "in the CSV header" if header else "among the CSV's `columns`"
            raise RecordError(
                f"column '{source.path.segments[0].key}' ({_role(source)}) is not {where}; columns: {', '.join(names)}",
                source.config_field,
                f"Map feature '{source.feature}' from one of the file's columns with a mapping rule "
                "{source, destination}, or give it a defaultValue.",
                code="missing_column",
            )

    def _check_repeated(self, names: Sequence[str], header: bool) -> None:
        """A repeated column holds a list of values (for selectors such as `price[1]`); a feature read
        by the plain name would get that list."""
        repeated = {name for name, count in Counter(names).items() if count > 1}
        for source in self.sources:
            key = source.path.simple_key
            if key is None or key not in repeated:
                continue
            where = "in the CSV header" if header else "among the CSV's `columns`"
            raise RecordError(
                f"duplicate column name '{key}' {where} ({names.count(key)} columns are called so); "
                f"{_role(source)} takes one value",
                source.config_field,
                "Give the columns distinct names, or pick one of them with a selector in a mapping rule "
                f"(source '{key}[0]' for the first).",
                code="duplicate_column",
            )

    def from_table(self, table: pa.Table, positions: Sequence[int]) -> Features:
        import numpy as np

        features: Features = {}
        for source in self.sources:
            key = source.path.simple_key
            assert key is not None
            if key not in table.column_names:
                features[source.feature] = np.full(table.num_rows, source.default, dtype=NUMPY_DTYPES[source.type])
                continue
            try:
                values, missing = column_values(table.column(key), source.type)
            except ColumnError as err:
                raise source.value_error(self.format, positions[err.row], str(err)) from None
            if missing.any():
                if source.default is None:
                    raise source.missing_error(self.format, positions[int(np.flatnonzero(missing)[0])])
                values = values.copy()  # to_numpy may hand out a read-only view of the arrow buffer
                values[missing] = source.default
            features[source.feature] = values
        return features

    def from_records(self, records: Sequence[dict[str, Any]], positions: Sequence[int]) -> Features:
        return {source.feature: self._column(source, records, positions) for source in self.sources}

    def _column(self, source: FeatureSource, records: Sequence[dict[str, Any]], positions: Sequence[int]) -> np.ndarray:
        import numpy as np

        key, path, fans_out = source.path.simple_key, source.path, source.path.fans_out
        values = []
        for record, position in zip(records, positions, strict=False):
            value = record.get(key, MISSING) if key is not None else get_path(record, path)
            if fans_out:
                value = self._one_of(source, value, position)
            if value is MISSING or is_missing(value):
                if source.default is None:
                    raise source.missing_error(self.format, position)
                values.append(source.default)
                continue
            try:
                values.append(coerce(value, source.type))
            except CoercionError as err:
                raise source.value_error(self.format, position, str(err)) from None
        return np.array(values, dtype=NUMPY_DTYPES[source.type])

    def _one_of(self, source: FeatureSource, values: list[Any], position: int) -> Any:
        """A fan-out source feeds a feature when it selects at most one value."""
        present = [v for v in values if not is_missing(v)]
        if len(present) > 1:
            raise source.value_error(
                self.format, position, f"selects {len(present)} values; feature '{source.feature}' takes one"
            )
        return present[0] if present else MISSING


def _role(source: FeatureSource) -> str:
    if source.rule is None:
        return f"feature '{source.feature}'"
    return f"mapping[{source.rule}].source for feature '{source.feature}'"
