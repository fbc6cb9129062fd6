"""Presign checks its body by a compiled fast path (uploads.api.fast_bodies) and asks the
serializer only when that path declines: the two must never disagree. On a table of good and
bad bodies, whatever the fast path accepts the serializer accepts with the same data, what
the serializer refuses the fast path declines (so its errors, codes and fields are the
serializer's), and plain good bodies do take the fast path."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework import serializers

from uploads.api.fast_bodies import FastBody
from uploads.api.serializers import (
    PartsRequestSerializer,
    PresignRequestSerializer,
    StrictCharField,
)

BASE = {"type": "avatar", "contentType": "image/png"}

# Bodies the fast path must take itself (and the serializer accepts).
PLAIN = [
    BASE,
    {**BASE, "size": 48213, "fileName": "me.png"},
    {**BASE, "size": None, "sha256": None},
    {**BASE, "size": 0, "fileName": ""},
    {**BASE, "size": -1},
    {**BASE, "size": "12", "sha256": 5},
    {**BASE, "size": True, "sha256": False},
    {**BASE, "size": 10**30},
    {**BASE, "sha256": "A" * 43 + "="},
    {**BASE, "sha256": ""},
    {**BASE, "sha256": "not base64 \x00 \ud800"},
    {**BASE, "multipart": True, "size": 10},
    {**BASE, "multipart": False},
    {"type": "  avatar\t", "contentType": " image/png "},
    {"type": "\x1cavatar\x1f", "contentType": "image/png"},
    {**BASE, "fileName": "  spaced name.png  "},
    {**BASE, "fileName": "   "},
    {**BASE, "fileName": "résumé – 2024.pdf"},
    {**BASE, "fileName": "名前.png"},
    {**BASE, "fileName": "x" * 4096},
    {**BASE, "fileName": " " + "x" * 4096 + " "},
    {"type": "t" * 64, "contentType": "c" * 255},
    {"type": "ñ", "contentType": "image/ñ"},
    {"type": "passport", "contentType": "text/html"},
]

# Bodies the serializer accepts, which the fast path may leave to it.
OTHER_GOOD = [
    {**BASE, "size": 1.5},
    {**BASE, "size": [1, 2], "sha256": {"a": [None]}},
    {**BASE, "size": 5.0},
    {**BASE, "fileName": "a\x00b.png"},
]

# Bodies the serializer refuses: the fast path must decline every one.
BAD: list[Any] = [
    None,
    [],
    [BASE],
    "avatar",
    5,
    True,
    {},
    {"type": "avatar"},
    {"contentType": "image/png"},
    {**BASE, "unknown": 1},
    {**BASE, "Type": "avatar"},
    {**BASE, "type": None},
    {**BASE, "type": 5},
    {**BASE, "type": 5.5},
    {**BASE, "type": True},
    {**BASE, "type": ["avatar"]},
    {**BASE, "type": {"name": "avatar"}},
    {**BASE, "type": ""},
    {**BASE, "type": "   "},
    {**BASE, "type": "t" * 65},
    {**BASE, "type": " " + "t" * 65 + " "},
    {**BASE, "type": "ava\x00tar"},
    {**BASE, "type": "ava\ud800tar"},
    {**BASE, "contentType": None},
    {**BASE, "contentType": ""},
    {**BASE, "contentType": 7},
    {**BASE, "contentType": "c" * 256},
    {**BASE, "contentType": "image/png\x00"},
    {**BASE, "contentType": "image/\udfff"},
    {**BASE, "fileName": None},
    {**BASE, "fileName": 5},
    {**BASE, "fileName": ["a.png"]},
    {**BASE, "fileName": "x" * 4097},
    {**BASE, "fileName": "a\ud83dpng"},
    {**BASE, "multipart": None},
    {**BASE, "multipart": "true"},
    {**BASE, "multipart": 1},
    {**BASE, "multipart": 0},
    {**BASE, "type": "", "contentType": None, "extra": 1},
]


def serializer_answer(body: Any) -> tuple[bool, Any]:
    serializer = PresignRequestSerializer(data=body)
    if serializer.is_valid():
        return True, dict(serializer.validated_data)
    return False, serializer.errors


@pytest.fixture(scope="module")
def fast() -> FastBody:
    return FastBody(PresignRequestSerializer)


@pytest.mark.parametrize("body", PLAIN, ids=repr)
def test_plain_good_bodies_take_the_fast_path_with_the_serializers_data(
    fast: FastBody, body: Any
) -> None:
    valid, expected = serializer_answer(body)
    assert valid, expected
    assert fast.validate(body) == expected


@pytest.mark.parametrize("body", OTHER_GOOD, ids=repr)
def test_other_good_bodies_agree_or_go_to_the_serializer(fast: FastBody, body: Any) -> None:
    valid, expected = serializer_answer(body)
    assert valid, expected
    assert fast.validate(body) in (None, expected)


@pytest.mark.parametrize("body", BAD, ids=repr)
def test_bad_bodies_go_to_the_serializer(fast: FastBody, body: Any) -> None:
    valid, errors = serializer_answer(body)
    assert not valid
    assert fast.validate(body) is None


def test_a_field_the_fast_path_does_not_know_is_refused_when_compiled() -> None:
    class Lengthy(serializers.Serializer):  # type: ignore[type-arg]
        name = StrictCharField(min_length=2)

    class Checked(serializers.Serializer):  # type: ignore[type-arg]
        name = StrictCharField()

        def validate_name(self, value: str) -> str:
            return value

    class Coerced(serializers.Serializer):  # type: ignore[type-arg]
        count = serializers.IntegerField()

    for serializer_class in (Lengthy, Checked, Coerced, PartsRequestSerializer):
        with pytest.raises(TypeError, match="no fast check"):
            FastBody(serializer_class)
