"""Blob storage behind a small protocol (`base.BlobStore`): a local directory by default
(`local`), an S3-compatible bucket (`s3`: AWS S3, MinIO and the like, with presigned links), an
in-memory fake twin (`memory`), the one key layout (`keys`) and HMAC-signed, expiring download
links (`signing`). `open_store` builds the store a `BlobConfig` names; the S3 client library
(boto3) is imported only when an S3 store is opened."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from jobport.blobs.base import BlobStore

BlobKind = Literal["local", "memory", "s3"]
AddressingStyle = Literal["auto", "path", "virtual"]

MIN_PART_BYTES = 5 * 1024 * 1024  # S3's smallest multipart part (every part but the last)
NEEDS_BOTO3 = "JOBPORT_BLOBS_URL=s3://... needs boto3: pip install 'jobport[s3]'"
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]")


@dataclass(frozen=True)
class BlobConfig:
    """Which store and where: small and picklable, so worker processes (and Ray actors on other
    nodes) open the same store. `root` is the local store's directory; the other fields describe
    an S3 store (`kind="s3"`) and keep their defaults for the others."""

    kind: BlobKind
    root: Path
    bucket: str = ""
    prefix: str = ""  # "" or "a/b/": every key of the store lives under it
    endpoint_url: str | None = None  # None: AWS S3 of `region`
    region: str = "us-east-1"
    access_key_id: str | None = None  # None (both): boto3's default credential chain
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    part_size_bytes: int = 8 * 1024 * 1024
    addressing_style: AddressingStyle = "auto"
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 60.0
    max_attempts: int = 3

    @property
    def url(self) -> str:
        """The store as an operator names it in messages: `s3://bucket/prefix` or the directory."""
        if self.kind == "s3":
            return f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        return "memory" if self.kind == "memory" else str(self.root)


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/optional/prefix` -> (bucket, "optional/prefix/" or ""); otherwise a ValueError
    whose message reads after the setting's name ("blobs_url must be ...")."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "s3":
        raise ValueError(f"must be s3://bucket or s3://bucket/prefix, got {url!r} (unset: a local directory)")
    if "?" in rest or "#" in rest:
        raise ValueError(f"must be s3://bucket/prefix without a query or fragment, got {url!r}")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError(f"names no bucket: {url!r} (expected s3://bucket or s3://bucket/prefix)")
    if not _BUCKET.fullmatch(bucket):
        raise ValueError(f"names {bucket!r}, which is not a bucket name (3-63 letters, digits, '.', '-', '_')")
    parts = [part for part in prefix.split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise ValueError(f"has a '.' or '..' segment in its prefix: {url!r}")
    return bucket, "".join(f"{part}/" for part in parts)


def open_store(config: BlobConfig) -> BlobStore:
    if config.kind == "memory":
        from jobport.blobs.memory import MemoryBlobStore

        return MemoryBlobStore()
    if config.kind == "s3":
        from jobport.blobs.s3 import S3BlobStore  # imports boto3: only when S3 is chosen

        return S3BlobStore(config)
    from jobport.blobs.local import LocalBlobStore

    return LocalBlobStore(config.root)
