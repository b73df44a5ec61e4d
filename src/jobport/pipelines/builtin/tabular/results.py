"""Output records: the input record's fields (when `include_inputs`), then the model's declared
outputs (an output named like an input field replaces it in place), then `output_mapping`.

With output mapping, each output record holds exactly the rules' destinations: the value at the
rule's source path in the record above, or its default when that value is missing or empty
(fan-out sources: each missing element). On the fast CSV path (`as_table`, all rule paths plain
names) a source column that does not exist at all is an error, being a typo; elsewhere a missing
value without a default is written as null/empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jobport.pipelines.builtin.tabular.coercion import is_missing
from jobport.pipelines.builtin.tabular.config import MappingRule, TabularModelConfig
from jobport.pipelines.builtin.tabular.errors import RecordError
from jobport.pipelines.builtin.tabular.paths import MISSING, get_path, set_path

if TYPE_CHECKING:  # pyarrow is imported where output tables are built (a worker), not with the config
    import numpy as np
    import pyarrow as pa


class OutputBuilder:
    def __init__(self, config: TabularModelConfig) -> None:
        self.include_inputs = config.include_inputs
        self.output_names = [o.name for o in config.outputs]
        self.rules = list(config.output_mapping)
        self.columnar = all(r.source_path.simple_key and r.destination_path.simple_key for r in self.rules)

    def reads_input_fields(self) -> bool:
        """Whether the output needs the input record's fields besides the features."""
        if not self.rules:
            return self.include_inputs
        return self.include_inputs and any(r.source_path.segments[0].key not in self.output_names for r in self.rules)

    def as_table(self, inputs: pa.Table | None, outputs: Sequence[np.ndarray]) -> pa.Table:
        import pyarrow as pa

        columns: dict[str, pa.Array | pa.ChunkedArray] = {}
        if self.include_inputs and inputs is not None:
            columns = {name: inputs.column(name) for name in inputs.column_names}
        for name, values in zip(self.output_names, outputs, strict=False):
            columns[name] = _arrow(values)
        if not self.rules:
            return pa.table(columns)
        mapped = {}
        rows = len(outputs[0])
        for i, rule in enumerate(self.rules):
            key = rule.source_path.simple_key
            column = columns.get(key)
            if column is None:
                if not rule.has_default:
                    raise RecordError(
                        f"output_mapping[{i}].source '{rule.source}' is not a field of the output records "
                        f"(fields: {', '.join(columns)})",
                        f"output_mapping[{i}].source",
                        "Use one of those fields, or give the rule a defaultValue.",
                        code="missing_column",
                    )
                column = pa.array([rule.default_value] * rows)
            elif rule.has_default:
                column = _fill_missing(column, rule.default_value)
            mapped[rule.destination_path.simple_key] = column
        return pa.table(mapped)

    def as_records(
        self, inputs: Sequence[dict[str, Any]] | None, outputs: Sequence[np.ndarray]
    ) -> list[dict[str, Any]]:
        names = self.output_names
        # Iterating numpy arrays keeps numpy scalars: orjson writes a float32 as its shortest float32 text.
        records: list[dict[str, Any]] = []
        for i, values in enumerate(zip(*outputs, strict=False)):
            record = dict(inputs[i]) if self.include_inputs and inputs is not None else {}
            record.update(zip(names, values, strict=False))
            records.append(record)
        if not self.rules:
            return records
        return [self._mapped(record) for record in records]

    def _mapped(self, record: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for rule in self.rules:
            set_path(out, rule.destination_path, _with_default(get_path(record, rule.source_path), rule))
        return out


def _with_default(value: Any, rule: MappingRule) -> Any:
    if isinstance(value, list) and rule.source_path.fans_out:
        return [rule.default_value if is_missing(v) else v for v in value] if rule.has_default else value
    if value is MISSING or is_missing(value):
        return rule.default_value
    return value


def _arrow(values: np.ndarray) -> pa.Array:
    import pyarrow as pa

    if values.dtype == object:
        return pa.array(values, type=pa.string())
    return pa.array(values)


def _fill_missing(column: pa.ChunkedArray | pa.Array, default: Any) -> pa.ChunkedArray | pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(column.type):
        column = pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
    if not column.null_count:
        return column
    try:
        fill = pa.scalar(default).cast(column.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # A default of another type than the column (text default for a number column): write text.
        column, fill = column.cast(pa.string()), pa.scalar(str(default))
    return pc.fill_null(column, fill)
