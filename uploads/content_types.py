"""What the app knows about each content type: its key extension and how to recognise it.

A type the app cannot recognise from its bytes cannot be verified on complete, so an
upload policy may only allow the types listed here, and those an operator declares in
``settings.UPLOADS["EXTRA_CONTENT_TYPES"]`` with the magic bytes that recognise them:

    "EXTRA_CONTENT_TYPES": {
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document": {
            "extension": "docx",
            "magic": ["504b0304"],  # hex; any one of them, at "offset" (default 0)
        },
    }

No declaration can allow active content (uploads.active_content): types, extensions or
magic bytes that a browser or an operating system may run or render with scripts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from uploads import active_content, inspection, sniffing
from uploads.app_settings import app_settings

MIME_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")


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
    return sniffing.most_likely(head)


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
    # The ffprobe demuxer that reads its duration and frame size; None: not probed.
    probe_format: str | None = None
    # Declared by the operator: the bytes, any one of which starts at magic_offset.
    magic: tuple[bytes, ...] = ()
    magic_offset: int = 0

    def recognise(self, head: bytes) -> bool:
        if self.magic:
            return any(
                head[self.magic_offset : self.magic_offset + len(m)] == m for m in self.magic
            )
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
        probe_format="mov",
    ),
    ContentType("video/quicktime", "mov", probe_format="mov"),
    ContentType(
        "video/webm", "webm", frozenset({"application/x-matroska"}), probe_format="matroska"
    ),
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
EXTENSION_RE = re.compile(r"^[a-z0-9]{1,16}$")
# Magic this short would recognise too many unrelated files.
MIN_MAGIC_BYTES = 4


def _refusal(mime: str) -> str | None:
    """Why no upload type may allow ``mime``, whatever is declared; None when it may."""
    if "*" in mime:
        return f"'{mime}': wildcards are not allowed; list each exact type."
    if not MIME_RE.match(mime):
        return f"'{mime}' is not a valid MIME type (type/subtype, no parameters)."
    if why := active_content.why_active(mime):
        return f"'{mime}' can never be allowed: {why}"
    return None


def _magic_problem(value: bytes) -> str | None:
    if len(value) < MIN_MAGIC_BYTES:
        return f"each at least {MIN_MAGIC_BYTES} bytes, or too many other files would match."
    if active_content.markup_or_script(value):
        return f"'{value.hex()}' ({value!r}) starts like markup or a script, which browsers render."
    if active_content.program(value):
        return f"'{value.hex()}' ({value!r}) starts like a program: {active_content.EXECUTABLE}"
    # Only what a browser would render or run: the sniffer's guesses of programs are too
    # broad (some zip headers read as Java archives alone), the headers above catch those.
    for mime in sorted(_sniffed(value)):
        why = active_content.why_active(mime)
        if why and why not in {active_content.EXECUTABLE, active_content.UNKNOWN}:
            return f"'{value.hex()}' reads as {mime}: {why}"
    return None


def _declared(mime: str, spec: object) -> ContentType:
    """One entry of EXTRA_CONTENT_TYPES as a ContentType; ValueError says what is wrong."""
    where = f"settings.UPLOADS['EXTRA_CONTENT_TYPES']['{mime}']"
    if not isinstance(mime, str) or mime != normalise(mime):
        raise ValueError(f"{where}: not a valid MIME type (lower-case type/subtype).")
    if refusal := _refusal(mime):
        raise ValueError(f"{where}: {refusal}")
    if mime in KNOWN:
        raise ValueError(f"{where}: the app knows this type already; remove it.")
    if not isinstance(spec, dict) or set(spec) - {"extension", "magic", "offset"}:
        raise ValueError(f"{where}: a dict of 'extension', 'magic' and optionally 'offset'.")
    extension = spec.get("extension")
    if not isinstance(extension, str) or not EXTENSION_RE.match(extension):
        raise ValueError(
            f"{where}['extension']: such as 'docx' (1 to 16 lower-case letters and digits)."
        )
    if extension in active_content.EXTENSIONS:
        raise ValueError(
            f"{where}['extension']: '.{extension}' files are run or rendered with scripts by "
            "a browser or an operating system that opens them."
        )
    magic = spec.get("magic")
    offset = spec.get("offset", 0)
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset < 1024:
        raise ValueError(f"{where}['offset']: a whole number of bytes from 0 to 1023.")
    if not isinstance(magic, list) or not magic:
        raise ValueError(f"{where}['magic']: a list of hex strings, such as ['504b0304'].")
    try:
        values = tuple(bytes.fromhex(item) for item in magic)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}['magic']: hex strings only, such as '504b0304'.") from err
    for value in values:
        if problem := _magic_problem(value):
            raise ValueError(f"{where}['magic']: {problem}")
    return ContentType(mime, extension, magic=values, magic_offset=offset)


def declared() -> dict[str, ContentType]:
    """The operator's extra types; raises ValueError for an entry that is wrong."""
    extra = app_settings.EXTRA_CONTENT_TYPES
    return {mime: _declared(mime, spec) for mime, spec in extra.items()}


def known(mime: str) -> ContentType | None:
    """The built-in or declared type of that name."""
    return KNOWN.get(mime) or declared().get(mime)


def all_known() -> list[str]:
    return sorted({*KNOWN, *declared()})


def normalise(value: str) -> str:
    """The value a client sent, compared as an exact lower-cased essence: no parameters,
    no lists. ``image/png;text/html`` stays what it is and matches nothing."""
    return value.strip().lower()


def problem_with(mime: str) -> str | None:
    """Why an operator may not allow this type, or None when it is fine."""
    if refusal := _refusal(mime):
        return refusal
    if known(mime) is None:
        return (
            f"'{mime}' cannot be recognised from its bytes, so complete could not verify it. "
            f"Known types: {', '.join(all_known())}. Others may be declared in "
            "settings.UPLOADS['EXTRA_CONTENT_TYPES'] with their magic bytes."
        )
    return None


def extension_for(mime: str) -> str:
    found = known(mime)
    if found is None:
        raise KeyError(mime)
    return found.extension


def bytes_match(mime: str, head: bytes) -> bool:
    found = known(mime)
    return bool(found and head and found.recognise(head))


def is_raster_image(mime: str) -> bool:
    found = known(mime)
    return bool(found and found.raster_image)


def reads_whole(mime: str) -> bool:
    """Whether complete reads the whole object (to decode or parse it), not just its head."""
    found = known(mime)
    return bool(found and (found.pillow_format or found.json))


def keeps_metadata(mime: str) -> bool:
    """A raster image the app recognises but cannot decode, so cannot re-encode."""
    found = known(mime)
    return bool(found and found.raster_image and not found.pillow_format)


def pillow_format(mime: str) -> str | None:
    found = known(mime)
    return found.pillow_format if found else None


def probe_format(mime: str) -> str | None:
    found = known(mime)
    return found.probe_format if found else None


def content_problem(mime: str, data: bytes, *, max_pixels: int) -> str | None:
    """Why bytes that passed ``bytes_match`` are still refused, or None. ``data`` is the
    whole object for the types ``reads_whole`` names, else its head."""
    found = known(mime)
    if found is None:
        return None
    if found.pillow_format:
        return inspection.image_problem(data, found.pillow_format, max_pixels)
    if found.json:
        return inspection.json_problem(data)
    if found.text:
        return inspection.text_problem(data)
    return None
