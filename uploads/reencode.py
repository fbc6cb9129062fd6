"""Re-encoding a verified image in its own format, keeping its pixels and what matters to
display them (orientation, colour profile, transparency, animation timing) and nothing
else: no EXIF (GPS included), XMP, comments or text chunks, and no bytes after the end.

The image has passed ``inspection.image_problem`` already (same format, within the pixel
cap). Every frame is decoded here, so an animated image must fit the cap in all its
frames together.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from PIL import Image, ImageOps, ImageSequence, JpegImagePlugin

# What Pillow reports from a file's metadata, in ``info`` (PNG text chunks add their own
# keywords, found through ``text``).
_METADATA_KEYS = frozenset({"exif", "xmp", "XML:com.adobe.xmp", "comment", "photoshop"})
# TIFF tags that describe the picture's origin rather than its pixels: EXIF and GPS
# directories, XMP, IPTC, Photoshop resources, description, make, model, software, artist,
# date, host computer, copyright.
_TIFF_METADATA_TAGS = frozenset(
    {34665, 34853, 700, 33723, 34377, 270, 271, 272, 305, 306, 315, 316, 33432}
)
# Kept because they change how the image looks, or moves.
_DISPLAY_KEYS = ("icc_profile", "transparency", "duration", "loop", "background")


class ReencodeError(Exception):
    """The image cannot be re-encoded; the message says why, for the uploader."""


def strip_metadata(data: bytes, pillow_format: str, max_pixels: int) -> bytes:
    with warnings.catch_warnings():
        # The policy's cap decides, as in the inspection, not Pillow's process-wide limit.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[pillow_format]) as source:
                frames = getattr(source, "n_frames", 1)
                width, height = source.size
                if frames * width * height > max_pixels:
                    raise ReencodeError(
                        f"The image has {frames} frames of {width} x {height} pixels, over "
                        f"the limit of {max_pixels} pixels that re-encoding may decode."
                    )
                result = _encode(source, pillow_format, frames, data)
        except ReencodeError:
            raise
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as err:
            raise ReencodeError(
                f"The image could not be re-encoded without its metadata ({type(err).__name__})."
            ) from err
    _check_clean(result, pillow_format)
    return result


def _encode(source: Image.Image, pillow_format: str, frames: int, data: bytes) -> bytes:
    options = _options(source, pillow_format, data)
    images = [_clean(frame) for frame in ImageSequence.Iterator(source)] if frames > 1 else []
    first = images[0] if images else _clean(source)
    if len(images) > 1:
        durations = [frame.info.get("duration", 0) for frame in ImageSequence.Iterator(source)]
        options.update(save_all=True, append_images=images[1:], duration=durations)
        if "loop" in source.info:
            options["loop"] = source.info["loop"]
    out = io.BytesIO()
    first.save(out, format=pillow_format, **options)
    return out.getvalue()


def _clean(frame: Image.Image) -> Image.Image:
    """A detached copy with the orientation applied and only the display keys in ``info``
    (some encoders read ``info`` as well as their arguments)."""
    upright = ImageOps.exif_transpose(frame) or frame.copy()
    upright.info = {k: frame.info[k] for k in _DISPLAY_KEYS if k in frame.info}
    return upright


def _options(source: Image.Image, pillow_format: str, data: bytes) -> dict[str, Any]:
    """Encoder arguments that keep the source's quality where the format allows it."""
    options: dict[str, Any] = {}
    if "icc_profile" in source.info:
        options["icc_profile"] = source.info["icc_profile"]
    if "transparency" in source.info:
        options["transparency"] = source.info["transparency"]
    if pillow_format == "JPEG":
        assert isinstance(source, JpegImagePlugin.JpegImageFile)
        # The source's quantisation tables: re-encoding keeps its quality and about its size.
        options["qtables"] = source.quantization
        sampling = JpegImagePlugin.get_sampling(source)
        if sampling != -1:
            options["subsampling"] = sampling
        options["progressive"] = bool(source.info.get("progressive"))
    elif pillow_format == "WEBP":
        if _webp_is_lossless(data):
            options["lossless"] = True
        else:
            options["quality"] = 90
    elif pillow_format == "TIFF" and source.info.get("compression") not in (None, "raw"):
        options["compression"] = source.info["compression"]
    return options


def _webp_is_lossless(data: bytes) -> bool:
    """Whether the first image chunk of a RIFF WebP is VP8L (lossless)."""
    offset = 12
    while offset + 8 <= len(data):
        chunk = data[offset : offset + 4]
        if chunk in (b"VP8L", b"VP8 "):
            return chunk == b"VP8L"
        if chunk == b"ANMF":  # an animation frame: its image chunk follows its 16-byte header
            offset += 8 + 16
            continue
        size = int.from_bytes(data[offset + 4 : offset + 8], "little")
        offset += 8 + size + (size & 1)
    return False


def _check_clean(data: bytes, pillow_format: str) -> None:
    """Read the result back: no encoder may have carried metadata over."""
    with Image.open(io.BytesIO(data), formats=[pillow_format]) as result:
        for frame in ImageSequence.Iterator(result):
            left = set(_METADATA_KEYS & set(frame.info)) | set(getattr(frame, "text", {}) or {})
            if pillow_format == "TIFF":  # its EXIF is the file's own tags: look for others
                left |= _TIFF_METADATA_TAGS & set(frame.getexif())
            elif frame.getexif():
                left.add("exif")
            if left:
                raise ReencodeError("The image's metadata could not be removed.")
