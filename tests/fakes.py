"""Fake twins shared by unit tests: an in-memory OutputSink and FileRefs over local files."""

from __future__ import annotations

import csv
import io
from contextlib import contextmanager
from pathlib import Path

from jobport.pipelines.sdk import FileRef


class FakeSink:
    """In-memory OutputSink: an output exists only once its context exits cleanly."""

    def __init__(self) -> None:
        self.outputs: dict[tuple[str, str], bytes] = {}
        self.events: list[tuple[str, str, str, dict]] = []
        self.progress_calls: list[dict] = []

    @contextmanager
    def open_output(self, port_name: str, filename: str):
        buf = io.BytesIO()
        yield buf
        self.outputs[(port_name, filename)] = buf.getvalue()

    def event(self, level, event_type, message, payload=None) -> None:
        self.events.append((level, event_type, message, dict(payload or {})))

    def progress(self, step, message, items_processed, items_total, payload=None) -> None:
        self.progress_calls.append(
            {
                "step": step,
                "message": message,
                "done": items_processed,
                "total": items_total,
                "n_parts": len(self.outputs),
            }
        )

    def text(self, port: str, filename: str) -> str:
        return self.outputs[(port, filename)].decode()

    def rows(self, filename: str) -> list[list[str]]:
        return list(csv.reader(io.StringIO(self.outputs[("worker.results", filename)].decode())))


def file_ref(path: Path, port: str, metadata: dict | None = None, with_path: bool = True) -> FileRef:
    return FileRef(
        input_id=f"inp_{path.stem}",
        port_name=port,
        file_id=path.name,
        filename=path.name,
        metadata=metadata or {},
        sha256="",
        num_bytes=path.stat().st_size,
        opener=lambda: open(path, "rb"),
        path=str(path) if with_path else None,
    )
