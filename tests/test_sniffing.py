"""uploads.sniffing finds what puremagic.magic_string finds (its most confident MIME types), for
every signature puremagic knows, wherever it sits, and for real and malformed files."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest
from PIL import Image
from puremagic import main as tables

from tests.conftest import make_png
from uploads import sniffing

#: puremagic's own answer: its scan of every signature.
puremagic_answer = sniffing.scanned


def test_a_puremagic_without_the_tables_is_asked_by_its_own_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A release of puremagic that lays out its tables otherwise: the grouping gives up and
    puremagic's scan answers, the same answers."""
    with monkeypatch.context() as patched:
        patched.delattr(tables, "multi_part_dict")
        assert sniffing._grouped() is None
    monkeypatch.setattr(sniffing, "_HEADERS", None)
    for data in (image("PNG"), b"%PDF-1.7\n", b"", b"\x00" * 40):
        assert sniffing.most_likely(data) == puremagic_answer(data)


def image(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, fmt)
    return out.getvalue()


def with_signature(row: Any, filler: bytes) -> bytes:
    """Bytes holding ``row``'s signature where it sits (a footer's at the end)."""
    if row.offset < 0:
        return filler * 64 + row.byte_match + filler * (-row.offset - len(row.byte_match))
    return filler * row.offset + row.byte_match + filler * 64


def test_every_signature_puremagic_knows_is_found_as_it_finds_it() -> None:
    rows = [*tables.magic_header_array, *tables.magic_footer_array]
    rows += [part for parts in tables.multi_part_dict.values() for part in parts]
    checked = 0
    for row in rows:
        for filler in (b"\x00", b" ", b"\xff"):
            data = with_signature(row, filler)
            assert sniffing.most_likely(data) == puremagic_answer(data), (row, filler)
            checked += 1
    assert checked > 4000


def test_two_part_signatures_are_found_whole() -> None:
    for first, parts in tables.multi_part_dict.items():
        for part in parts:
            if part.offset < 0:
                data = first + b" " * 40 + part.byte_match
            else:
                data = bytearray(first + b" " * (part.offset + len(part.byte_match)))
                data[part.offset : part.offset + len(part.byte_match)] = part.byte_match
                data = bytes(data)
            assert sniffing.most_likely(data) == puremagic_answer(data), (first, part)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF"])
def test_images_are_recognised_as_puremagic_recognises_them(fmt: str) -> None:
    data = image(fmt)
    assert sniffing.most_likely(data) == puremagic_answer(data) != set()


def test_cut_short_random_and_empty_bytes_agree() -> None:
    rng = random.Random(19)
    samples = [b"", b"\x89", make_png(2, 2)[:5], b'{"a": 1}', b"%PDF-1.7\n", b"<svg></svg>"]
    samples += [rng.randbytes(rng.randrange(1, 600)) for _ in range(300)]
    for data in samples:
        assert sniffing.most_likely(data) == puremagic_answer(data), data[:40]
