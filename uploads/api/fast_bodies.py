"""A flat request serializer's checks, compiled once into plain functions for a hot path.

``FastBody(PresignRequestSerializer).validate(data)`` gives what the serializer's
``validated_data`` would be for a plainly good body, or None for anything else: the view
then runs the serializer, which stays the one source of the schema and of every error. So a
body this accepts must be one the serializer accepts with the same data; a body it sends
back can be anything (tests/test_fast_bodies.py holds the two together on a table of
bodies). Each field's limits are read from the serializer's own field, and a field or
validator it does not know is refused when the serializer is compiled, not skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator
from rest_framework import serializers
from rest_framework.fields import CharField, Field, JSONField, empty
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from uploads.api.serializers import (
    RejectUnknownFieldsMixin,
    StrictBooleanField,
    StrictCharField,
)


class Defer(Exception):
    """The serializer decides this body."""


Check = Callable[[Any], Any]


def _text(field: CharField) -> Check:
    max_length: int | None = None
    refuse_nul = False
    for validator in field.validators:
        if isinstance(validator, MaxLengthValidator):
            max_length = validator.limit_value  # type: ignore[assignment]
        elif isinstance(validator, ProhibitNullCharactersValidator):
            refuse_nul = True
        elif not isinstance(validator, ProhibitSurrogateCharactersValidator):
            raise TypeError(f"{field.field_name}: no fast check for {validator!r}")
    if field.min_length is not None:
        raise TypeError(f"{field.field_name}: no fast check for min_length")
    trim, allow_blank = field.trim_whitespace, field.allow_blank

    def check(value: Any) -> str:
        # Strings only: the strict fields refuse the numbers CharField would take.
        if type(value) is not str:
            raise Defer
        text = value.strip() if trim else value
        if not text:
            if allow_blank:
                return ""
            raise Defer
        if max_length is not None and len(text) > max_length:
            raise Defer
        if refuse_nul and "\x00" in text:
            raise Defer
        if not text.isascii():
            try:
                text.encode()  # fails exactly on a surrogate, which the field refuses
            except UnicodeEncodeError:
                raise Defer from None
        return text

    return check


def _json_scalar(value: Any) -> Any:
    # Any JSON passes serializers.JSONField; a string, integer, boolean or null always
    # encodes, so the field's json.dumps is needed only for the rest (left to it).
    if value is None or type(value) in (str, int, bool):
        return value
    raise Defer


def _boolean(value: Any) -> bool:
    if type(value) is not bool:
        raise Defer
    return value


def _check_for(field: serializers.Field) -> Check:
    kind = type(field)
    known: dict[Any, tuple[Any, Check | None]] = {
        StrictCharField.to_internal_value: (CharField.run_validation, None),
        JSONField.to_internal_value: (Field.run_validation, _json_scalar),
        StrictBooleanField.to_internal_value: (Field.run_validation, _boolean),
    }
    run_validation, check = known.get(kind.to_internal_value, (None, None))
    if (
        run_validation is None
        or kind.run_validation is not run_validation
        or kind.validate_empty_values is not Field.validate_empty_values
        or kind.get_value not in (Field.get_value, JSONField.get_value)
        or (field.validators and not isinstance(field, CharField))
        or (isinstance(field, JSONField) and field.binary)
    ):
        raise TypeError(f"{field.field_name}: no fast check for {kind.__name__}")
    if check is None:
        assert isinstance(field, CharField)
        check = _text(field)
    if not field.allow_null:
        return check
    nonnull = check

    def nullable(value: Any) -> Any:
        return None if value is None else nonnull(value)

    return nullable


class FastBody:
    """A flat serializer's checks, for bodies that pass them plainly (see the module)."""

    def __init__(self, serializer_class: type[serializers.Serializer]) -> None:  # type: ignore[type-arg]
        serializer = serializer_class()
        base = serializers.Serializer
        if (
            serializer_class.validate is not base.validate
            or serializer_class.run_validation is not base.run_validation
            or serializer_class.to_internal_value
            not in (base.to_internal_value, RejectUnknownFieldsMixin.to_internal_value)
            or serializer.validators
        ):
            raise TypeError(f"{serializer_class.__name__}: no fast check for its own checks")
        self.required: list[tuple[str, Check]] = []
        self.optional: list[tuple[str, Check]] = []
        for name, field in serializer.fields.items():
            if hasattr(serializer_class, f"validate_{name}") or field.source != name:
                raise TypeError(f"{serializer_class.__name__}.{name}: no fast check")
            if field.read_only or (not field.required and field.default is not empty):
                raise TypeError(f"{serializer_class.__name__}.{name}: no fast check")
            (self.required if field.required else self.optional).append((name, _check_for(field)))
        self.names = frozenset(serializer.fields)

    def validate(self, data: Any) -> dict[str, Any] | None:
        """The serializer's validated_data for ``data``, or None: ask the serializer."""
        if type(data) is not dict or not self.names.issuperset(data):
            return None
        try:
            valid = {name: check(data[name]) for name, check in self.required}
            for name, check in self.optional:
                if name in data:
                    valid[name] = check(data[name])
        except (Defer, KeyError):
            return None
        return valid
