"""One input file -> (chunk, feature columns) pairs: the part the worker and `preflight` share.

A CSV whose mapped sources are all plain column names (and whose header names are distinct) is
read columnar with pyarrow; anything else record by record. When the columnar path meets a bad
row or value, the file is scanned again record by record up to that point, so that every error
message comes from the same per-record rules with the exact line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from jobport.pipelines.builtin.tabular.config import TabularModelConfig
from jobport.pipelines.builtin.tabular.errors import RecordError
from jobport.pipelines.builtin.tabular.mapping import Features, InputMapping
from jobport.pipelines.builtin.tabular.readers import (
    Chunk,
    InputSource,
    count_lines,
    csv_column_chunks,
    csv_row_chunks,
    json_array_chunks,
    jsonl_chunks,
    read_csv_head,
)


class FeatureStream:
    """Iterate to read the file; `keep_inputs` keeps every column of a CSV for the output (else
    only the mapped ones are parsed). `columns` holds a CSV's column names once iteration began."""

    def __init__(self, config: TabularModelConfig, source: InputSource, keep_inputs: bool) -> None:
        self.config = config
        self.source = source
        self.keep_inputs = keep_inputs
        self.format = config.record_format
        self.mapping = InputMapping(config)
        self.columns: list[str] | None = None

    def __iter__(self) -> Iterator[tuple[Chunk, Features]]:
        rows = self.config.chunk_rows
        if self.format.kind == "json":
            chunks = json_array_chunks(self.source, rows)
        elif self.format.kind == "jsonl":
            chunks = jsonl_chunks(self.source, rows)
        else:
            yield from self._csv()
            return
        for chunk in chunks:
            assert chunk.records is not None
            yield chunk, self.mapping.from_records(chunk.records, chunk.positions)

    def estimated_records(self) -> int | None:
        """A cheap estimate for progress totals (lines; unknown for a JSON array)."""
        if self.format.kind == "json":
            return None
        lines = count_lines(self.source)
        return max(0, lines - 1) if self.format.kind == "csv" and self.format.header else lines

    def _csv(self) -> Iterator[tuple[Chunk, Features]]:
        import pyarrow as pa

        head = read_csv_head(self.source)
        names = head.first_row if self.format.header else self.config.csv_column_names
        if not self.format.header and len(head.first_row) != len(names):
            raise RecordError(
                f"line 1 has {len(head.first_row)} fields but the CSV's columns are {len(names)} ({', '.join(names)})",
                "columns",
                "Set `columns` to the names of all the file's columns, in order.",
                code="invalid_csv",
            )
        self.columns = names
        self.mapping.check_columns(names, self.format.header)
        sources = self.mapping.source_columns()
        if sources is None or len(set(names)) != len(names):
            for chunk in csv_row_chunks(self.source, self.format, names, self.config.chunk_rows):
                assert chunk.records is not None
                yield chunk, self.mapping.from_records(chunk.records, chunk.positions)
            return
        mapped = [name for name in names if name in sources]
        include = None if self.keep_inputs or not mapped else mapped
        chunks = csv_column_chunks(self.source, self.format, names, include, self.config.chunk_rows, head.longest_line)
        verified = 0
        try:
            for chunk in chunks:
                assert chunk.table is not None
                features = self.mapping.from_table(chunk.table, chunk.positions)
                verified += chunk.rows
                yield chunk, features
        except (pa.ArrowInvalid, RecordError) as err:
            raise self._exact_error(names, err, verified) from None

    def _exact_error(self, names: list[str], err: Exception, verified: int) -> RecordError:
        """The same problem found record by record, with its exact line (pyarrow skips blank lines
        and a quoted value may span lines, so row numbers are not lines). The first `verified`
        records passed already: they are only parsed, to count lines."""
        try:
            for chunk in csv_row_chunks(self.source, self.format, names, self.config.chunk_rows, skip=verified):
                assert chunk.records is not None
                self.mapping.from_records(chunk.records, chunk.positions)
        except RecordError as exact:
            return exact
        if isinstance(err, RecordError):
            return err
        return RecordError(f"{self.source.name} is not a readable CSV: {_arrow_message(err)}", code="invalid_csv")


def _arrow_message(err: Exception) -> str:
    return re.sub(r"^(CSV parse error|In CSV column #\d+): ", "", str(err)).strip()
