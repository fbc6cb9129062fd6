"""What `make run` sets up for a first look: a demo user, a token and a sample PNG."""

from __future__ import annotations

import struct
import zlib


def png_bytes(width: int = 64, height: int = 64, comment: bytes = b"") -> bytes:
    """A real, decodable PNG of a red square (with a text chunk when ``comment`` is set)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + (chunk(b"tEXt", b"Comment\x00" + comment) if comment else b"")
        + chunk(b"IEND", b"")
    )
