"""In-memory blob store: the fake twin of `LocalBlobStore` for fast unit tests."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO


class MemoryBlobStore:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        buffer = io.BytesIO()
        yield buffer
        with self._lock:
            self.blobs[key] = buffer.getvalue()

    def _get(self, key: str) -> bytes:
        try:
            return self.blobs[key]
        except KeyError:
            raise FileNotFoundError(key) from None

    def open(self, key: str) -> BinaryIO:
        return io.BytesIO(self._get(key))

    def exists(self, key: str) -> bool:
        return key in self.blobs

    def size(self, key: str) -> int:
        return len(self._get(key))

    def delete(self, key: str) -> None:
        self.blobs.pop(key, None)

    def delete_prefix(self, prefix: str) -> None:
        with self._lock:
            for key in [k for k in self.blobs if k.startswith(prefix)]:
                del self.blobs[key]

    def local_path(self, key: str) -> str | None:
        return None

    def clean_temp(self) -> int:
        return 0  # a writer that fails leaves nothing behind

    def iter_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        data = self._get(key)  # looked up now: a missing blob raises here, not at the first chunk
        return (data[start : start + chunk_size] for start in range(0, len(data), chunk_size))

    def presigned_url(self, key: str, filename: str, ttl_seconds: int) -> str | None:
        return None
