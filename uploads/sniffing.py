"""The file types the magic-byte library (puremagic) is most confident of for some bytes: its
answer, found from its own tables by lookup. ``puremagic.magic_string`` compares the bytes
with each of its signatures in turn (about 1,400, a millisecond a call); here they are grouped
by where they sit and how long they are, so that the bytes are sliced once per group (about
140) and each slice looked up. tests/test_sniffing.py holds both answers equal."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import puremagic
from puremagic import main as _magic

Signature = Any  # puremagic's PureMagic rows


def _grouped() -> dict[tuple[int, int], dict[bytes, list[Signature]]] | None:
    """puremagic's header signatures by (offset, length); None where a release of puremagic
    lays out its tables otherwise (its own scan answers then)."""
    tables = ("magic_header_array", "magic_footer_array", "multi_part_dict", "max_head", "max_foot")
    if not all(hasattr(_magic, name) for name in tables):
        return None
    grouped: dict[tuple[int, int], dict[bytes, list[Signature]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for row in _magic.magic_header_array:
        grouped[row.offset, len(row.byte_match)][row.byte_match].append(row)
    return grouped


_HEADERS = _grouped()


def most_likely(data: bytes) -> set[str]:
    """The MIME types of puremagic's most confident matches for ``data`` (as
    ``magic_string(data)``, whose highest confidence they share); none for no bytes or no
    match."""
    if not data:
        return set()
    if _HEADERS is None:
        return scanned(data)
    head, foot = data[: _magic.max_head], data[-_magic.max_foot :]
    matches = [
        row
        for (offset, length), rows in _HEADERS.items()
        if offset + length <= len(head)
        for row in rows.get(head[offset : offset + length], ())
    ]
    matches += [row for row in _magic.magic_footer_array if _tail(foot, row) == row.byte_match]
    matches += set(_parts(matches, head, foot))
    if not matches:
        return set()
    confidence = {row: _confidence(row) for row in matches}
    best = max(confidence.values())
    return {row.mime_type for row, found in confidence.items() if found == best}


def _parts(matches: list[Signature], head: bytes, foot: bytes) -> Iterable[Signature]:
    """Signatures in two parts whose first part matched (puremagic's ``multi_part_dict``):
    whole where the second matches too, as puremagic counts them."""
    for first in matches:
        for second in _magic.multi_part_dict.get(first.byte_match, ()):
            if second.offset < 0:
                if _tail(foot, second) == second.byte_match:
                    yield second._replace(byte_match=first.byte_match + second.byte_match)
            else:
                end = second.offset + len(second.byte_match)
                if end <= len(head) and head[second.offset : end] == second.byte_match:
                    yield second._replace(byte_match=head[first.offset : end])


def _tail(foot: bytes, row: Signature) -> bytes:
    end = row.offset + len(row.byte_match)
    return foot[row.offset : end] if end != 0 else foot[row.offset :]


def _confidence(row: Signature) -> float:
    """puremagic's: by the signature's length, 0.8 from 8 bytes up."""
    length = len(row.byte_match)
    return 0.8 if length >= 9 else float(f"0.{length}")


def scanned(data: bytes) -> set[str]:
    """``most_likely`` by puremagic's own scan of every signature (a millisecond a call)."""
    try:
        matches = puremagic.magic_string(data)
    except (puremagic.PureError, ValueError):
        return set()
    best = max((m.confidence for m in matches), default=0)
    return {m.mime_type for m in matches if m.confidence == best}
