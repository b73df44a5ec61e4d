"""Streaming record readers: a file in, chunks of at most `chunk_rows` records out.

- `csv_column_chunks`: pyarrow's streaming CSV reader (`pyarrow.csv.open_csv`), every column read
  as text; memory stays at a few blocks. Chunks are `pa.Table`s: the fast path, used when every
  mapped source is a plain column name.
- `csv_row_chunks`: Python's `csv` module, one dict per row (a header repeated n times becomes a
  list of n values, as Gravity's CSV paths expect). Used for paths with selectors and to find
  the exact line of an error the fast path ran into.
- `json_array_chunks`: `ijson` (C backend) walks a JSON array of objects item by item.
- `jsonl_chunks`: one `orjson.loads` per line.

Every chunk carries the 1-based position of each record (the line it starts on in a CSV or JSONL
file, a CSV header being line 1; the record number in a JSON array) for messages.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson

from jobport.pipelines.builtin.tabular.errors import RecordError
from jobport.pipelines.builtin.tabular.formats import RecordFormat
from jobport.pipelines.streams import RawReader

if TYPE_CHECKING:  # pyarrow and ijson are imported by the readers that use them
    import pyarrow as pa
    import pyarrow.csv as pacsv

_BOM = b"\xef\xbb\xbf"
_COUNT_BLOCK = 1 << 20
_SAMPLE_BYTES = 1 << 16
_MAX_HEADER_BYTES = 1 << 24
# pyarrow's streaming CSV reader reads up to 32 blocks ahead of the consumer, so the block size
# bounds memory: 256 KiB blocks keep ~10 MB in flight (1 MiB blocks: ~32 MB) and read as fast. A
# block must hold a whole row: a file with longer rows gets blocks of 16 times its longest sampled row.
CSV_BLOCK_BYTES = 256 << 10


@dataclass(frozen=True)
class InputSource:
    """An input file: `opener` returns a fresh binary stream at its start on every call; `path`,
    when the file is local, is opened directly instead."""

    name: str
    opener: Callable[[], BinaryIO]
    path: str | None = None

    def open(self) -> BinaryIO:
        return open(self.path, "rb") if self.path else self.opener()


@dataclass
class Chunk:
    """Consecutive records of one file: a table (fast CSV path) or a list of dicts."""

    positions: Sequence[int]
    table: pa.Table | None = None
    records: list[dict[str, Any]] | None = field(default=None)

    @property
    def rows(self) -> int:
        return len(self.positions)


@dataclass(frozen=True)
class CsvHead:
    first_row: list[str]  # the header's column names, or the first data row's fields
    longest_line: int  # bytes, in the first block, to size pyarrow's blocks


def read_csv_head(source: InputSource) -> CsvHead:
    """The first row of a CSV and the longest line of its first block."""
    with source.open() as raw:
        sample = raw.read(_SAMPLE_BYTES)
        while b"\n" not in sample and len(sample) < _MAX_HEADER_BYTES:
            more = raw.read(_SAMPLE_BYTES)
            if not more:
                break
            sample += more
    text = sample.decode("utf-8-sig", errors="replace")
    first_row = next((row for row in csv.reader(io.StringIO(text.split("\n", 1)[0] + "\n")) if row), None)
    if first_row is None:
        raise RecordError(f"{source.name} is empty: expected CSV records", code="empty_file")
    return CsvHead(first_row, max(len(line) for line in sample.split(b"\n")))


def csv_column_chunks(
    source: InputSource,
    fmt: RecordFormat,
    names: list[str],
    include: list[str] | None,
    chunk_rows: int,
    longest_line: int,
) -> Iterator[Chunk]:
    """Every column as text (an empty field is null), so nothing is type-inferred block by block
    and input values are written back exactly as they came; `names`: the file's columns;
    `include`: the columns to keep (None = all). Raises `pa.ArrowInvalid` on a malformed row."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    read_options = pacsv.ReadOptions(
        block_size=max(CSV_BLOCK_BYTES, 16 * longest_line),
        column_names=None if fmt.header else names,
        use_threads=True,
    )
    # Quote-aware block splitting: a quoted value may hold a newline (as Python's csv allows).
    parse_options = pacsv.ParseOptions(newlines_in_values=True)
    convert_options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        include_columns=include,
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    first_position = 2 if fmt.header else 1
    # The same code path for a local file and a blob stream (a file object read slightly faster
    # than a path, too); memory is bounded by the block size (see CSV_BLOCK_BYTES).
    with source.open() as handle:
        reader = pacsv.open_csv(
            handle, read_options=read_options, parse_options=parse_options, convert_options=convert_options
        )
        done = 0
        for table in _rechunk(reader, chunk_rows):
            yield Chunk(range(first_position + done, first_position + done + table.num_rows), table=table)
            done += table.num_rows


def _rechunk(reader: pacsv.CSVStreamingReader, rows: int) -> Iterator[pa.Table]:
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in reader:
        while batch.num_rows:
            take = min(rows - count, batch.num_rows)
            pending.append(batch.slice(0, take))
            count += take
            batch = batch.slice(take)
            if count == rows:
                yield pa.Table.from_batches(pending)
                pending, count = [], 0
    if count:
        yield pa.Table.from_batches(pending)


