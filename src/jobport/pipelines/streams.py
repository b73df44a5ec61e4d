"""Stream helpers shared by pipelines."""

from __future__ import annotations

import io
from typing import BinaryIO


class RawReader(io.RawIOBase):
    """Lets io.BufferedReader (for `peek` and `readline`) wrap any object with `read`."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()
