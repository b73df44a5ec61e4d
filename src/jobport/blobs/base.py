"""The blob store protocol. Keys are `/`-separated relative paths (`blobs.keys` builds them); writes
are atomic: a blob appears under its key only when its writer closes cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import BinaryIO, Protocol


class BlobStore(Protocol):
    def writer(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A file to write; the blob appears under `key` only when the block exits cleanly."""
        ...

    def open(self, key: str) -> BinaryIO:
        """Read a blob as a stream; FileNotFoundError if there is none."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int: ...

    def delete(self, key: str) -> None:
        """Remove a blob; a missing blob is not an error."""
        ...

    def delete_prefix(self, prefix: str) -> None:
        """Remove every blob under `prefix` (a folder of keys)."""
        ...

    def local_path(self, key: str) -> str | None:
        """A filesystem path when the store is a local directory, else None (readers that can
        memory-map or seek a path use it; everything else streams through `open`)."""
        ...

    def iter_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]: ...

    def clean_temp(self) -> int:
        """Remove what writers that died mid-write left behind; how many. Called by the active
        scheduler at start, when no writer of a previous process can still be running."""
        ...
