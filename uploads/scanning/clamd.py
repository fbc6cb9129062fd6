"""A small client for ClamAV's daemon: INSTREAM over its unix socket or TCP.

The bytes go in chunks, each prefixed with its length (4 bytes, network order), then a
zero-length chunk; clamd answers one line: ``stream: OK``, ``stream: <signature> FOUND`` or
``<problem> ERROR`` (such as ``INSTREAM size limit exceeded. ERROR`` past its
StreamMaxLength). Every socket operation is bounded by ``timeout``, and all of them by
``deadline`` when one is given.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

#: The largest chunk sent at once (clamd reads each into a buffer of its own).
MAX_CHUNK = 256 * 1024
#: The longest answer read: a line naming one signature.
MAX_ANSWER = 4096


class ClamdUnavailable(Exception):
    """clamd could not be reached, failed, or did not answer in time."""


class ClamdTooLarge(Exception):
    """clamd refused the stream as longer than its StreamMaxLength."""


@dataclass(frozen=True)
class Address:
    family: socket.AddressFamily
    target: str | tuple[str, int]


def parse_address(value: str) -> Address:
    """``unix:///run/clamav/clamd.ctl`` or ``tcp://host:3310``; ValueError otherwise."""
    parts = urlsplit(value)
    if parts.scheme == "unix" and parts.path and not parts.netloc:
        return Address(socket.AF_UNIX, parts.path)
    if parts.scheme == "tcp" and parts.hostname and not parts.path.strip("/"):
        try:
            port = parts.port
        except ValueError as err:
            raise ValueError(f"{value!r}: the port is not a number.") from err
        if port is None:
            raise ValueError(f"{value!r}: name the port, such as tcp://clamd:3310.")
        family = socket.AF_INET6 if ":" in parts.hostname else socket.AF_INET
        return Address(family, (parts.hostname, port))
    raise ValueError(
        f"{value!r} is not a clamd address: use unix:///path/to/clamd.ctl or tcp://host:3310."
    )


def instream(
    address: str, chunks: Iterable[bytes], timeout: float, deadline: float | None = None
) -> str | None:
    """Scan the bytes of ``chunks``; the name of the signature they match, or None when
    clean. ``deadline``: a ``time.monotonic()`` by which all is done. Raises
    ClamdUnavailable (unreachable, timed out, an error answer) or ClamdTooLarge."""
    where = parse_address(address)

    def bounded(conn: socket.socket) -> None:
        left = timeout if deadline is None else min(timeout, deadline - time.monotonic())
        if left <= 0:
            raise TimeoutError("no time left to scan")
        conn.settimeout(left)

    try:
        with socket.socket(where.family, socket.SOCK_STREAM) as conn:
            bounded(conn)
            conn.connect(where.target)
            conn.sendall(b"zINSTREAM\0")
            try:
                for chunk in chunks:
                    for start in range(0, len(chunk), MAX_CHUNK):
                        piece = chunk[start : start + MAX_CHUNK]
                        bounded(conn)
                        conn.sendall(struct.pack("!I", len(piece)) + piece)
                conn.sendall(struct.pack("!I", 0))
            except (BrokenPipeError, ConnectionResetError):
                pass  # clamd stopped reading (a size limit): its answer says why
            bounded(conn)
            answer = _read_answer(conn)
    except OSError as err:  # timeouts too
        raise ClamdUnavailable(f"clamd at {address} did not answer: {err}") from err
    return parse_answer(answer)


def _read_answer(conn: socket.socket) -> str:
    data = b""
    while b"\0" not in data and len(data) < MAX_ANSWER:
        piece = conn.recv(MAX_ANSWER)
        if not piece:
            break
        data += piece
    return data.split(b"\0", 1)[0].decode("utf-8", "replace").strip()


def parse_answer(answer: str) -> str | None:
    """A signature's name for ``stream: <name> FOUND``, None for ``stream: OK``."""
    if answer == "stream: OK":
        return None
    if answer.startswith("stream: ") and answer.endswith(" FOUND"):
        return answer[len("stream: ") : -len(" FOUND")].strip() or "unnamed signature"
    if "size limit exceeded" in answer:
        raise ClamdTooLarge(answer)
    raise ClamdUnavailable(f"clamd answered {answer!r}" if answer else "clamd closed the stream")
