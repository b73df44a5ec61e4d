"""Declared field types and how record values become them.

One rule set, two implementations that must agree: `coerce` for a single value (JSON records,
CSV rows read one by one, default values) and `column_values` for a CSV column read as text by
the fast path, converted with Arrow casts. Where Arrow's grammar differs from `NUMBER` (spaces
around a number), the column is converted value by value with `coerce`, so both paths accept
and reject the same values.

- number:  a finite JSON number, or text that parses as one (`5.1`, ` -2e3 `); not true/false
- integer: a number with no fractional part (`3`, `3.0`, `3e2`)
- string:  text as it is; a JSON number or boolean becomes its JSON text
- boolean: true/false, or the text true/True/TRUE/1, false/False/FALSE/0, or the numbers 1/0
Missing means absent, null or the empty string: the mapping's default fills it.
"""

from __future__ import annotations

import math
import numbers
import re
import sys
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

FieldType = Literal["number", "integer", "string", "boolean"]
TRUE_TEXT = ("true", "True", "TRUE", "1")
FALSE_TEXT = ("false", "False", "FALSE", "0")
SPACES = " \t\n\r\f\v"
NUMBER = re.compile(
    r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$|^\s*[+-]?(nan|inf|infinity)\s*$",
    re.IGNORECASE | re.ASCII,
)
# numpy dtype of a coerced feature column (names: numpy is imported only where columns are made).
NUMPY_DTYPES: dict[str, Any] = {"number": "float64", "integer": "int64", "string": object, "boolean": "bool"}


class CoercionError(ValueError):
    """The value does not fit the declared type; the message shows the value (`'abc' is not a number`)."""


def is_numpy_bool(value: Any) -> bool:
    """A numpy boolean scalar; without importing numpy (none exists before numpy is imported)."""
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.bool_)


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "")


def show(value: Any) -> str:
    """A value as it appears in messages: text quoted, anything else as JSON-ish."""
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def coerce(value: Any, field_type: FieldType) -> Any:
    """`value` (not missing) as a Python value of `field_type`; `CoercionError` if it does not fit."""
    if field_type == "number":
        return _number(value)
    if field_type == "integer":
        number = _number(value, "an integer")
        if not number.is_integer():
            raise CoercionError(f"{show(value)} is not an integer")
        return int(number)
    if field_type == "boolean":
        return _boolean(value)
    return _string(value)


def _number(value: Any, what: str = "a number") -> float:
    if isinstance(value, bool):
        raise CoercionError(f"{show(value)} is not {what}")
    if isinstance(value, (int, float, numbers.Real)):  # Real: numpy's integer and floating scalars too
        number = float(value)
    elif isinstance(value, str) and NUMBER.match(value):
        number = float(value)
    else:
        raise CoercionError(f"{show(value)} is not {what}")
    if not math.isfinite(number):
        raise CoercionError(f"{show(value)} is not a finite number")
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool) or is_numpy_bool(value):
        return bool(value)
    if isinstance(value, str):
        if value in TRUE_TEXT:
            return True
        if value in FALSE_TEXT:
            return False
    elif isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise CoercionError(f"{show(value)} is not a boolean (true/false)")


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    raise CoercionError(f"{show(value)} is not a single value (a string is expected)")


def column_values(column: pa.ChunkedArray | pa.Array, field_type: FieldType) -> tuple[np.ndarray, np.ndarray]:
    """A text column (empty = null) as (numpy values, missing mask); `ColumnError` at the first
    value that does not fit the type."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    missing = column.is_null().to_numpy(zero_copy_only=False)
    if field_type == "string":
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object), missing
    if field_type == "boolean":
        true = pc.is_in(column, pa.array(TRUE_TEXT)).to_numpy(zero_copy_only=False)
        false = pc.is_in(column, pa.array(FALSE_TEXT)).to_numpy(zero_copy_only=False)
        if not (true | false | missing).all():
            return _value_by_value(column, field_type, missing)
        return true, missing
    try:
        values = _cast_to_float(column)
    except pa.ArrowInvalid:
        return _value_by_value(column, field_type, missing)
    bad = ~np.isfinite(values) & ~missing
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ColumnError(row, f"{show(column[row].as_py())} is not a finite number")
    if field_type == "integer":
        fractional = (values != np.floor(values)) & ~missing
        if fractional.any():
            row = int(np.flatnonzero(fractional)[0])
            raise ColumnError(row, f"{show(column[row].as_py())} is not an integer")
        return np.where(missing, 0, values).astype(np.int64), missing
    return values, missing


def _cast_to_float(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        cast = pc.cast(column, pa.float64())
    except pa.ArrowInvalid:
        cast = pc.cast(pc.utf8_trim(column, SPACES), pa.float64())  # NUMBER allows surrounding spaces
    return cast.to_numpy(zero_copy_only=False)


def _value_by_value(
    column: pa.ChunkedArray | pa.Array, field_type: FieldType, missing: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`coerce` on each value: finds the row of a bad value, or converts what Arrow would not."""
    import numpy as np

    values = []
    filler = coerce(FALSE_TEXT[0] if field_type == "boolean" else "0", field_type)
    for row, value in enumerate(column.to_pylist()):
        if missing[row]:
            values.append(filler)
            continue
        try:
            values.append(coerce(value, field_type))
        except CoercionError as err:
            raise ColumnError(row, str(err)) from None
    return np.array(values, dtype=NUMPY_DTYPES[field_type]), missing


class ColumnError(CoercionError):
    """A bad value in a column; `row` is its 0-based position in the column."""

    def __init__(self, row: int, message: str) -> None:
        super().__init__(message)
        self.row = row
