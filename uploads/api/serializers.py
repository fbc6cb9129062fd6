from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from uploads.api.permissions import WRITE, has_scope
from uploads.models import Upload
from uploads.services import public_url
from uploads.services.attach import field_value
from uploads.services.upload_data import upload_data


class StrictCharField(serializers.CharField):
    """A string, and only a string: 5 is not "5"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """true or false, and only those: neither "true" nor 1."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: neither "5" nor 5.5 nor true. 5.0 is 5, as JSON Schema counts it (the
    schema cannot tell them apart, so neither does the server)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, float) and data.is_integer():
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class FileNameField(StrictCharField):
    """A display name: control characters (NUL included) are dropped by the service rather
    than refused here."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators = [
            v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)
        ]


class RejectUnknownFieldsMixin:
    """Unknown fields are errors, listed together with the other fields' errors."""

    def to_internal_value(self, data: Any) -> Any:
        unknown = (
            sorted(str(name) for name in data if name not in self.fields)  # type: ignore[attr-defined]
            if isinstance(data, Mapping)
            else []
        )
        errors: dict[str, Any] = {
            name: ["This field is not part of the request."] for name in unknown
        }
        try:
            value = super().to_internal_value(data)  # type: ignore[misc]
        except serializers.ValidationError as exc:
            if not errors or not isinstance(exc.detail, dict):
                raise
            raise serializers.ValidationError({**exc.detail, **errors}) from exc
        if errors:
            raise serializers.ValidationError(errors)
        return value


# Any JSON passes these two fields: the service checks the value against the type's policy
# and refuses it with its own code (upload.invalid_size, upload.invalid_checksum). The schema
# says what it accepts.
@extend_schema_field({"type": "integer", "minimum": 1})
class DeclaredSizeField(serializers.JSONField):
    pass


@extend_schema_field(
    {
        "type": "string",
        # The base64 of a 32-byte digest, or blank (as good as leaving it out).
        "pattern": r"^([A-Za-z0-9+/]{43}=)?$",
        "description": "The base64 of the file's SHA-256 digest (44 characters).",
    }
)
class DeclaredSha256Field(serializers.JSONField):
    pass


class ShallowFieldsMixin:
    """Each serializer's fields copied from the declared ones shallowly, where DRF deep-copies
    them (rebuilding each field from its arguments): for flat serializers on a hot path, whose
    fields keep no state of their own but their binding."""

    _declared_fields: dict[str, serializers.Field]

    def get_fields(self) -> dict[str, serializers.Field]:
        return {name: copy.copy(field) for name, field in self._declared_fields.items()}


class PresignRequestSerializer(
    ShallowFieldsMixin, RejectUnknownFieldsMixin, serializers.Serializer
):
    type = StrictCharField(max_length=64)
    contentType = StrictCharField(max_length=255, trim_whitespace=False)
    size = DeclaredSizeField(required=False, allow_null=True)
    fileName = FileNameField(required=False, allow_blank=True, max_length=4096)
    sha256 = DeclaredSha256Field(required=False, allow_null=True)
    multipart = StrictBooleanField(
        required=False,
        help_text="Send the file in parts (it needs a size); large files go in parts anyway "
        "when the type sets multipartThreshold.",
    )


# A path (and query) that build_absolute_uri would only prefix with the scheme and host:
# one slash first, no "." or ".." segment, and no character iri_to_uri would quote.
_PLAIN_PATH = re.compile(r"/(?!/)(?!.*/\.\.?/)[A-Za-z0-9\-._~/#%\[\]=:;$&()+,!?*@']*")


def absolute(request: Any, url: str | None) -> str | None:
    """``url`` as an absolute URI on the request's host (a storage's relative URL): what
    ``request.build_absolute_uri(url)`` gives, with the scheme and host found once a
    request for a plain path."""
    if not url:
        return url
    if not _PLAIN_PATH.fullmatch(url):
        return request.build_absolute_uri(url)  # type: ignore[no-any-return]
    http_request = getattr(request, "_request", request)  # DRF's Request wraps Django's
    origin = http_request.__dict__.get("_uploads_origin")
    if origin is None:
        origin = http_request._uploads_origin = f"{request.scheme}://{request.get_host()}"
    return f"{origin}{url}"


