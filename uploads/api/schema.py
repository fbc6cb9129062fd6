"""How the OpenAPI schema describes the API's answers: every success body as the envelope
around its data, every error status with the error envelope and the codes it carries.
``operation()`` builds one view method's ``extend_schema`` from those parts, so a view states
only its data, its errors and its words."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers

F = TypeVar("F", bound=Callable[..., Any])

SUCCESS_TEXT = {
    200: "Done: the data in the success envelope",
    201: "Created: the new thing in the success envelope",
    202: "Accepted: the check runs in the background; poll the upload until it settles",
}
#: What each error status means and the codes it carries, for every operation alike; an
#: operation adds its own codes beside these.
STATUS_TEXT = {
    400: "The request is not valid",
    401: "No valid credential (a missing, expired, revoked or unknown token or key)",
    403: "The credential lacks the scope this operation needs",
    404: "Nothing of the caller's has this identifier",
    409: "The upload is not in a state that allows this",
    410: "The upload's URL expired before it was completed",
    413: "The request body is larger than the server reads",
    415: "The body is not application/json",
    422: "The stored file is not what was declared; it has been deleted",
    429: "Too many requests; Retry-After says when to try again",
    500: "An unexpected error on the server's side (logged with the correlationId)",
    503: "Storage or a service is unavailable or not configured; retry after Retry-After",
}
BASE_CODES = {
    400: ["validation.failed"],
    401: ["auth.unauthorized"],
    403: ["auth.forbidden"],
    413: ["request.too_large"],
    415: ["validation.unsupported_media_type"],
    429: ["rate_limited"],
    500: ["server.error"],
}
#: Every authenticated operation may answer these.
AUTHENTICATED: dict[int, list[str]] = {401: [], 403: [], 500: []}
#: And every operation that reads a JSON body these.
WITH_BODY: dict[int, list[str]] = {400: [], 413: [], 415: []}
STORAGE = {503: ["storage.unavailable", "service.unavailable", "upload.not_configured"]}
#: What completing an upload may answer: complete itself, and any field that completes a
#: pending upload it is given (uploads.api.fields.UploadField).
COMPLETING: dict[int, list[str]] = {
    404: ["upload.not_found"],
    409: ["upload.not_uploaded", "upload.parts_missing", "upload.invalid_state"],
    410: ["upload.expired"],
    422: ["upload.verification_failed"],
}


class RequestMetaSerializer(serializers.Serializer):
    requestId = serializers.CharField(help_text="Also in the X-Request-ID header.")


class PaginationSerializer(serializers.Serializer):
    page = serializers.IntegerField()
    pageSize = serializers.IntegerField()
    total = serializers.IntegerField()
    totalPages = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class PaginatedMetaSerializer(RequestMetaSerializer):
    pagination = PaginationSerializer()


class RateLimitSerializer(serializers.Serializer):
    limit = serializers.IntegerField()
    remaining = serializers.IntegerField()
    reset = serializers.IntegerField(help_text="When the window starts again, as a Unix time.")


class RateLimitedMetaSerializer(RequestMetaSerializer):
    rateLimit = RateLimitSerializer()


class ErrorDetailSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="The field at fault (dotted), or body.")
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable: see each status.")
    message = serializers.CharField(help_text="For people, in English.")
    i18nKey = serializers.CharField(help_text="error.<code>, for a translated message.")
    i18nVars = serializers.DictField(help_text="Values the message names.")
    details = serializers.ListField(
        child=serializers.JSONField(), help_text="Per field, for validation.failed."
    )
    correlationId = serializers.CharField(help_text="The request's X-Request-ID.")


class ErrorEnvelopeSerializer(serializers.Serializer):
    success = serializers.BooleanField(help_text="Always false.")
    error = ErrorSerializer()


#: A success answer: (name, data) or (name, data, meta serializer) for an envelope, or a
#: serializer as it is.
Answer = (
    tuple[str, serializers.Field]
    | tuple[str, serializers.Field, type[serializers.Serializer]]
    | serializers.Serializer
)

_envelopes: dict[str, type[serializers.Serializer]] = {}


def envelope(
    name: str,
    data: serializers.Field,
    meta: type[serializers.Serializer] = RequestMetaSerializer,
) -> serializers.Serializer:
    """The success envelope around ``data``, a schema component named ``<name>Envelope``
    (built once, so every operation answering it shares the component)."""
    component = f"{name}Envelope"
    if component not in _envelopes:
        _envelopes[component] = type(
            component,
            (serializers.Serializer,),
            {
                "success": serializers.BooleanField(help_text="Always true."),
                "data": data,
                "meta": meta(),
                "__module__": __name__,
            },
        )
    return _envelopes[component]()


def _error_response(status: int, codes: Iterable[str]) -> OpenApiResponse:
    codes = list(dict.fromkeys(codes))
    return OpenApiResponse(
        response=ErrorEnvelopeSerializer,
        description=f"{STATUS_TEXT[status]}. Codes: " + ", ".join(f"`{c}`" for c in codes) + ".",
        examples=[
            OpenApiExample(
                code,
                value={
                    "success": False,
                    "error": {
                        "code": code,
                        "message": STATUS_TEXT[status] + ".",
                        "i18nKey": f"error.{code}",
                        "i18nVars": {},
                        "details": [],
                        "correlationId": "3f1c9a0e5b7d4c2a8e6f1b0d9c7a5e3f",
                    },
                },
                status_codes=[str(status)],
                response_only=True,
            )
            for code in codes
        ],
    )


def operation(
    *,
    tag: str,
    summary: str,
    description: str,
    ok: Mapping[int, Answer],
    errors: Iterable[Mapping[int, list[str]]] = (),
    **kwargs: Any,
) -> Callable[[F], F]:
    """``extend_schema`` for one operation: ``ok`` maps each success status to its envelope
    (or ``(name, data field)`` for a plain one), ``errors`` the error statuses (merged, with
    the codes each adds to its status's usual ones)."""
    responses: dict[int, Any] = {
        status: OpenApiResponse(
            response=envelope(*answer) if isinstance(answer, tuple) else answer,
            description=SUCCESS_TEXT[status],
        )
        for status, answer in ok.items()
    }
    merged: dict[int, list[str]] = {}
    for group in errors:
        for status, codes in group.items():
            merged.setdefault(status, list(BASE_CODES.get(status, []))).extend(codes)
    for status in sorted(merged):
        responses[status] = _error_response(status, merged[status])
    return extend_schema(
        tags=[tag], summary=summary, description=description, responses=responses, **kwargs
    )


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="Send as `Authorization: Bearer <access>`.")
    refresh = serializers.CharField(help_text="For /auth/token/refresh and /auth/logout.")


class AccessTokenSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField(
        required=False, help_text="The refresh token to use next, when tokens rotate."
    )


def empty_object() -> serializers.DictField:
    return serializers.DictField(help_text="An empty object.")
