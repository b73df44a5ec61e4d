"""Callback bodies: the Standard Webhooks envelope `{"type", "timestamp", "data"}` and the one JSON
encoding used for the bytes that are signed and sent."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from jobport.domain.times import iso_utc
from jobport.store.db import utcnow


def envelope(event_type: str, data: dict[str, Any], timestamp: datetime | None = None) -> dict[str, Any]:
    """`type` is the event (e.g. `job.completed`), `timestamp` when it happened, `data` the object in
    the shape of the surface the job was created on."""
    return {"type": event_type, "timestamp": iso_utc(timestamp or utcnow()), "data": data}


def dumps(payload: dict[str, Any]) -> str:
    """The body text: compact, ASCII-only (so str and UTF-8 bytes are the same thing to sign)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
