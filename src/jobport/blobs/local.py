"""Local-directory blob store: the embedded default. Writes go to a temp file in the same
filesystem and are renamed into place, so a crash never leaves a half-written blob under a key."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


class LocalBlobStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / ".tmp"
        self._tmp.mkdir(exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"blob key escapes the store: {key!r}")
        return path

    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp)
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle
            os.replace(tmp_name, target)
        except BaseException:
            try:
                os.unlink(tmp_name)
            except FileNotFoundError:
                pass
            raise

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            pass

    def delete_prefix(self, prefix: str) -> None:
        path = self._path(prefix.rstrip("/"))
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file():
            path.unlink()

    def local_path(self, key: str) -> str | None:
        return str(self._path(key))

    def iter_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        return _chunks(self.open(key), chunk_size)  # opened now: a missing blob raises here

    def presigned_url(self, key: str, filename: str, ttl_seconds: int) -> str | None:
        return None  # the server signs its own /blobs/... links

    def clean_temp(self) -> int:
        """Remove temp files left by writers that died mid-write (call while holding the scheduler lock)."""
        removed = 0
        for leftover in self._tmp.iterdir():
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed


def _chunks(handle: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(chunk_size):
            yield chunk
