"""Small previews of image uploads for the admin, made from the stored object with Pillow.

A list of fifty 50 MB photos scaled down by CSS would download 2.5 GB; a thumbnail is a few
kilobytes. It is made on demand, within the same bounds complete decodes images under (the
read limit, the type's pixel cap), and cached by the upload's verified hash, so that it is
made once per file and never outlives a changed one.
"""

from __future__ import annotations

import io
import warnings

from django.core.cache import caches
from PIL import Image, ImageFile, ImageOps

from uploads import content_types
from uploads.app_settings import app_settings
from uploads.models import Upload
from uploads.signers import SignerError, get_signer

SIZE = 160  # pixels, the longer side: sharp at 80 px on a 2x screen
CACHE_SECONDS = 30 * 24 * 3600
CONTENT_TYPE = "image/webp"


def can_preview(upload: Upload) -> bool:
    content_type = upload.verified_content_type or upload.content_type
    return (
        upload.status == Upload.Status.COMPLETED
        and content_types.pillow_format(content_type) is not None
    )


def cache_key(upload: Upload) -> str:
    return f"uploads:thumbnail:{upload.pk}:{upload.verified_sha256 or upload.verified_size}"


def thumbnail(upload: Upload) -> bytes | None:
    """A WebP of at most SIZE x SIZE pixels, or None when the upload is no image this
    server can decode within its limits (or its storage cannot be read now)."""
    if not can_preview(upload):
        return None
    cache = caches[app_settings.CACHE_ALIAS]
    key = cache_key(upload)
    cached = cache.get(key)
    if isinstance(cached, bytes):
        return cached
    made = _make(upload)
    if made is not None:
        cache.set(key, made, CACHE_SECONDS)
    return made


def _make(upload: Upload) -> bytes | None:
    limit = app_settings.VERIFY_READ_LIMIT
    if upload.verified_size is not None and upload.verified_size > limit:
        return None
    pillow_format = content_types.pillow_format(upload.verified_content_type or upload.content_type)
    assert pillow_format is not None  # can_preview
    try:
        data = get_signer(upload.storage).read_head(upload.key, limit + 1)
    except SignerError:
        return None
    if not data or len(data) > limit or ImageFile.LOAD_TRUNCATED_IMAGES:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[pillow_format]) as image:
                width, height = image.size
                if width * height > upload.policy.max_pixels:
                    return None
                image.draft("RGB", (SIZE, SIZE))  # JPEG: decode at a fraction of the size
                small = ImageOps.exif_transpose(image)
                small.thumbnail((SIZE, SIZE))
                if small.mode not in ("RGB", "RGBA"):
                    small = small.convert("RGBA")
                out = io.BytesIO()
                small.save(out, "WEBP", quality=80)
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError, EOFError):
        return None
    return out.getvalue()
