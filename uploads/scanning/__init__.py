"""What a check before publication receives and raises (docs/checks.md).

A check is a callable ``check(file: StagedFile) -> None`` named in ``UPLOADS["CHECKS"]`` and
chosen per upload type in the admin. It runs on the staged bytes once the built-in checks
passed, before the file is completed and promoted; it raises ``Refused`` to reject the file
(its reason is what the uploader sees) or ``Unavailable`` when it cannot decide now (the
upload stays ``verifying`` and is checked again later). Returning means the file passes.

(Not to be confused with ``uploads.checks``, Django's system checks of the app's settings.)
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

#: The default size of the pieces ``StagedFile.chunks`` yields.
CHUNK = 1024 * 1024


class Refused(Exception):
    """The file must not be published; ``reason`` is shown to the uploader and in the
    admin."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class Unavailable(Exception):
    """The check cannot decide now (a scanner that does not answer): the upload stays
    ``verifying`` and is checked again later."""


@dataclass(frozen=True)
class StagedFile:
    """The file as it lies in staging, verified by the built-in checks, not yet published.

    ``chunks()`` and ``open()`` read it from the storage piece by piece; never load a large
    file whole. ``sha256`` is the base64 of its digest when known ("" otherwise)."""

    upload_id: uuid.UUID
    owner_id: int | str
    upload_type: str
    content_type: str
    size: int
    file_name: str
    sha256: str
    read_range: Callable[[int, int], bytes] = field(repr=False)

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """The file's bytes in order, ``size`` bytes at a time (the last piece shorter)."""
        if size < 1:
            raise ValueError("size must be at least 1")
        offset = 0
        while offset < self.size:
            piece = self.read_range(offset, min(size, self.size - offset))
            if not piece:
                raise OSError(f"The staged file ended at byte {offset} of {self.size}.")
            yield piece
            offset += len(piece)

    def open(self) -> IO[bytes]:
        """A read-only binary stream of the file (buffered; reads fetch from the storage)."""
        return io.BufferedReader(_RangeReader(self), buffer_size=CHUNK)


class _RangeReader(io.RawIOBase):
    def __init__(self, file: StagedFile) -> None:
        self._file = file
        self._offset = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._offset

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._offset, io.SEEK_END: self._file.size}[whence]
        self._offset = max(0, base + offset)
        return self._offset

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        wanted = min(len(buffer), self._file.size - self._offset)
        if wanted <= 0:
            return 0
        piece = self._file.read_range(self._offset, wanted)
        buffer[: len(piece)] = piece
        self._offset += len(piece)
        return len(piece)


__all__ = ["CHUNK", "Refused", "StagedFile", "Unavailable"]