def described(upload: Upload, request: Any, *, variants: bool) -> dict[str, Any]:
    """UploadSerializer's answer, built directly: DRF's field-by-field path over the declared
    fields gives the same (a test holds them together) at about a millisecond per upload on
    presign's hot path. The description webhook events carry too, with this request's
    absolute URLs and the caller's own fieldValue; ``variants`` where the answer has them
    (not presign's)."""
    data = upload_data(upload, variants=variants)
    if request:
        data["publicUrl"] = absolute(request, data["publicUrl"])
        if variants:
            data["variants"] = {n: absolute(request, u) for n, u in data["variants"].items()}
    data["fieldValue"] = field_value_for(upload, request)
    return data


def field_value_for(upload: Upload, request: Any) -> str | None:
    """The upload's fieldValue for the caller of ``request``; None for no caller, or one
    whose credential may not write uploads."""
    user = getattr(request, "user", None)
    if request is None or user is None or not user.is_authenticated:
        return None
    if hasattr(request, "auth") and not has_scope(request, WRITE):
        return None  # a capability to attach: not for a credential that only reads
    return field_value(upload.pk, user)


class UploadSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    type = serializers.CharField(source="policy.name")
    status = serializers.CharField(
        help_text="pending, verifying (complete accepted it; a background check settles it), "
        "completed, rejected or expired."
    )
    key = serializers.CharField()
    contentType = serializers.SerializerMethodField()
    size = serializers.SerializerMethodField()
    sha256 = serializers.SerializerMethodField()
    fileName = serializers.CharField(source="file_name")
    publicUrl = serializers.SerializerMethodField()
    expiresAt = serializers.DateTimeField(source="expires_at")
    createdAt = serializers.DateTimeField(source="created_at")
    completedAt = serializers.DateTimeField(source="completed_at", allow_null=True)
    rejectionReason = serializers.CharField(source="rejection_reason")
    width = serializers.IntegerField(
        allow_null=True,
        help_text="An image's or video's width in pixels as stored (an image's EXIF "
        "rotation not applied; a type that strips metadata stores it upright), recorded by "
        "complete. null until then and where unknown.",
    )
    height = serializers.IntegerField(allow_null=True, help_text="As width, the height.")
    isAnimated = serializers.BooleanField(
        source="is_animated",
        allow_null=True,
        help_text="For an image: whether it has more than one frame. null for other files.",
    )
    pageCount = serializers.IntegerField(
        source="page_count",
        allow_null=True,
        help_text="A PDF's page count, where its page tree can be read from the file's "
        "first and last 64 KiB. null otherwise.",
    )
    duration = serializers.FloatField(
        allow_null=True,
        help_text="A video's duration in seconds, where the server has ffprobe. null otherwise.",
    )
    fieldValue = serializers.SerializerMethodField(
        help_text="What an UploadField's form input takes for this upload: its id, signed, "
        "issued to the caller and taken back only from them, for FIELD_VALUE_MAX_AGE "
        "(a day by default). null for a caller who may not write uploads (a key without "
        "uploads:write)."
    )

    variants = serializers.SerializerMethodField(
        help_text="The variants the upload's type declares (such as thumb), by name: each "
        "one's URL (public, or signed for DOWNLOAD_EXPIRY seconds like the file's) once it "
        "is made from the completed file as declared now; null until then (never the "
        "original instead)."
    )

    def to_representation(self, upload: Upload) -> dict[str, Any]:
        variants = "variants" in type(self)._declared_fields
        return described(upload, self.context.get("request"), variants=variants)

    def get_contentType(self, upload: Upload) -> str:
        return upload.verified_content_type or upload.content_type

    def get_size(self, upload: Upload) -> int | None:
        return upload.verified_size if upload.verified_size is not None else upload.size

    def get_sha256(self, upload: Upload) -> str | None:
        return upload.verified_sha256 or upload.sha256 or None

    def get_fieldValue(self, upload: Upload) -> str | None:
        return field_value_for(upload, self.context.get("request"))

    @extend_schema_field(
        {"type": "object", "additionalProperties": {"type": ["string", "null"], "format": "uri"}}
    )
    def get_variants(self, upload: Upload) -> dict[str, str | None]:
        request = self.context.get("request")
        urls = upload.variants.urls()
        return {n: absolute(request, u) for n, u in urls.items()} if request else urls

    def get_publicUrl(self, upload: Upload) -> str | None:
        request, url = self.context.get("request"), public_url(upload)
        return absolute(request, url) if request else url


