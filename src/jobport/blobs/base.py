"""The blob store protocol. Keys are `/`-separated relative paths (`blobs.keys` builds them); writes
are atomic: a blob appears under its key only when its writer closes cleanly.

A store that cannot be reached, or that refuses (denied, no such bucket), raises
`BlobStoreUnavailable`: a 503 in each surface's error format that names the store. A missing blob
is not that: reads raise FileNotFoundError."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import BinaryIO, Protocol

from jobport.domain.errors import Unavailable


class BlobStoreUnavailable(Unavailable):
    """The blob store `store` (its URL, e.g. `s3://bucket/prefix`) failed: unreachable, denied, gone."""

    default_code = "blob_store_unavailable"

    def __init__(self, store: str, reason: str) -> None:
        super().__init__(f"blob store {store} is unavailable: {reason}",
                         suggestion="Retry later; the operator should check the store's address, bucket and "
                                    "credentials (settings JOBPORT_BLOBS_URL, JOBPORT_S3_*).")
        self.store = store
        self.reason = reason

    def __reduce__(self) -> tuple[type[BlobStoreUnavailable], tuple[str, str]]:
        return type(self), (self.store, self.reason)  # crosses process boundaries (workers, Ray)


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

    def iter_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The blob's bytes in chunks; FileNotFoundError (or BlobStoreUnavailable) is raised by the
        call itself, not by the first `next`, so a download can still answer an error status."""
        ...

    def presigned_url(self, key: str, filename: str, ttl_seconds: int) -> str | None:
        """A URL that downloads the blob as `filename` without the server for `ttl_seconds`, when
        the store can sign one itself (S3); None otherwise (the server signs `/blobs/...` links)."""
        ...

    def clean_temp(self) -> int:
        """Remove what writers that died mid-write left behind; how many. Called by the active
        scheduler at start, when no writer of a previous process can still be running."""
        ...
