"""Request bodies in the OpenAPI schema as strict as the serializers that read them, so that
a client generated from the schema, or a fuzzer such as schemathesis, sends only what the
server accepts: a string says what it refuses (blanks, whitespace where the serializer trims
it, NUL characters) with ``minLength`` and ``pattern``, a body that refuses unknown fields is
closed (``additionalProperties: false``), and a serializer adds what its fields cannot say (an
exactly-one-of rule, unique list items) in a ``json_schema`` class attribute.

Imported by ``uploads.api.views``, which registers the extension with drf-spectacular."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.plumbing import force_instance
from rest_framework import serializers


def string_rules(prop: dict[str, Any], field: serializers.CharField) -> None:
    """What a CharField accepts: no NUL character where DRF's validator refuses them, and,
    where it refuses blanks, at least one character that is not whitespace (Python's notion,
    as the serializer strips it) when it trims, or at least one character when it does not."""
    no_nul = any(isinstance(v, ProhibitNullCharactersValidator) for v in field.validators)
    if not field.allow_blank:
        prop.setdefault("minLength", 1)
    if not field.allow_blank and field.trim_whitespace:
        prop.setdefault("pattern", r"^[^\x00]*[^\s\x00][^\x00]*$" if no_nul else r"\S")
    elif no_nul:
        prop.setdefault("pattern", r"^[^\x00]*$")


def tightened(schema: dict[str, Any], serializer: Any) -> dict[str, Any]:
    """``schema`` (a serializer's mapped object) with each writable CharField's rules and
    the serializer's own ``json_schema`` merged in."""
    properties = schema.get("properties", {})
    serializer = force_instance(serializer)
    for name, field in serializer.fields.items():
        if field.read_only or name not in properties:
            continue
        if isinstance(field, serializers.CharField):
            string_rules(properties[name], field)
    return merged(schema, getattr(serializer, "json_schema", {}))


def merged(schema: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(schema.get(key), dict):
            merged(schema[key], value)
        else:
            schema[key] = value
    return schema


class ClosedRequestSchema(OpenApiSerializerExtension):
    """Every request serializer that refuses unknown fields (RejectUnknownFieldsMixin)."""

    target_class = "uploads.api.serializers.RejectUnknownFieldsMixin"
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: str) -> Any:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = False
        return tightened(schema, self.target)


class LogoutRequestSchema(OpenApiSerializerExtension):
    """simplejwt's logout body (uploads.api.views.LogoutView): a non-blank refresh token."""

    target_class = "rest_framework_simplejwt.serializers.TokenBlacklistSerializer"

    def map_serializer(self, auto_schema: Any, direction: str) -> Any:
        return tightened(auto_schema._map_basic_serializer(self.target, direction), self.target)


def require_bodies(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    """A drf-spectacular postprocessing hook: a request body whose schema needs at least one
    property (``minProperties``) is required, which drf-spectacular infers only from
    ``required`` properties (a PATCH naming exactly one of several fields has none)."""
    components = result.get("components", {}).get("schemas", {})
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if not body:
                continue
            for media in body.get("content", {}).values():
                ref = media.get("schema", {}).get("$ref", "")
                if components.get(ref.rsplit("/", 1)[-1], {}).get("minProperties"):
                    body["required"] = True
    return result
