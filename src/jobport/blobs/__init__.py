"""Blob storage behind a small protocol (`base.BlobStore`): a local directory by default
(`local`), an in-memory fake twin (`memory`), the one key layout (`keys`) and HMAC-signed,
expiring download links (`signing`). `open_store` builds the store a `BlobConfig` names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from jobport.blobs.base import BlobStore

BlobKind = Literal["local", "memory"]


@dataclass(frozen=True)
class BlobConfig:
    """Which store and where: small and picklable, so worker processes open the same store."""

    kind: BlobKind
    root: Path


def open_store(config: BlobConfig) -> BlobStore:
    if config.kind == "memory":
        from jobport.blobs.memory import MemoryBlobStore

        return MemoryBlobStore()
    from jobport.blobs.local import LocalBlobStore

    return LocalBlobStore(config.root)
