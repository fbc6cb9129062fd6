"""What `make run` sets up for a first look: a demo user, a token, a sample PNG and an
upload type for large files."""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uploads.models import UploadPolicy


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


#: The upload type `make run` adds so that the demo shows large files: above
#: LARGE_THRESHOLD a client sends the file in parts of LARGE_PART_SIZE (5 MiB, S3's smallest
#: part). Only `manage.py demo_user` creates it; the app's migrations leave it out.
LARGE_TYPE = "large"
LARGE_THRESHOLD = 8 * 1024 * 1024
LARGE_PART_SIZE = 5 * 1024 * 1024


def ensure_large_type() -> UploadPolicy:
    """The demo's `large` upload type, created once; an operator's later edits are kept."""
    # Not at the top: the test suite imports png_bytes before Django is set up.
    from uploads.models import UploadPolicy

    policy, _ = UploadPolicy.objects.get_or_create(
        name=LARGE_TYPE,
        defaults={
            "label": "Large files (demo: in parts above 8 MiB)",
            "allowed_content_types": ["video/mp4", "application/pdf", "image/png", "image/jpeg"],
            "max_size": 1024**3,
            "expires_in": 3600,
            "key_prefix": "large",
            "is_public": False,
            "multipart_threshold": LARGE_THRESHOLD,
            "part_size": LARGE_PART_SIZE,
        },
    )
    return policy
