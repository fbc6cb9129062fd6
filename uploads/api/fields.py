"""``UploadField`` for DRF serializers: the caller's upload, named in a request body.

    class MediaItemSerializer(serializers.ModelSerializer):
        upload = UploadField()  # the types of the model's UploadField

        class Meta:
            model = MediaItem
            fields = ["title", "upload"]

A body names the upload by its id, its key or the publicUrl the server issued; the field
gives the completed Upload (completing a pending one) or refuses in the contract's terms:
400 for a value that is not a string, 404 for a missing upload or another user's, 409 for
one of the wrong type or state, 422 for one whose bytes lie. The refusals other than 400
raise ``UploadRefused`` out of ``is_valid()`` (even without ``raise_exception``); the
app's ``exception_handler`` answers them in the envelope. Answers show the upload as the
app's own endpoints do, with its ``url`` (Upload.url: public, or signed afresh for a private
upload; null unless completed).

Declare the field: left to itself, a ModelSerializer makes a model's UploadField DRF's
PrimaryKeyRelatedField, which takes any user's upload by its id.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.core.validators import MaxLengthValidator
from django.db.models import Model
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from uploads import exceptions, list_fields
from uploads import fields as model_fields
from uploads.api.errors import UploadRefused
from uploads.api.serializers import AttachedUploadSerializer
from uploads.models import Upload
from uploads.services.attach import find_upload, ready_for


def model_field_of(field: serializers.Field, parent: Any) -> Any:
    """The model field a bound serializer field reads, in a ModelSerializer; None elsewhere."""
    model = getattr(getattr(parent, "Meta", None), "model", None)
    if model is None or len(field.source_attrs) != 1:
        return None
    try:
        return model._meta.get_field(field.source)
    except FieldDoesNotExist:
        return None


class UploadField(serializers.Field):
    """``types``: the upload types it takes (or a function returning them). Left out in a
    ModelSerializer, they are those of the model's UploadField of the same source."""

    default_error_messages = {
        "invalid": "Name the upload by its id, key or publicUrl, as a string.",
        "blank": "This field may not be blank.",
        "max_length": "Ensure this field has no more than {max_length} characters.",
    }

    def __init__(
        self, types: model_fields.Types | None = None, *, max_length: int = 2048, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.types = types
        self.max_length = max_length

    def bind(self, field_name: str, parent: Any) -> None:
        super().bind(field_name, parent)
        if self.types is None:
            self.types = self._model_field_types(parent)

    def _model_field_types(self, parent: Any) -> model_fields.Types:
        field = model_field_of(self, parent)
        if not isinstance(field, model_fields.UploadField):
            raise ImproperlyConfigured(
                f"{type(parent).__name__}.{self.field_name}: pass types=[...], or bind the "
                "field in a ModelSerializer to the model's UploadField."
            )
        return field.types

    def to_internal_value(self, data: Any) -> Upload:
        if not isinstance(data, str):
            self.fail("invalid")
        if not data:
            self.fail("blank")
        if len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        request = self.context.get("request")
        if request is None:
            raise ImproperlyConfigured("UploadField needs the request in the serializer context.")
        assert self.types is not None  # bind() has set them
        try:
            if not request.user.is_authenticated:
                raise exceptions.NotFound()  # an anonymous caller owns no uploads
            upload = find_upload(request.user, data, request.build_absolute_uri)
            return ready_for(upload, model_fields.resolve_types(self.types))
        except exceptions.UploadError as err:
            raise UploadRefused(err) from err

    def to_representation(self, value: Upload) -> dict[str, Any]:
        return dict(AttachedUploadSerializer(value, context=self.context).data)


class UploadsField(serializers.ListField):
    """Several uploads in order, for a model's ``UploadsField``: a list of the caller's
    uploads, each named as ``UploadField`` takes one, in; the list of uploads, out.

    ``types`` and ``max_files``: left out in a ModelSerializer, those of the model's
    UploadsField of the same source. Each entry is refused as UploadField refuses one (in
    the error envelope); so is an upload another row uses, and more than ``max_files``
    (400, as any list too long).
    """

    def __init__(
        self,
        types: model_fields.Types | None = None,
        *,
        max_files: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.types = types
        self.model_field: list_fields.UploadsField | None = None
        # Read when used: the types may come from the model field, found once bound.
        kwargs.setdefault("child", UploadField(types=lambda: self._types()))
        super().__init__(max_length=max_files, **kwargs)

    def _types(self) -> list[str]:
        assert self.types is not None  # bind() has set them
        return model_fields.resolve_types(self.types)

    def bind(self, field_name: str, parent: Any) -> None:
        super().bind(field_name, parent)
        field = model_field_of(self, parent)
        if isinstance(field, list_fields.UploadsField):
            self.model_field = field
            if self.types is None:
                self.types = field.types
            if self.max_length is None and field.max_files is not None:
                self.max_length = field.max_files
                message = self.error_messages["max_length"].format(max_length=field.max_files)
                self.validators.append(MaxLengthValidator(field.max_files, message=message))
        if self.types is None:
            raise ImproperlyConfigured(
                f"{type(parent).__name__}.{self.field_name}: pass types=[...], or bind the "
                "field in a ModelSerializer to the model's UploadsField."
            )

    def to_internal_value(self, data: Any) -> list[Upload]:
        # Before any entry is read: reading one completes a pending upload.
        if isinstance(data, list) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        uploads = list({u.pk: u for u in super().to_internal_value(data)}.values())
        if self.model_field is not None:
            instance = getattr(self.parent, "instance", None)
            try:
                self.model_field.check_uploads(
                    instance if isinstance(instance, Model) else None, uploads
                )
            except exceptions.UploadError as err:
                raise UploadRefused(err) from err
        return uploads

    def to_representation(self, data: Any) -> list[Any]:
        return super().to_representation(data.all() if hasattr(data, "all") else data)


class UploadFieldSchema(OpenApiSerializerFieldExtension):
    """In the OpenAPI schema: a string in requests, the upload in answers."""

    target_class = UploadField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> Any:
        if direction == "request":
            return {
                "type": "string",
                "minLength": 1,
                "maxLength": self.target.max_length,
                "description": self.target.help_text or "The upload's id, key or publicUrl.",
            }
        return auto_schema.resolve_serializer(AttachedUploadSerializer, direction).ref
