"""The blob store protocol. Keys are `/`-separated relative paths; writes are atomic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import BinaryIO, Protocol


class BlobStore(Protocol):
    def writer(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A file to write; the blob appears under `key` only when the block exits cleanly."""

    def open(self, key: str) -> BinaryIO: ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int: ...

    def delete(self, key: str) -> None:
        """Remove a blob; a missing blob is not an error."""

    def delete_prefix(self, prefix: str) -> None: ...

    def local_path(self, key: str) -> str | None:
        """A filesystem path when the store is a local directory, else None."""

    def iter_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]: ...
