"""What complete records about a verified file beyond its size and hash: an image's size
in pixels and whether it is animated, a PDF's page count. Read from bytes complete already
holds; whatever cannot be read stays None (nothing here refuses a file)."""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass

from PIL import Image

# An indirect object whose dictionary is the root of a PDF's page tree: "/Type /Pages" and
# no "/Parent" (inner nodes of the tree have one). Bounded repeats and a split on "endobj"
# keep the search linear: the bytes are the uploader's, made to make a regex backtrack.
_HEADER = re.compile(rb"(?<![0-9])[0-9]{1,10}[\0\t\n\f\r ]{1,8}[0-9]{1,5}[\0\t\n\f\r ]{1,8}obj")
_PAGES = re.compile(rb"/Type[\0\t\n\f\r ]{0,8}/Pages(?![A-Za-z0-9#])")
_PARENT = re.compile(rb"/Parent(?![A-Za-z0-9#])")
_COUNT = re.compile(rb"/Count[\0\t\n\f\r ]{1,8}([0-9]{1,10})(?![0-9])")
_MAX_COUNT = 2**31 - 1


@dataclass(frozen=True)
class Facts:
    width: int | None = None
    height: int | None = None
    is_animated: bool | None = None
    page_count: int | None = None
    duration: float | None = None


def image_facts(data: bytes, pillow_format: str) -> Facts:
    """The size of the image as stored (before any EXIF rotation a viewer applies) and
    whether it has more than one frame. ``data`` was decoded already, within its cap."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[pillow_format]) as image:
                width, height = image.size
                animated = bool(getattr(image, "is_animated", False))
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError):
        return Facts()
    return Facts(width=width, height=height, is_animated=animated)


def pdf_page_count(data: bytes) -> int | None:
    """The ``/Count`` of the page tree's root in ``data`` (the whole PDF, or its head and
    tail); the last one wins, as an incremental update appends a new one. None where the
    tree is not in ``data`` as plain text (in a compressed object stream, or mid-file)."""
    count = None
    for chunk in data.split(b"endobj"):
        headers = list(_HEADER.finditer(chunk))
        if not headers:
            continue
        body = chunk[headers[-1].end() :]
        if _PAGES.search(body) and not _PARENT.search(body):
            number = _COUNT.search(body)
            if number:
                count = int(number.group(1))
    return count if count is not None and count <= _MAX_COUNT else None
