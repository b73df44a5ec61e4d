"""The checks OpenAI runs on a batch input file before the batch starts: every line a JSON object
`{custom_id, method: "POST", url, body}`, `url` equal to the batch's endpoint, `custom_id` unique,
at most `openai_max_requests_per_batch` lines. What fails is reported as OpenAI reports it,
`errors.data[{code, message, param, line}]` (lines count from 1); a line's `body` is only checked
to be an object here: a bad body fails that request alone, in the error file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
SUPPORTED_ENDPOINTS = (CHAT, EMBEDDINGS)
MAX_CUSTOM_ID = 512


@dataclass
class Checked:
    """The file's request count and what is wrong with it (at most `max_errors` entries kept)."""

    requests: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0
    models: set[str] = field(default_factory=set)


def _lines(handle: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for number, raw in enumerate(handle, start=1):
        if raw.strip():
            yield number, raw


def _line_problem(value: Any, endpoint: str, seen: set[str]) -> tuple[str, str, str | None] | None:
    """(code, message, param) of the first thing wrong with one parsed line."""
    if not isinstance(value, dict):
        return "invalid_json_line", "This line is not a JSON object.", None
    custom_id = value.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return "missing_custom_id", "Each request needs a non-empty string custom_id.", "custom_id"
    if len(custom_id) > MAX_CUSTOM_ID:
        return "invalid_custom_id", f"custom_id is longer than {MAX_CUSTOM_ID} characters.", "custom_id"
    if custom_id in seen:
        return ("duplicate_custom_id", "The custom_id for this request is a duplicate of another request. The "
                "custom_id parameter must be unique for each request in a batch.", "custom_id")
    seen.add(custom_id)
    if value.get("method") != "POST":
        return "invalid_method", "The method of each request must be POST.", "method"
    if value.get("url") != endpoint:
        return ("mismatched_endpoint", f"The url of this request ({value.get('url')!r}) does not match the batch's "
                f"endpoint {endpoint}.", "url")
    if not isinstance(value.get("body"), dict):
        return "invalid_body", "The body of each request must be a JSON object.", "body"
    extra = sorted(set(value) - {"custom_id", "method", "url", "body"})
    if extra:
        return "invalid_request", f"Unrecognized request field(s): {', '.join(extra)}.", extra[0]
    return None


def check_file(handle: IO[bytes], endpoint: str, max_requests: int, max_errors: int) -> Checked:
    checked, seen = Checked(), set[str]()

    def report(code: str, message: str, param: str | None, line: int | None) -> None:
        checked.error_count += 1
        if len(checked.errors) < max_errors:
            checked.errors.append({"code": code, "message": message, "param": param, "line": line})

    for number, raw in _lines(handle):
        checked.requests += 1
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            report("invalid_json_line", "This line is not parseable as valid JSON.", None, number)
            continue
        problem = _line_problem(value, endpoint, seen)
        if problem is not None:
            report(*problem, number)
        elif isinstance(value["body"].get("model"), str):
            checked.models.add(value["body"]["model"])
    if checked.requests == 0:
        report("empty_file", "The batch input file is empty.", "input_file_id", None)
    if checked.requests > max_requests:
        report("too_many_requests", f"The batch input file has {checked.requests:,} requests; a batch takes at most "
               f"{max_requests:,} (setting JOBPORT_OPENAI_MAX_REQUESTS_PER_BATCH).", "input_file_id", None)
    return checked
