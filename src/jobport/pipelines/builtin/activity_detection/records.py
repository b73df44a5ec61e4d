"""InferenceRecords: one JSONL line each, validated, turned into chat messages.

`parse_line` never raises: a line that cannot become a conversation returns an error string that
names the field, and the pipeline writes it as that line's `error`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

EXPECTED = ("Expected JSONL with fields: system?, instruction?, prompt?, "
            "inputs?: [{type: text|image|video, format: base64|plain, data, extra?}]")


class InputPart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text", "image", "video"]
    format: Literal["plain", "base64"]
    data: str
    extra: dict[str, Any] | None = None


class InferenceRecord(BaseModel):
    """Unknown top-level keys (ids to join on, say) are allowed and ignored."""

    model_config = ConfigDict(extra="ignore")
    system: str | None = None
    instruction: str | None = None
    prompt: str | None = None
    inputs: list[InputPart] | None = None


def _validation_message(err: ValidationError) -> str:
    parts = []
    for item in err.errors():
        loc = ".".join(str(p) for p in item["loc"]) or "record"
        parts.append(f"{loc}: {item['msg']}")
    return "InferenceRecord: " + "; ".join(parts)


def parse_line(line: bytes) -> tuple[InferenceRecord | None, str | None]:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as err:
        return None, f"parse error: {err}. {EXPECTED}"
    if not isinstance(value, dict):
        return None, f"parse error: expected a JSON object, got {type(value).__name__}. {EXPECTED}"
    try:
        record = InferenceRecord.model_validate(value)
    except ValidationError as err:
        return None, _validation_message(err)
    if not any((record.instruction, record.prompt)) and not any(
        p.type != "text" or p.data.strip() for p in record.inputs or []
    ):
        return None, "InferenceRecord: nothing to answer: give instruction, prompt or inputs"
    return record, None


def user_text(record: InferenceRecord) -> str:
    pieces = [record.instruction, record.prompt]
    for part in record.inputs or []:
        if part.type == "text":
            pieces.append(_text_of(part))
    return "\n\n".join(p for p in pieces if p)


def _text_of(part: InputPart) -> str:
    if part.format == "plain":
        return part.data
    return base64.b64decode(part.data, validate=True).decode("utf-8")


def check_parts(record: InferenceRecord, multimodal: bool, model: str) -> str | None:
    """An error for inputs the model cannot take, else None."""
    for i, part in enumerate(record.inputs or []):
        if part.type in ("image", "video") and not multimodal:
            return f"inputs.{i}: {part.type} inputs need a multimodal model; model {model} is text-only"
        if part.type in ("image", "video") and part.format != "base64":
            return f"inputs.{i}.format: {part.type} data must be base64"
        if part.format == "base64":
            try:
                raw = base64.b64decode(part.data, validate=True)
            except (binascii.Error, ValueError):
                return f"inputs.{i}.data: not valid base64"
            if part.type == "text":
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError:
                    return f"inputs.{i}.data: base64 text is not UTF-8"
    return None


def messages_for(record: InferenceRecord, text: str, media: list[dict[str, Any]]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if record.system:
        messages.append({"role": "system", "content": record.system})
    if media:
        text_part = [{"type": "text", "text": text}] if text else []
        messages.append({"role": "user", "content": [*text_part, *media]})
    else:
        messages.append({"role": "user", "content": text})
    return messages


def describe_non_jsonl(head: bytes) -> str:
    """What a file whose lines are not JSON objects looks like, for the ERROR event."""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
    if not text:
        return "an empty file"
    if text[0] in "[{":
        return "a JSON document spanning several lines (JSONL needs one JSON object per line)"
    lines = [ln for ln in text.splitlines()[:20] if ln.strip()]
    if len(lines) >= 2 and len({ln.count(",") for ln in lines}) == 1 and lines[0].count(",") >= 1:
        return f"a CSV file (header: {lines[0][:120]!r})"
    if "\x00" in text:
        return "a binary file"
    return f"plain text (first line: {lines[0][:120]!r})"
