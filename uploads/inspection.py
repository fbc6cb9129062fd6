"""Deeper checks of a stored object's bytes than its magic bytes: images are decoded
(within a pixel cap) and text is refused where a browser would take it for a document.

Each check returns why the bytes are refused, or None when they pass.
"""

from __future__ import annotations

import io
import json
import re
import warnings

from PIL import Image, ImageFile, UnidentifiedImageError

# What a browser's MIME sniffing (WHATWG "rules for identifying an unknown MIME type")
# takes for HTML or XML: one of these tags at the start, after whitespace, followed by a
# space or ">". A text file served with a sniffable type must never start so.
_MARKUP = re.compile(
    rb"^[\t\n\x0c\r ]*<(?:!doctype html|html|head|script|iframe|h1|div|font|table|a|style"
    rb"|title|b|body|br|p|svg|object|embed|meta|link|form|img|xml|\?xml|!--)"
    rb"(?:[\t\n\x0c\r />]|$)",
    re.IGNORECASE,
)
_BOM = b"\xef\xbb\xbf"


def image_problem(data: bytes, pillow_format: str, max_pixels: int) -> str | None:
    """Decode the image's header as ``pillow_format`` only; refuse it when larger than
    ``max_pixels`` (before any pixel is allocated), then decode its pixels to find a
    truncated or corrupt file."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # A project setting this would make Pillow pad a cut-off image instead of failing.
        return "Images cannot be verified while PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set."
    formats = [pillow_format]
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb limit is a process-wide setting; the policy's cap decides.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=formats) as image:
                width, height = image.size
                if width * height > max_pixels:
                    return (
                        f"The image is {width} x {height} pixels, over the limit of "
                        f"{max_pixels} pixels."
                    )
                image.load()
    except Image.DecompressionBombError:
        # Pillow refuses at open past twice its own limit, which may be below the type's cap.
        limit = min(max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or 0)) or max_pixels
        return f"The image is over the limit of {limit} pixels."
    except UnidentifiedImageError:
        return f"The file is not a readable {pillow_format} image."
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as err:
        # Pillow reports truncated and corrupt data through all of these.
        return f"The image is truncated or corrupt ({type(err).__name__})."
    return None


def looks_like_markup(head: bytes) -> bool:
    """Whether a browser sniffing these bytes would render them as HTML or XML."""
    return bool(_MARKUP.match(head.removeprefix(_BOM)))


def text_problem(head: bytes) -> str | None:
    if looks_like_markup(head):
        return "The file starts like an HTML or XML document, not plain text."
    return None


def json_problem(data: bytes) -> str | None:
    """The whole document must be one valid JSON value in UTF-8."""
    try:
        json.loads(data.removeprefix(_BOM).decode("utf-8"))
    except UnicodeDecodeError:
        return "The file is not UTF-8 text."
    except RecursionError:
        return "The JSON document is nested too deeply to check."
    except ValueError as err:
        return f"The file is not valid JSON ({err})."
    return None
