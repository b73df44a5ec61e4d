"""The lines of a batch: reading one request line, and the result lines of the output and error files
(`{id, custom_id, response: {status_code, request_id, body}, error}`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True)
class Request:
    """One request line: its `custom_id` and `body` (the file was validated when the batch was created)."""

    custom_id: str
    body: dict[str, Any]


@dataclass(eq=False)
class LineError(Exception):
    """A request line that cannot run: its HTTP status, OpenAI error code, message and parameter."""

    status_code: int
    code: str
    message: str
    param: str | None = None

    @property
    def error_type(self) -> str:
        return "server_error" if self.status_code >= 500 else "invalid_request_error"


def parse_request(raw: bytes) -> Request | LineError:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        return LineError(400, "invalid_json", f"the line is not valid JSON: {err}")
    if not isinstance(value, dict) or not isinstance(value.get("custom_id"), str):
        return LineError(400, "invalid_request", "the line must be a JSON object with a string custom_id")
    body = value.get("body")
    if not isinstance(body, dict):
        return LineError(400, "invalid_request", "body must be a JSON object", "body")
    return Request(value["custom_id"], body)


def custom_id_of(raw: bytes) -> str | None:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    custom_id = value.get("custom_id") if isinstance(value, dict) else None
    return custom_id if isinstance(custom_id, str) else None


def new_request_id() -> str:
    return f"req_{uuid.uuid4().hex}"


def ok_line(custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """A line of the output file: the endpoint's 200 answer."""
    return {"id": f"batch_req_{uuid.uuid4().hex}", "custom_id": custom_id,
            "response": {"status_code": 200, "request_id": new_request_id(), "body": body}, "error": None}


def error_line(custom_id: str, failure: LineError) -> dict[str, Any]:
    """A line of the error file: the answer the endpoint would have given, and `error {code, message}`."""
    body = {"error": {"message": failure.message, "type": failure.error_type, "param": failure.param,
                      "code": failure.code}}
    return {"id": f"batch_req_{uuid.uuid4().hex}", "custom_id": custom_id,
            "response": {"status_code": failure.status_code, "request_id": new_request_id(), "body": body},
            "error": {"code": failure.code, "message": failure.message}}


def unfinished_line(custom_id: str, code: str, message: str) -> dict[str, Any]:
    """A line of the error file for a request the batch never ran (cancelled or expired first)."""
    return {"id": f"batch_req_{uuid.uuid4().hex}", "custom_id": custom_id, "response": None,
            "error": {"code": code, "message": message}}


def is_success(line: dict[str, Any]) -> bool:
    response = line.get("response") or {}
    return line.get("error") is None and response.get("status_code") == 200