class AttachedUploadSerializer(UploadSerializer):
    """An upload as a host's serializer shows it (the DRF UploadField): with its url."""

    url = serializers.SerializerMethodField(
        help_text="Where to show or fetch the file: the public URL of a public upload, a "
        "download URL signed for DOWNLOAD_EXPIRY seconds (fresh on each answer) of a private "
        "one; null unless completed."
    )

    def to_representation(self, upload: Upload) -> dict[str, Any]:
        return {**super().to_representation(upload), "url": self.get_url(upload)}

    def get_url(self, upload: Upload) -> str | None:
        request = self.context.get("request")
        return absolute(request, upload.url) if request else upload.url


class MultipartPlanSerializer(serializers.Serializer):
    partSize = serializers.IntegerField(help_text="Every part but the last has this size.")
    partCount = serializers.IntegerField()


class PresignResponseSerializer(UploadSerializer):
    # A new upload has none, and a deduplicated one's are in GET /uploads/{id}: presign
    # spends no query on them.
    variants = None  # type: ignore[assignment]
    uploadUrl = serializers.CharField(
        required=False, help_text="Where to send the file; absent for multipart and deduplicated."
    )
    multipart = MultipartPlanSerializer(
        required=False, help_text="Instead of uploadUrl: ask for the parts' URLs."
    )
    method = serializers.CharField(required=False, help_text="With uploadUrl: PUT or POST.")
    headers = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text="With uploadUrl: exactly the headers to send.",
    )
    # A declared field; DRF's metaclass takes it off the class, so Serializer.fields stays.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.CharField(),
        required=False,
        help_text="With a POST uploadUrl: the form fields to send before the file.",
    )
    expiresIn = serializers.IntegerField()
    maxSize = serializers.IntegerField()
    deduplicated = serializers.BooleanField(
        required=False, help_text="true: the caller already has this file; nothing to send."
    )


class UploadTypeSerializer(serializers.Serializer):
    type = serializers.CharField(source="name")
    # A declared field; DRF's metaclass takes it off the class, so Field.label stays.
    label = serializers.CharField()  # type: ignore[assignment]
    allowedContentTypes = serializers.ListField(
        child=serializers.CharField(), source="allowed_content_types"
    )
    maxSize = serializers.IntegerField(source="max_size")
    expiresIn = serializers.IntegerField(source="expires_in")
    method = serializers.CharField()
    public = serializers.BooleanField(source="is_public")
    requireSize = serializers.BooleanField(source="require_size")
    requireSha256 = serializers.BooleanField(source="require_sha256")
    multipartThreshold = serializers.IntegerField(
        source="multipart_threshold",
        allow_null=True,
        help_text="Files declared larger go in parts (null: only when the client asks).",
    )
    partSize = serializers.IntegerField(source="part_size")
    stripMetadata = serializers.BooleanField(
        source="strip_metadata",
        help_text="Images are re-encoded without metadata on complete: the stored file's "
        "size and sha256 are not the uploaded one's.",
    )


class PartsRequestSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    partNumbers = serializers.ListField(
        child=StrictIntegerField(min_value=1), min_length=1, max_length=100
    )

    json_schema = {"properties": {"partNumbers": {"uniqueItems": True}}}

    def validate_partNumbers(self, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise serializers.ValidationError("List each part number once.", code="duplicate")
        return value


class SignedPartSerializer(serializers.Serializer):
    partNumber = serializers.IntegerField()
    url = serializers.CharField()
    method = serializers.CharField()
    headers = serializers.DictField(child=serializers.CharField())


class SignedPartsSerializer(serializers.Serializer):
    parts = SignedPartSerializer(many=True)
    expiresIn = serializers.IntegerField()


class StoredPartSerializer(serializers.Serializer):
    partNumber = serializers.IntegerField()
    size = serializers.IntegerField()


class StoredPartsSerializer(serializers.Serializer):
    partSize = serializers.IntegerField()
    partCount = serializers.IntegerField()
    parts = StoredPartSerializer(many=True)


class DownloadSerializer(serializers.Serializer):
    url = serializers.CharField()
    expiresIn = serializers.IntegerField()


class UploadListQuerySerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[s for s in Upload.Status.values if s != Upload.Status.DELETED], required=False
    )
    type = serializers.CharField(required=False, max_length=64)
    page = serializers.IntegerField(required=False, min_value=1)
    pageSize = serializers.IntegerField(required=False, min_value=1, max_value=100)
