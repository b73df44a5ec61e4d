"""Training data: a CSV or JSON Lines file read into columns (pyarrow), then the design matrix X
(float64, one column per feature, in the config's order) and the target y (class names as text
for classification, floats for regression). Every problem raises `InputError` naming the column
and the fix; the same checks run at job creation (`pipeline.check_files`) on files small enough."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobport.pipelines.builtin.training.config import TrainingConfig
from jobport.pipelines.sdk import FileRef, InputError

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
NAN_FAMILIES = ("hist_gradient_boosting",)  # the families that fit rows with missing values


@dataclass
class Design:
    x: np.ndarray
    y: np.ndarray
    features: list[str]
    dropped: list[str]

    @property
    def rows(self) -> int:
        return int(self.x.shape[0])


def read_table(ref: FileRef, max_rows: int) -> pa.Table:
    """The file's rows as a table; JSON Lines by name (.jsonl/.ndjson/.json), CSV otherwise."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.json as pa_json

    source: Any = ref.path
    if source is None:
        with ref.open() as handle:
            source = io.BytesIO(handle.read())
    try:
        if ref.filename.lower().endswith(JSON_SUFFIXES):
            table = pa_json.read_json(source)
        else:
            table = pa_csv.read_csv(source)
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as err:
        kind = "JSON Lines" if ref.filename.lower().endswith(JSON_SUFFIXES) else "CSV"
        raise InputError(f"{ref.filename} is not readable {kind}: {err}", code="invalid_file") from None
    if table.num_rows > max_rows:
        raise InputError(f"{ref.filename} has {table.num_rows:,} rows, more than max_rows={max_rows:,}",
                         code="too_many_rows")
    if table.num_rows == 0:
        raise InputError(f"{ref.filename} has no rows", code="empty_file")
    return table


def _is_numeric(column: pa.ChunkedArray) -> bool:
    import pyarrow as pa

    kind = column.type
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
                or pa.types.is_null(kind))


def design(table: pa.Table, config: TrainingConfig, filename: str, features: list[str] | None = None) -> Design:
    """X and y of `table`. `features` (the training file's, when reading a validation file) fixes
    the columns; otherwise the config's, or every column but the label."""
    import numpy as np

    names = list(table.column_names)
    if config.label not in names:
        raise InputError(f"label: {filename} has no column {config.label!r} (its columns: {', '.join(names)})",
                         code="missing_column")
    wanted = features or config.features or [n for n in names if n != config.label]
    missing = [n for n in wanted if n not in names]
    if missing:
        raise InputError(f"features: {filename} has no column {', '.join(map(repr, missing))}", code="missing_column")
    dropped = [] if features else [n for n in wanted if not _is_numeric(table.column(n))]
    if dropped and config.non_numeric == "error":
        raise InputError(f"features: {', '.join(map(repr, dropped))} in {filename} is not numeric; set non_numeric "
                         "to 'drop' to leave such columns out, or give numeric features", code="non_numeric_feature")
    used = [n for n in wanted if n not in dropped]
    if not used:
        raise InputError(f"features: {filename} has no numeric feature column", code="no_features")
    x = np.column_stack([table.column(n).to_numpy(zero_copy_only=False).astype(np.float64) for n in used])
    if config.model.family not in NAN_FAMILIES and np.isnan(x).any():
        bad = [n for i, n in enumerate(used) if np.isnan(x[:, i]).any()]
        raise InputError(f"features: {', '.join(map(repr, bad))} in {filename} have missing values; fill them, or "
                         "use model.family hist_gradient_boosting (it fits rows with missing values)",
                         code="missing_values")
    return Design(x, _target(table, config, filename), used, dropped)


def _target(table: pa.Table, config: TrainingConfig, filename: str) -> np.ndarray:
    import numpy as np

    column = table.column(config.label)
    if column.null_count:
        raise InputError(f"label: {column.null_count} rows of {filename} have no {config.label!r}; fill or remove "
                         "them", code="missing_values")
    values = column.to_numpy(zero_copy_only=False)
    if config.task == "classification":
        return np.asarray([str(v) for v in values.tolist()], dtype=object)
    if not _is_numeric(column):
        raise InputError(f"label: {config.label!r} in {filename} is not numeric; regression needs numbers",
                         code="non_numeric_label")
    return values.astype(np.float64)


def check_trainable(data: Design, config: TrainingConfig) -> None:
    """Enough rows and classes for the model and the validation scheme."""
    import numpy as np

    if config.task == "classification":
        classes, counts = np.unique(data.y, return_counts=True)
        if len(classes) < 2:
            raise InputError(f"label: {config.label!r} has {len(classes)} distinct class; at least 2 are needed",
                             code="one_class")
        least = 2 if config.validation.kind == "holdout" else config.validation.folds
        if counts.min() < least:
            setting = "validation.folds" if config.validation.kind == "kfold" else "validation"
            raise InputError(f"{setting}: class {classes[counts.argmin()]!r} has {counts.min()} rows, fewer than the "
                             f"{least} the {config.validation.kind} split needs per class; add rows of it"
                             + ("" if config.validation.kind == "holdout" else " or lower validation.folds"),
                             code="too_few_rows")
    needed = config.validation.folds if config.validation.kind == "kfold" else 2
    if data.rows < max(needed, 5):
        raise InputError(f"validation: {data.rows} rows are too few (at least {max(needed, 5)} for this validation)",
                         code="too_few_rows")
