"""What the app knows about each content type: its key extension and how to recognise it.

A type the app cannot recognise from its bytes cannot be verified on complete, so an
upload policy may only allow the types listed here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import puremagic

from uploads import inspection

MIME_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")

# Types that a browser may run or render as a document from our origin, or that say
# nothing about what the bytes are.
FORBIDDEN = {
    "text/html": "HTML runs scripts in the browser.",
    "application/xhtml+xml": "XHTML runs scripts in the browser.",
    "image/svg+xml": "SVG can carry scripts.",
    "application/octet-stream": "it says nothing about what the bytes are.",
    "application/javascript": "it is a script.",
    "text/javascript": "it is a script.",
    "application/ecmascript": "it is a script.",
    "text/ecmascript": "it is a script.",
    "application/x-javascript": "it is a script.",
    "application/x-sh": "it is a script.",
    "application/x-httpd-php": "it is a script.",
    "text/xml": "XML can be rendered as a document with scripts.",
    "application/xml": "XML can be rendered as a document with scripts.",
}


def _text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        # A multi-byte character cut off by the end of the sniffed prefix is fine.
        return err.reason == "unexpected end of data" and err.start >= len(head) - 3
    return True


def _sniffed(head: bytes) -> set[str]:
    """The types the magic-byte library is most confident of (it also lists weaker
    guesses, such as image/webp for any RIFF file)."""
    try:
        matches = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):
        return set()
    best = max((m.confidence for m in matches), default=0)
    return {m.mime_type for m in matches if m.confidence == best}


@dataclass(frozen=True)
class ContentType:
    mime: str
    extension: str
    # Other names the magic-byte library gives the same format.
    aliases: frozenset[str] = frozenset()
    raster_image: bool = False
    text: bool = False
    # ISO media major brands (the 4 bytes after "ftyp") that identify the type; the
    # magic-byte library knows only some of them (not mp41, avc1, iso5, ...).
    brands: frozenset[bytes] = frozenset()
    # The Pillow plugin that decodes it on complete; None: recognised by its header only.
    pillow_format: str | None = None
    json: bool = False

    def recognise(self, head: bytes) -> bool:
        if self.text:
            return _text(head)
        if self.brands and head[4:8] == b"ftyp" and head[8:12] in self.brands:
            return True
        return bool(_sniffed(head) & ({self.mime} | self.aliases))


def _image(mime: str, extension: str, pillow: str | None, *aliases: str) -> ContentType:
    return ContentType(mime, extension, frozenset(aliases), raster_image=True, pillow_format=pillow)


_TYPES = [
    _image("image/jpeg", "jpg", "JPEG"),
    _image("image/png", "png", "PNG"),
    _image("image/gif", "gif", "GIF"),
    _image("image/webp", "webp", "WEBP"),
    _image("image/avif", "avif", "AVIF"),
    _image("image/heic", "heic", None, "image/heif"),
    _image("image/bmp", "bmp", "BMP", "image/x-ms-bmp"),
    _image("image/tiff", "tiff", "TIFF"),
    ContentType(
        "video/mp4",
        "mp4",
        brands=frozenset(
            {
                b"isom",
                b"iso2",
                b"iso4",
                b"iso5",
                b"iso6",
                b"mp41",
                b"mp42",
                b"avc1",
                b"dash",
                b"M4V ",
                b"MSNV",
            }
        ),
    ),
    ContentType("video/quicktime", "mov"),
    ContentType("video/webm", "webm", frozenset({"application/x-matroska"})),
    ContentType("audio/mpeg", "mp3"),
    ContentType("audio/wav", "wav", frozenset({"audio/wave", "audio/x-wav"})),
    ContentType("audio/ogg", "ogg", frozenset({"application/ogg"})),
    ContentType("application/pdf", "pdf"),
    ContentType("application/zip", "zip"),
    ContentType("text/plain", "txt", text=True),
    ContentType("text/csv", "csv", text=True),
    ContentType("application/json", "json", text=True, json=True),
]

KNOWN: dict[str, ContentType] = {t.mime: t for t in _TYPES}


def normalise(value: str) -> str:
    """The value a client sent, compared as an exact lower-cased essence: no parameters,
    no lists. ``image/png;text/html`` stays what it is and matches nothing."""
    return value.strip().lower()


def problem_with(mime: str) -> str | None:
    """Why an operator may not allow this type, or None when it is fine."""
    if "*" in mime:
        return f"'{mime}': wildcards are not allowed; list each exact type."
    if not MIME_RE.match(mime):
        return f"'{mime}' is not a valid MIME type (type/subtype, no parameters)."
    if mime in FORBIDDEN:
        return f"'{mime}' can never be allowed: {FORBIDDEN[mime]}"
    if mime not in KNOWN:
        return (
            f"'{mime}' cannot be recognised from its bytes, so complete could not verify it. "
            f"Known types: {', '.join(sorted(KNOWN))}."
        )
    return None


def extension_for(mime: str) -> str:
    return KNOWN[mime].extension


def bytes_match(mime: str, head: bytes) -> bool:
    known = KNOWN.get(mime)
    return bool(known and head and known.recognise(head))


def is_raster_image(mime: str) -> bool:
    known = KNOWN.get(mime)
    return bool(known and known.raster_image)


def reads_whole(mime: str) -> bool:
    """Whether complete reads the whole object (to decode or parse it), not just its head."""
    known = KNOWN.get(mime)
    return bool(known and (known.pillow_format or known.json))


def keeps_metadata(mime: str) -> bool:
    """A raster image the app recognises but cannot decode, so cannot re-encode."""
    known = KNOWN.get(mime)
    return bool(known and known.raster_image and not known.pillow_format)


def pillow_format(mime: str) -> str | None:
    known = KNOWN.get(mime)
    return known.pillow_format if known else None


def content_problem(mime: str, data: bytes, *, max_pixels: int) -> str | None:
    """Why bytes that passed ``bytes_match`` are still refused, or None. ``data`` is the
    whole object for the types ``reads_whole`` names, else its head."""
    known = KNOWN[mime]
    if known.pillow_format:
        return inspection.image_problem(data, known.pillow_format, max_pixels)
    if known.json:
        return inspection.json_problem(data)
    if known.text:
        return inspection.text_problem(data)
    return None
