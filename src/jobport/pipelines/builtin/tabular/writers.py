"""Streaming writers of output records, one per format, each writing chunk by chunk to a binary file.

- CSV: always a header row. Tables go through pyarrow's CSV writer; values are quoted only in
  chunks where some text needs it (pyarrow's "needed" style quotes every string). Record dicts are
  flattened to schema-path columns (`a/b`, `a[0]`) with the header taken from the first record.
- JSON: one array, written as `[`, records separated by `,\\n`, then `]`.
- JSONL: one object per line.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson

from jobport.pipelines.builtin.tabular.coercion import is_numpy_bool
from jobport.pipelines.builtin.tabular.errors import RecordError
from jobport.pipelines.builtin.tabular.formats import RecordFormat

if TYPE_CHECKING:  # numpy and pyarrow are imported by the writers that use them (a worker's)
    import pyarrow as pa

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
_NEEDS_QUOTES = (b'"', b",", b"\n", b"\r")


class RecordWriter:
    def write_table(self, table: pa.Table) -> None:
        self.write_records(table.to_pylist())

    def write_records(self, records: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Write what ends the file (the JSON array's `]`)."""


def open_writer(fmt: RecordFormat, out: BinaryIO) -> RecordWriter:
    if fmt.kind == "csv":
        return CsvWriter(out)
    if fmt.kind == "json":
        return JsonArrayWriter(out)
    return JsonLinesWriter(out)


class CsvWriter(RecordWriter):
    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.header: list[str] | None = None

    def _write_header(self, names: list[str]) -> None:
        self.header = names
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow(names)
        self.out.write(text.getvalue().encode("utf-8"))

    def write_table(self, table: pa.Table) -> None:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        if self.header is None:
            self._write_header(table.column_names)
        quoting = "needed" if _any_text_needs_quotes(table) else "none"
        options = pacsv.WriteOptions(include_header=False, quoting_style=quoting)
        # Formatted into an Arrow buffer, not written to `out` directly: pyarrow needs a complete
        # file object, and a sink only promises `write`.
        buffer = pa.BufferOutputStream()
        pacsv.write_csv(table, buffer, write_options=options)
        self.out.write(buffer.getvalue())

    def write_records(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        rows = [flatten(record) for record in records]
        if self.header is None:
            self._write_header(list(rows[0]))
        assert self.header is not None
        known = set(self.header)
        for row in rows:
            extra = next((name for name in row if name not in known), None)
            if extra is not None:
                raise RecordError(
                    f"output field '{extra}' is not in the CSV header written from the first record "
                    f"({', '.join(self.header)}); CSV output needs the same fields in every record",
                    "output_mapping",
                    "Map outputs to a fixed set of destinations.",
                )
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerows([_csv_text(row.get(name)) for name in self.header] for row in rows)
        self.out.write(text.getvalue().encode("utf-8"))


class JsonArrayWriter(RecordWriter):
    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.started = False

    def write_records(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        text = _json_lines(records, separator=b",\n")
        self.out.write((b",\n" if self.started else b"[\n") + text)
        self.started = True

    def close(self) -> None:
        self.out.write(b"\n]\n" if self.started else b"[]\n")


class JsonLinesWriter(RecordWriter):
    def __init__(self, out: BinaryIO) -> None:
        self.out = out

    def write_records(self, records: list[dict[str, Any]]) -> None:
        if records:
            self.out.write(_json_lines(records, separator=b"\n") + b"\n")


def _json_lines(records: list[dict[str, Any]], separator: bytes) -> bytes:
    """The records' JSON texts joined by `separator`. Each text goes into one buffer as it is made:
    holding all of a chunk's texts for `bytes.join` measured 6 times slower (fresh allocations)."""
    buffer = io.BytesIO()
    write, dumps = buffer.write, orjson.dumps
    write(dumps(records[0], option=_JSON_OPTIONS))
    for record in records[1:]:
        write(separator)
        write(dumps(record, option=_JSON_OPTIONS))
    return buffer.getvalue()


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects and arrays as schema-path keys: {"a": {"b": 1}, "c": [2]} -> {"a/b": 1, "c[0]": 2}."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        _flatten_into(flat, f"{prefix}{key}", value)
    return flat


def _flatten_into(flat: dict[str, Any], path: str, value: Any) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten_into(flat, f"{path}/{key}", inner)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _flatten_into(flat, f"{path}[{i}]", inner)
    else:
        flat[path] = value


def _csv_text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool) or is_numpy_bool(value):
        return "true" if value else "false"
    return value


def _any_text_needs_quotes(table: pa.Table) -> bool:
    import pyarrow as pa

    for column in table.columns:
        if pa.types.is_string(column.type):
            for chunk in column.chunks:
                text = _text_bytes(chunk)
                if any(special in text for special in _NEEDS_QUOTES):
                    return True
    return False


def _text_bytes(array: pa.StringArray) -> bytes:
    """The UTF-8 bytes of all the strings of `array`: its slice of the data buffer (a plain byte
    search there is several times faster than a regex kernel over every string)."""
    import numpy as np

    _, offsets, data = array.buffers()
    if data is None or len(array) == 0:
        return b""
    bounds = np.frombuffer(offsets, dtype=np.int32)
    start, end = int(bounds[array.offset]), int(bounds[array.offset + len(array)])
    return data.slice(start, end - start).to_pybytes()
