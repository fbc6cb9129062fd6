"""Images that carry what a type stripping metadata must remove, and ways to find it."""

from __future__ import annotations

import io

from PIL import Image, PngImagePlugin

GPS_IFD = 0x8825
ORIENTATION = 0x0112
SECRET = b"secret-location-note"


def gps_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    gps = exif.get_ifd(GPS_IFD)
    gps.update({1: "N", 2: (52.0, 22.0, 1.5), 3: "E", 4: (4.0, 53.0, 2.0)})
    return exif


def jpeg_with_gps(width: int = 24, height: int = 16, orientation: int = 1) -> bytes:
    """A JPEG with EXIF GPS, an XMP packet and a comment."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (40, 120, 200)).save(
        out,
        "JPEG",
        quality=90,
        exif=gps_exif(orientation),
        xmp=b"<x:xmpmeta>" + SECRET + b"</x:xmpmeta>",
        comment=SECRET,
    )
    return out.getvalue()


def png_with_text_and_trailer(width: int = 12, height: int = 10) -> bytes:
    """A PNG with a tEXt chunk, followed by bytes after its IEND chunk."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", SECRET.decode())
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (200, 30, 30, 128)).save(out, "PNG", pnginfo=info)
    return out.getvalue() + b"TRAILING" + SECRET


def metadata_in(data: bytes) -> dict[str, object]:
    """What Pillow reads from the image beyond its pixels: EXIF tags, the GPS directory,
    PNG text chunks, XMP and comments (empty when there is none)."""
    with Image.open(io.BytesIO(data)) as image:
        found: dict[str, object] = {}
        exif = image.getexif()
        if exif:
            found["exif"] = dict(exif)
        if exif.get_ifd(GPS_IFD):
            found["gps"] = dict(exif.get_ifd(GPS_IFD))
        if getattr(image, "text", None):
            found["text"] = dict(image.text)  # type: ignore[attr-defined]
        for key in ("xmp", "comment"):
            if image.info.get(key):
                found[key] = image.info[key]
        if SECRET in data:
            found["bytes"] = SECRET
        return found


def pixel_size(data: bytes, fmt: str) -> tuple[int, int]:
    """The image's width and height, after decoding every pixel."""
    with Image.open(io.BytesIO(data), formats=[fmt]) as image:
        image.load()
        return image.size


def ends_at_image_end(data: bytes, fmt: str) -> bool:
    """Nothing after the format's end marker."""
    marker = {"JPEG": b"\xff\xd9", "PNG": b"IEND\xaeB`\x82"}[fmt]
    return data.endswith(marker) and data.count(marker) == 1
