"""A local multipart upload's parts written in place, where the storage keeps files on disk.

Each part's PUT writes its bytes at the part's offset in one file of the parts' directory
(``assembling``), then records that the part arrived whole (``<number>.json``: its offset,
size and sha256). Only records are listed, so a part refused mid-body is never listed, and a
part sent again is unlisted from the moment it starts. Complete renames the file to the key:
no byte is copied.

Locks (``flock``, which holds between the threads of one process too): a part's PUT holds the
directory's lock shared and its part's lock exclusive, so that a part sent twice at once is
written once and then again; complete and abort hold the directory's lock exclusive, so that
no PUT is writing the file when it becomes the key, nor once it is (a PUT opens the file only
while it holds the lock, and a lock file removed while it waited tells it the upload ended).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

ASSEMBLING = "assembling"
LOCK = "lock"
RECORD = ".json"


class Ended(Exception):
    """The multipart upload was completed or aborted while the request waited for it."""


class PartsChanged(Exception):
    """The parts on disk are not the ones complete was given (a part sent again meanwhile)."""


@dataclass(frozen=True)
class PartRecord:
    number: int
    offset: int
    size: int
    sha256: str


def _lock_name(directory: str, number: int | None) -> str:
    return os.path.join(directory, LOCK if number is None else f"{number:05d}.lock")


def _record_name(directory: str, number: int) -> str:
    return os.path.join(directory, f"{number:05d}{RECORD}")


@contextmanager
def _locked(path: str, operation: int) -> Iterator[None]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError as err:  # the directory went with its upload
        raise Ended() from err
    try:
        fcntl.flock(fd, operation)
        if os.fstat(fd).st_nlink == 0:
            raise Ended()
        yield
    finally:
        os.close(fd)  # and with it the lock


class PartWriter:
    """Writes one part's bytes at its offset; records it only once told it arrived whole."""

    def __init__(self, fd: int, directory: str, number: int, offset: int) -> None:
        self._fd = fd
        self._directory = directory
        self._number = number
        self._offset = offset
        self._position = offset

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.pwrite(self._fd, view, self._position)
            self._position += written
            view = view[written:]

    def arrived(self, sha256: str) -> None:
        record = _record_name(self._directory, self._number)
        size = self._position - self._offset
        with open(f"{record}.tmp", "w") as fh:
            json.dump({"offset": self._offset, "size": size, "sha256": sha256}, fh)
        os.replace(f"{record}.tmp", record)


@contextmanager
def writing_part(directory: str, number: int, offset: int) -> Iterator[PartWriter]:
    """A writer of part ``number`` at ``offset``, unlisted until ``arrived``. Raises Ended
    when the upload ended (completed or aborted) while this waited."""
    os.makedirs(directory, exist_ok=True)
    with _locked(_lock_name(directory, None), fcntl.LOCK_SH):
        with _locked(_lock_name(directory, number), fcntl.LOCK_EX):
            try:
                os.unlink(_record_name(directory, number))  # a part sent again
            except FileNotFoundError:
                pass
            fd = os.open(os.path.join(directory, ASSEMBLING), os.O_WRONLY | os.O_CREAT, 0o666)
            try:
                yield PartWriter(fd, directory, number, offset)
            finally:
                os.close(fd)


def list_records(directory: str) -> list[PartRecord]:
    """The parts that arrived whole, by number; [] when there is no directory."""
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    records = []
    for name in names:
        number = name.removesuffix(RECORD)
        if number == name or not (number.isascii() and number.isdigit()):
            continue
        try:
            with open(os.path.join(directory, name)) as fh:
                fields = json.load(fh)
        except FileNotFoundError:  # being sent again right now
            continue
        records.append(PartRecord(int(number), fields["offset"], fields["size"], fields["sha256"]))
    return sorted(records, key=lambda r: r.number)


def assemble(directory: str, target: str, parts: list[tuple[int, int, str]]) -> None:
    """Move the assembled file to ``target`` once its records are exactly ``parts``
    ((number, size, sha256), in order) laid end to end from byte 0; then remove the
    directory's files. Raises PartsChanged, Ended, OSError."""
    with _locked(_lock_name(directory, None), fcntl.LOCK_EX):
        records = {r.number: r for r in list_records(directory)}
        end = 0
        for number, size, sha256 in parts:
            if records.get(number) != PartRecord(number, end, size, sha256):
                raise PartsChanged(f"part {number} changed after it was listed")
            end += size
        source = os.path.join(directory, ASSEMBLING)
        if os.stat(source).st_size != end:
            raise PartsChanged(f"the parts hold {os.stat(source).st_size} bytes, not {end}")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        # The records first: should this stop before the rename, complete finds the parts
        # missing (to send again), not listed parts with no file.
        for number, _, _ in parts:
            os.unlink(_record_name(directory, number))
        shutil.move(source, target)  # a rename: a copy only across file systems
        _remove_files(directory)


def remove(directory: str) -> None:
    """Remove the directory's files, once no PUT is writing one."""
    if not os.path.isdir(directory):
        return
    try:
        with _locked(_lock_name(directory, None), fcntl.LOCK_EX):
            _remove_files(directory)
    except Ended:
        pass  # removed by another meanwhile


def _remove_files(directory: str) -> None:
    for name in os.listdir(directory):
        try:
            os.unlink(os.path.join(directory, name))
        except FileNotFoundError:
            pass
