"""Record file formats named by a MIME type (Gravity's `mimeType`), and how messages locate a record.

- `text/csv; header=present` (also plain `text/csv`) and `text/csv; header=absent`
- `application/json`: one JSON array of objects
- `application/x-ndjson`, `application/jsonl`, `application/json-lines`: one object per line

A `charset` parameter is accepted when it is UTF-8 (files are read as UTF-8).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FormatKind = Literal["csv", "json", "jsonl"]
ACCEPTED_MIME_TYPES = (
    "text/csv; header=present",
    "text/csv; header=absent",
    "application/json",
    "application/x-ndjson",
    "application/jsonl",
    "application/json-lines",
)
_KINDS: dict[str, FormatKind] = {
    "text/csv": "csv",
    "application/json": "json",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json-lines": "jsonl",
}
_UTF8 = {"utf-8", "utf8", "us-ascii"}


@dataclass(frozen=True)
class RecordFormat:
    kind: FormatKind
    header: bool = True  # CSV only: the first line names the columns

    @property
    def extension(self) -> str:
        return self.kind

    @property
    def position_word(self) -> str:
        """How messages locate a record: a line of a CSV or JSONL file, a record of a JSON array."""
        return "record" if self.kind == "json" else "line"

    @property
    def field_word(self) -> str:
        return "column" if self.kind == "csv" else "field"


def parse_mime(text: str) -> RecordFormat:
    """The format a MIME type names; `ValueError` listing the accepted types otherwise."""
    parts = [p.strip() for p in str(text).split(";")]
    media = parts[0].lower()
    kind = _KINDS.get(media)
    if kind is None:
        raise ValueError(f"'{text}' is not a supported record format; accepted: {', '.join(ACCEPTED_MIME_TYPES)}")
    header = True
    for param in parts[1:]:
        if not param:
            continue
        name, _, value = (s.strip().lower() for s in param.partition("="))
        value = value.strip('"')
        if name == "charset" and value in _UTF8:
            continue
        if name == "header" and kind == "csv" and value in ("present", "absent"):
            header = value == "present"
            continue
        raise ValueError(
            f"'{text}': parameter '{param}' is not supported; accepted: {', '.join(ACCEPTED_MIME_TYPES)} "
            "(optionally with charset=utf-8)"
        )
    return RecordFormat(kind, header)
