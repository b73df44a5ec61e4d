"""CSV -> sliding windows for the machine-state pipeline.

`read_windows` reads only the configured columns with pyarrow (data columns as numbers, the
timestamp column as text so it is written back exactly as it appears) and returns a
`WindowedSeries`. Windows are a strided view over the rows: nothing of size rows x window_size is
ever built; `batches()` copies one batch at a time. Window k covers rows
`[k*step, k*step + window_size)` and carries the timestamp of its last row.

Every problem with the file is an `InputError` whose message names the column or the setting.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from os import PathLike
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from numpy.lib.stride_tricks import sliding_window_view

from jobport.pipelines.builtin.machine_state.config import ReaderConfig, count_windows
from jobport.pipelines.sdk import InputError
from jobport.pipelines.streams import RawReader

Source = str | PathLike[str] | BinaryIO
_MAX_HEADER_BYTES = 1 << 20


@dataclass(frozen=True)
class WindowBatch:
    start: int  # index of the first window of the batch
    windows: np.ndarray  # [n, window_size, channels] float32, a copy
    timestamps: pa.Array  # text of the last row of each window


class WindowedSeries:
    """The selected columns of one CSV and the sliding-window view over them."""

    def __init__(self, values: np.ndarray, timestamps: pa.Array, window_size: int, step_size: int) -> None:
        self.values = values  # [rows, channels] float32
        self.timestamps = timestamps
        self.window_size = window_size
        self.step_size = step_size
        self.n_windows = count_windows(len(values), window_size, step_size)
        view = sliding_window_view(values, window_size, axis=0)  # [rows-w+1, channels, w]
        self.view = view.transpose(0, 2, 1)[::step_size]  # [n_windows, w, channels], no copy

    def window_timestamps(self, start: int, stop: int) -> pa.Array:
        last_rows = np.arange(start, stop) * self.step_size + self.window_size - 1
        return self.timestamps.take(pa.array(last_rows))

    def batches(self, batch_size: int) -> Iterator[WindowBatch]:
        for start in range(0, self.n_windows, batch_size):
            stop = min(start + batch_size, self.n_windows)
            yield WindowBatch(start, np.ascontiguousarray(self.view[start:stop]), self.window_timestamps(start, stop))


def read_windows(source: Source, config: ReaderConfig, name: str = "input") -> WindowedSeries:
    """Read `source` (a path, or a binary stream that is consumed and closed); `name` is for messages."""
    stream = _open(source)
    try:
        header_line, rest = _split_header(stream, name)
        headers = _parse_header(header_line)
        _check_columns(headers, config, name)
        # pyarrow reads a path faster (and in parallel) than a Python stream.
        csv_source = source if isinstance(source, (str, PathLike)) else _Prefixed(header_line, rest)
        table = _read_table(csv_source, headers, config, name)
    finally:
        stream.close()

    rows = table.num_rows
    if rows < config.window_size:
        raise InputError(
            f"{name} has {rows} data rows, fewer than reader_config.window_size={config.window_size}: "
            "no window fits. Lower window_size or upload a longer file.",
            code="too_few_rows",
        )
    columns = []
    for col in config.data_columns:
        arr = table.column(col)
        if arr.null_count:
            first = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
            raise InputError(
                f"{name}: column '{col}' has {arr.null_count} empty or NA value(s) (first at data "
                f"row {first + 1}); data_columns must be numeric in every row.",
                code="missing_values",
            )
        values = arr.to_numpy().astype(np.float32)
        if not np.isfinite(values).all():
            first = int(np.flatnonzero(~np.isfinite(values))[0])
            raise InputError(
                f"{name}: column '{col}' has an infinite or out-of-range value at data row {first + 1}.",
                code="non_finite_value",
            )
        columns.append(values)
    values = np.stack(columns, axis=1)
    timestamps = table.column(config.timestamp_column).combine_chunks().fill_null("")
    return WindowedSeries(values, timestamps, config.window_size, config.step_size)


def read_header(source: Source, name: str = "input") -> list[str]:
    stream = _open(source)
    try:
        return _parse_header(_split_header(stream, name)[0])
    finally:
        stream.close()


def _open(source: Source) -> BinaryIO:
    if isinstance(source, (str, PathLike)):
        return open(source, "rb")
    return source


def _split_header(stream: BinaryIO, name: str) -> tuple[bytes, BinaryIO]:
    """The first line (with its newline) and the stream positioned after it."""
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(RawReader(stream))
    line = buffered.readline(_MAX_HEADER_BYTES)
    if not line.strip():
        raise InputError(f"{name} is empty: expected a CSV with a header row.", code="empty_file")
    return line, buffered


def _parse_header(line: bytes) -> list[str]:
    text = line.decode("utf-8-sig", errors="replace")
    return next(csv.reader([text.rstrip("\r\n")]), [])


def _check_columns(headers: list[str], config: ReaderConfig, name: str) -> None:
    for key, col in [("timestamp_column", config.timestamp_column)] + [
        ("data_columns", c) for c in config.data_columns
    ]:
        if col not in headers:
            raise InputError(
                f"{name}: column '{col}' (reader_config.{key}) is not in the CSV header; "
                f"available columns: {', '.join(headers)}",
                code="missing_column",
            )


def _read_table(source: Source, headers: list[str], config: ReaderConfig, name: str) -> pa.Table:
    types = {c: pa.float64() for c in config.data_columns}
    types[config.timestamp_column] = pa.string()
    options = pacsv.ConvertOptions(
        include_columns=[config.timestamp_column, *config.data_columns], column_types=types
    )
    try:
        return pacsv.read_csv(source, convert_options=options)
    except pa.ArrowInvalid as exc:
        text = str(exc)
        match = re.search(r"CSV column #(\d+): CSV conversion error to \w+: invalid value '(.*)'", text)
        if match and int(match.group(1)) < len(headers):
            col = headers[int(match.group(1))]
            raise InputError(
                f"{name}: column '{col}' is non-numeric (found text '{match.group(2)}'); "
                "data_columns must hold numbers only.",
                code="non_numeric_column",
            ) from None
        raise InputError(f"{name} is not a readable CSV: {text}", code="invalid_csv") from None


class _Prefixed(io.RawIOBase):
    """`prefix` then the rest of `stream`: the header line put back in front for pyarrow."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        self._prefix = memoryview(prefix)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
