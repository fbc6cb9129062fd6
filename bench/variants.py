"""Variants per second for a 12-megapixel JPEG, with Pillow (what the app uses,
``uploads.variant_images.render``) and with pyvips (libvips' ``thumbnail_buffer``).

    python bench/variants.py [--seconds 10] [--rounds 3]

Each engine makes the two specs of the issue from the same bytes, decode included, one at a
time in this process (the work one task does): ``thumb`` 160 x 160 crop WebP q80 and
``large`` 1600 x 1600 fit JPEG q85, both upright and without metadata. The photo is made
here: 4000 x 3000 pixels of smooth gradients and noise (so that it compresses like a
photo, not like a flat colour), saved as a JPEG at quality 90 with an EXIF orientation.
Prints the median variants per second of ``--rounds`` rounds of ``--seconds`` each.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from uploads.variant_images import Recipe, render  # noqa: E402

WIDTH, HEIGHT = 4000, 3000
MAX_PIXELS = 40_000_000  # the types' default cap
SPECS = {
    "thumb": Recipe(160, 160, "crop", "webp", 80),
    "large": Recipe(1600, 1600, "fit", "jpeg", 85),
}


def photo() -> bytes:
    """A 12-megapixel JPEG that compresses like a photo (about 3-4 MB at quality 90)."""
    gradient = Image.linear_gradient("L").resize((WIDTH, HEIGHT))
    noise = Image.frombytes("L", (WIDTH, HEIGHT), os.urandom(WIDTH * HEIGHT)).point(
        lambda v: v // 4
    )
    red = Image.blend(gradient, noise, 0.3)
    green = gradient.rotate(90, expand=False).resize((WIDTH, HEIGHT))
    blue = Image.blend(gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), noise, 0.5)
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    Image.merge("RGB", (red, green, blue)).save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def pillow_engine(name: str) -> Callable[[bytes], bytes]:
    recipe = SPECS[name]
    return lambda data: render(data, "JPEG", recipe, MAX_PIXELS).data


def pyvips_engine(name: str) -> Callable[[bytes], bytes]:
    import pyvips

    recipe = SPECS[name]
    # libvips 8.15 replaced "strip" with "keep"; both drop every piece of metadata.
    drop = {"keep": "none"} if pyvips.at_least_libvips(8, 15) else {"strip": True}

    def make(data: bytes) -> bytes:
        options = {"height": recipe.height}
        if recipe.fit == "crop":
            options["crop"] = "centre"
        else:
            options["size"] = "down"
        image = pyvips.Image.thumbnail_buffer(data, recipe.width, **options)  # autorotates
        if recipe.format == "webp":
            return bytes(image.webpsave_buffer(Q=recipe.quality, **drop))
        return bytes(image.jpegsave_buffer(Q=recipe.quality, **drop))

    return make


def rate(make: Callable[[bytes], bytes], data: bytes, seconds: float) -> float:
    make(data)  # warm: imports, codecs
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        make(data)
        done += 1
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = photo()
    print(f"{WIDTH} x {HEIGHT} JPEG, {len(data) / 1e6:.1f} MB, {os.cpu_count()} CPUs")
    engines = {"Pillow": pillow_engine}
    try:
        import pyvips

        engines["pyvips"] = pyvips_engine
        print(
            f"Pillow {Image.__version__}, pyvips {pyvips.__version__} (libvips "
            f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)})"
        )
    except (ImportError, OSError) as err:
        print(f"pyvips unavailable ({err}): Pillow only")
    print(f"{'spec':<8}{'engine':<8}{'variants/s':>12}{'ms each':>10}")
    for spec in SPECS:
        for engine, build in engines.items():
            make = build(spec)
            rates = [rate(make, data, args.seconds) for _ in range(args.rounds)]
            median = statistics.median(rates)
            print(f"{spec:<8}{engine:<8}{median:>12.2f}{1000 / median:>10.0f}")


if __name__ == "__main__":
    main()
