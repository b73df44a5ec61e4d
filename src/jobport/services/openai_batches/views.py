"""What the OpenAI surface renders: plain, read-only views of a File object and a batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class FileView:
    id: str
    filename: str
    purpose: str
    num_bytes: int
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class BatchView:
    id: str
    status: str
    endpoint: str
    input_file_id: str
    completion_window: str
    created_at: datetime
    total: int
    completed: int
    failed: int
    metadata: dict[str, Any] | None = None
    errors: dict[str, Any] | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    job_id: str | None = None
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    times: dict[str, datetime | None] = field(default_factory=dict)  # in_progress_at, expires_at, ... by name


@dataclass(frozen=True)
class FileContent:
    filename: str
    num_bytes: int
    blob_key: str