def csv_row_chunks(
    source: InputSource, fmt: RecordFormat, names: list[str], chunk_rows: int, skip: int = 0
) -> Iterator[Chunk]:
    """Rows as dicts keyed by column name; a repeated column name collects a list. The first
    `skip` rows are only parsed (their fields counted), to find the lines of the rows after them."""
    repeated = {name for name in names if names.count(name) > 1}
    with source.open() as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        records: list[dict[str, Any]] = []
        positions: list[int] = []
        end_of_last = 0
        try:
            if fmt.header:
                next(reader, None)
                end_of_last = reader.line_num
            for row in reader:
                line, end_of_last = end_of_last + 1, reader.line_num
                if not row:
                    continue  # a blank line, which pyarrow skips as well
                if len(row) != len(names):
                    raise RecordError(
                        f"{fmt.position_word} {line}: {len(row)} fields, expected {len(names)} ({', '.join(names)})",
                        code="invalid_csv",
                    )
                if skip:
                    skip -= 1
                    continue
                records.append(_row_record(names, row, repeated))
                positions.append(line)
                if len(records) == chunk_rows:
                    yield Chunk(positions, records=records)
                    records, positions = [], []
        except UnicodeDecodeError:
            raise RecordError(
                f"{source.name} is not UTF-8 text (after line {end_of_last})", code="invalid_encoding"
            ) from None
        except csv.Error as err:
            raise RecordError(f"line {end_of_last + 1}: not valid CSV: {err}", code="invalid_csv") from None
        if records:
            yield Chunk(positions, records=records)


def _row_record(names: list[str], row: list[str], repeated: set[str]) -> dict[str, Any]:
    if not repeated:
        return dict(zip(names, row, strict=False))
    record: dict[str, Any] = {}
    for name, value in zip(names, row, strict=False):
        if name in repeated:
            record.setdefault(name, []).append(value)
        else:
            record[name] = value
    return record


def json_array_chunks(source: InputSource, chunk_rows: int) -> Iterator[Chunk]:
    import ijson

    with source.open() as raw:
        stream = _buffered(raw)
        first = _first_significant_byte(stream)
        if first != b"[":
            raise RecordError(_not_an_array(source.name, first), code="invalid_json")
        records: list[dict[str, Any]] = []
        positions: list[int] = []
        number = 0
        try:
            for item in ijson.items(stream, "item", use_float=True):
                number += 1
                if not isinstance(item, dict):
                    raise RecordError(
                        f"record {number} is {_json_kind(item)}, not an object: the file must be a JSON array "
                        "of objects",
                        code="invalid_json",
                    )
                records.append(item)
                positions.append(number)
                if len(records) == chunk_rows:
                    yield Chunk(positions, records=records)
                    records, positions = [], []
        except ijson.JSONError as err:
            raise RecordError(
                f"{source.name} is not valid JSON after record {number}: {err}", code="invalid_json"
            ) from None
        if records:
            yield Chunk(positions, records=records)


def jsonl_chunks(source: InputSource, chunk_rows: int) -> Iterator[Chunk]:
    with source.open() as raw:
        records: list[dict[str, Any]] = []
        positions: list[int] = []
        for line_number, line in enumerate(_lines(raw), 1):
            if line_number == 1 and line.startswith(_BOM):
                line = line[len(_BOM) :]
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as err:
                raise RecordError(
                    f"line {line_number}: not valid JSON ({err}); each line must be one JSON object",
                    code="invalid_json",
                ) from None
            if not isinstance(value, dict):
                raise RecordError(
                    f"line {line_number} is {_json_kind(value)}, not a JSON object: each line must be one JSON object",
                    code="invalid_json",
                )
            records.append(value)
            positions.append(line_number)
            if len(records) == chunk_rows:
                yield Chunk(positions, records=records)
                records, positions = [], []
        if records:
            yield Chunk(positions, records=records)


def count_lines(source: InputSource) -> int:
    """Lines of the file (a last line without a newline counts): one cheap pass for progress totals."""
    lines, last = 0, b"\n"
    with source.open() as raw:
        while block := raw.read(_COUNT_BLOCK):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (0 if last == b"\n" else 1)


def _lines(raw: BinaryIO) -> Iterator[bytes]:
    stream = raw if hasattr(raw, "readline") else _buffered(raw)
    return iter(stream)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    return "a number"


def _not_an_array(name: str, first: bytes) -> str:
    if not first:
        return f"{name} is empty: expected a JSON array of objects"
    if first == b"{":
        return (
            f"{name} is a JSON object, not a JSON array of objects; wrap the records in [...] or send one "
            "object per line as application/x-ndjson"
        )
    return f"{name} is not a JSON array of objects (it starts with {first.decode('utf-8', 'replace')!r})"


def _first_significant_byte(stream: io.BufferedReader) -> bytes:
    """The first byte that is not whitespace, without consuming it (a UTF-8 BOM is consumed)."""
    while True:
        head = stream.peek(64)
        if not head:
            return b""
        if head.startswith(_BOM):
            stream.read(len(_BOM))
            continue
        stripped = head.lstrip()
        if stripped:
            return stripped[:1]
        stream.read(len(head))


def _buffered(raw: BinaryIO) -> io.BufferedReader:
    return io.BufferedReader(RawReader(raw), buffer_size=1 << 16)
