"""Making one variant's bytes from a verified image, with Pillow: decoded under the type's
pixel cap, turned upright by its EXIF orientation, scaled (fit within, or cropped to, the
declared size) and written in the declared format without any metadata (no EXIF, XMP,
comments, text chunks or colour profile: the pixels are
converted to sRGB instead).
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, features

ORIENTATION = 0x0112  # the EXIF tag
#: The largest side a declaration may ask for.
MAX_SIDE = 10_000

#: Declared format -> (Pillow's name, content type, the Pillow feature that writes it).
FORMATS: dict[str, tuple[str, str, str | None]] = {
    "webp": ("WEBP", "image/webp", "webp"),
    "jpeg": ("JPEG", "image/jpeg", "jpg"),
    "png": ("PNG", "image/png", None),
    "avif": ("AVIF", "image/avif", "avif"),
}


def formats() -> list[str]:
    """The declared formats this server's Pillow can write."""
    return [name for name, (_, _, feature) in FORMATS.items() if not feature or _has(feature)]


def _has(feature: str) -> bool:
    return bool(features.check(feature))


def content_type_of(fmt: str) -> str:
    return FORMATS[fmt][1]


def extension_of(fmt: str) -> str:
    return "jpg" if fmt == "jpeg" else fmt


@dataclass(frozen=True)
class Recipe:
    width: int
    height: int
    fit: str  # "crop" or "fit"
    format: str  # a key of FORMATS
    quality: int


@dataclass(frozen=True)
class Rendered:
    data: bytes
    width: int
    height: int
    content_type: str


class VariantError(Exception):
    """The variant cannot be made; the message says why, for the operator."""


def render(data: bytes, pillow_format: str, recipe: Recipe, max_pixels: int) -> Rendered:
    """The variant of the image ``data`` (of ``pillow_format``) that ``recipe`` declares.
    Raises VariantError, naming the check that refused."""
    if recipe.format not in formats():
        raise VariantError(f"This server cannot write {recipe.format} images.")
    with warnings.catch_warnings():
        # The type's cap decides, not Pillow's process-wide limit.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[pillow_format]) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise VariantError(
                        f"The image has {width} x {height} pixels, over the type's limit of "
                        f"{max_pixels} pixels."
                    )
                # JPEG: decode at a fraction of the size where the result allows it.
                image.draft("RGB", _draft_size(image, recipe))
                small = _in_srgb(_scaled(ImageOps.exif_transpose(image), recipe))
                out = _encoded(small, recipe)
        except VariantError:
            raise
        except (Image.DecompressionBombError, OSError, SyntaxError, ValueError, EOFError) as err:
            raise VariantError(f"The image could not be decoded ({type(err).__name__}).") from err
    return Rendered(out, small.width, small.height, content_type_of(recipe.format))


def _draft_size(image: Image.Image, recipe: Recipe) -> tuple[int, int]:
    """The smallest decoded size (as stored, before the EXIF turn) that still covers the
    result: for a crop, the side that is cut must still fill its box."""
    width, height = image.size
    turned = image.getexif().get(ORIENTATION, 1) in (5, 6, 7, 8)
    shown_width, shown_height = (height, width) if turned else (width, height)
    ratios = (recipe.width / shown_width, recipe.height / shown_height)
    scale = min(1.0, max(ratios) if recipe.fit == "crop" else min(ratios))
    return (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale)))


def _scaled(image: Image.Image, recipe: Recipe) -> Image.Image:
    box = (recipe.width, recipe.height)
    if recipe.fit == "fit":
        image = image.copy()
        image.thumbnail(box, Image.Resampling.LANCZOS)  # never enlarges
        return image
    # Crop: the middle of the image in the box's proportions, scaled to exactly the box.
    width, height = image.size
    scale = max(box[0] / width, box[1] / height)
    cut_width, cut_height = box[0] / scale, box[1] / scale
    left, top = (width - cut_width) / 2, (height - cut_height) / 2
    return image.resize(
        box,
        Image.Resampling.LANCZOS,
        box=(left, top, left + cut_width, top + cut_height),
        reducing_gap=3.0,
    )


def _in_srgb(image: Image.Image) -> Image.Image:
    """The pixels converted to sRGB when the image carries another colour profile: the
    variant carries none, and a browser shows an untagged image as sRGB."""
    profile = image.info.get("icc_profile")
    if not profile or image.mode not in ("RGB", "RGBA"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        converted = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"))
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # a profile that cannot be read: the pixels as they are
    return converted if converted is not None else image


def _encoded(image: Image.Image, recipe: Recipe) -> bytes:
    pillow_name = FORMATS[recipe.format][0]
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if pillow_name == "JPEG":
        if has_alpha:
            image = image.convert("RGBA")
            flat = Image.new("RGB", image.size, (255, 255, 255))
            flat.paste(image, mask=image.getchannel("A"))
            image = flat
        elif image.mode != "RGB":
            image = image.convert("RGB")
    elif image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if has_alpha else "RGB")
    # Nothing of the source's info reaches the encoder: no EXIF, ICC, XMP or text.
    image.info = {}
    options: dict[str, object] = {}
    if pillow_name != "PNG":
        options["quality"] = recipe.quality
    if pillow_name == "PNG":
        options["optimize"] = True
    out = io.BytesIO()
    image.save(out, pillow_name, **options)
    return out.getvalue()
