"""Attach uploads to your own models: ``UploadField``, its form field and its widget.

    class Profile(models.Model):
        owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
        photo = UploadField(types=["avatar"], owner_field="owner", null=True, blank=True)

The column is a foreign key to ``uploads.Upload``. The field only ever holds a completed
upload of one of its types, owned by the row's owner; replacing or clearing the value, or
deleting the row, releases the previous upload (deleted once nothing else uses it), and an
upload that any UploadField holds cannot be deleted. Several uploads per row, in order:
``uploads.list_fields.UploadsField``, under the same rules (``uploads.ownership``).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django import forms
from django.conf import settings
from django.core import exceptions
from django.db import connection, models
from django.db.models import signals

from uploads import exceptions as upload_errors
from uploads import references
from uploads.acting import acting_user, anyone_known
from uploads.api_mount import api_base
from uploads.files import PREVIEW_VARIANT
from uploads.models import Upload
from uploads.ownership import Owner, RowOwned, Types, check_attachable, resolve_types
from uploads.services.attach import (
    check_completed,
    check_fits,
    field_value,
    is_ready,
    read_field_value,
    ready_for,
)
from uploads.units import format_bytes


class UploadField(references.HoldsUploads, RowOwned, models.ForeignKey):
    """A foreign key to ``uploads.Upload`` that holds only completed uploads of ``types``.

    ``types``: upload type names (or a function returning them, read on each use).
    ``owner_field``: the name of the field holding the row's owner (a user), or a function
    of the row returning the owner. The user model itself owns its uploads; another model
    without one takes uploads of whoever attaches them and leaves them theirs.
    """

    description = "A completed upload of the given types"

    def __init__(
        self,
        types: Types = (),
        owner_field: Owner = None,
        *,
        to: Any = "uploads.Upload",
        on_delete: Any = models.RESTRICT,
        related_name: str | None = "+",
        **kwargs: Any,
    ) -> None:
        self.types = types if callable(types) else tuple(types)
        self.owner_field = owner_field
        # RESTRICT: the row of an upload in use cannot go, yet deleting a user still
        # works when their rows go with them.
        super().__init__(to, on_delete, related_name=related_name, **kwargs)

    # --- definition -----------------------------------------------------------------------

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["types"] = self.types if callable(self.types) else list(self.types)
        if self.owner_field is not None:
            kwargs["owner_field"] = self.owner_field
        if kwargs.get("to") in ("uploads.upload", "uploads.Upload"):
            del kwargs["to"]
        if kwargs.get("on_delete") is models.RESTRICT:
            del kwargs["on_delete"]
        if kwargs.get("related_name") == "+":
            del kwargs["related_name"]
        return name, path, args, kwargs

    def contribute_to_class(
        self, cls: type[models.Model], name: str, private_only: bool = False, **kwargs: Any
    ) -> None:
        super().contribute_to_class(cls, name, private_only=private_only, **kwargs)
        # Historical models (migrations) and abstract ones keep no uploads of their own.
        if cls._meta.abstract or cls.__module__ == "__fake__":
            return
        uid = f"uploads.field:{cls._meta.label}.{name}"
        signals.post_save.connect(self._after_save, sender=cls, dispatch_uid=uid)
        signals.post_delete.connect(self._after_delete, sender=cls, dispatch_uid=uid)

    def get_internal_type(self) -> str:
        return "ForeignKey"  # to the database backends, a foreign key like any other

    def formfield(self, **kwargs: Any) -> Any:
        # ForeignKey's would be a <select> of every upload; the admin passes a queryset.
        for name in ("queryset", "to_field_name", "limit_choices_to", "blank"):
            kwargs.pop(name, None)
        return models.Field.formfield(
            self, **{"form_class": UploadFormField, "types": self.types, **kwargs}
        )

    # --- the rules ------------------------------------------------------------------------

    def validate(self, value: Any, model_instance: models.Model | None) -> None:
        """What a form can post is refused here, as a form error on the field; pre_save
        checks again under lock."""
        super().validate(value, model_instance)
        if value is None:
            return
        upload = Upload.objects.select_related("policy").filter(pk=value).first()
        try:
            check_attachable(upload, resolve_types(self.types))
            assert upload is not None
            if model_instance is not None and value != self._stored_value(model_instance):
                self._check_owner(model_instance, upload)
        except upload_errors.UploadError as err:
            # Not "invalid": a ModelForm would show its form field's message of that code.
            code = err.code.replace(".", "_")
            raise exceptions.ValidationError(err.message, code=code) from err

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = super().pre_save(model_instance, add)
        previous = None if add else self._stored_value(model_instance)
        replaced = model_instance.__dict__.setdefault("_uploads_replaced", {})
        if value == previous:
            replaced.pop(self.attname, None)
            return value
        handed_over = value is not None and self._check_new_value(model_instance, value)
        replaced[self.attname] = (previous, handed_over)
        return value

    def _stored_value(self, instance: models.Model) -> Any:
        if instance.pk is None:
            return None
        rows = type(instance)._base_manager.filter(pk=instance.pk)
        if connection.in_atomic_block:
            rows = rows.select_for_update()  # two replacements at once release each value
        return rows.values_list(self.attname, flat=True).first()

    def _check_new_value(self, instance: models.Model, upload_id: Any) -> bool:
        """Refuse an upload the row may not hold; returns whether it moves to the row's
        owner once saved."""
        uploads = Upload.objects.select_related("policy")
        if connection.in_atomic_block:
            # Held until commit, so that no delete of the upload runs beside this link.
            of = ("self",) if connection.features.has_select_for_update_of else ()
            uploads = uploads.select_for_update(of=of)
        upload = uploads.filter(pk=upload_id).first()
        check_attachable(upload, resolve_types(self.types))
        assert upload is not None
        return self._check_owner(instance, upload)

    def _check_owner(self, instance: models.Model, upload: Upload) -> bool:
        assigned = self.get_cached_value(instance, None)
        given = isinstance(assigned, Upload) and assigned.pk == upload.pk and is_ready(assigned)
        return self.check_owner(instance, upload, given=given)

    def _after_save(self, instance: models.Model, **kwargs: Any) -> None:
        replaced = instance.__dict__.get("_uploads_replaced", {})
        if self.attname not in replaced:
            return
        previous, handed_over = replaced.pop(self.attname)
        if handed_over:
            # Checked above: given to whoever attached it, and in no other row's use. (The
            # owner is read now: a user saved for the first time has an id only now.)
            owner_id = self.owner_id_of(instance)[1]
            Upload.objects.filter(pk=getattr(instance, self.attname)).update(owner_id=owner_id)
        references.release(previous)

    def _after_delete(self, instance: models.Model, **kwargs: Any) -> None:
        references.release(getattr(instance, self.attname))


# --- forms ---------------------------------------------------------------------------------


class UploadWidget(forms.Widget):
    """Uploads straight from the browser with uploads.js (progress, preview, the current
    file with a link, remove and replace) and posts only the upload's signed id."""

    template_name = "uploads/widgets/upload.html"
    # The admin's related-object links (view, change, delete an Upload) need a <select>;
    # this keeps RelatedFieldWidgetWrapper from adding them.
    allow_multiple_selected = True

    class Media:
        js = [forms.Script("uploads/upload_widget.js", type="module")]
        css = {"all": ["uploads/upload_widget.css"]}

    def __init__(self, attrs: dict[str, Any] | None = None, types: Types = ()) -> None:
        super().__init__(attrs)
        self.types = types

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        from uploads.policies import registry

        context = super().get_context(name, value, attrs)
        upload = upload_of(value)
        # Issued to whoever views the form: only they can post it back. Nobody known, it is
        # issued to nobody, and posting it back is refused rather than clearing the field.
        policies = [p for p in map(registry.get, resolve_types(self.types)) if p is not None]
        context["widget"].update(
            {
                "value": field_value(upload.pk, acting_user()) if upload else "",
                "upload": describe(upload) if upload else None,
                "accept": ",".join(sorted({t for p in policies for t in p.allowed_content_types})),
                "types_json": json.dumps(
                    [
                        {
                            "type": p.name,
                            "label": p.label,
                            "allowedContentTypes": list(p.allowed_content_types),
                            "maxSize": p.max_size,
                            "requireSha256": p.require_sha256,
                        }
                        for p in policies
                    ]
                ),
                "api_base": api_base() or "",
                "csrf_cookie": settings.CSRF_COOKIE_NAME,
            }
        )
        file_attrs = context["widget"]["attrs"]
        # The hidden input holds the value: a required file input would block saving a form
        # whose upload is already there (the form field still refuses an empty value).
        if file_attrs.pop("required", False):
            file_attrs["aria-required"] = "true"
        if file_attrs.get("id"):
            described = file_attrs.get("aria-describedby", "")
            file_attrs["aria-describedby"] = f"{described} {file_attrs['id']}_status".strip()
        return context

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        return data.get(name)

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return name not in data


def upload_of(value: Any) -> Upload | None:
    """The upload a form value names: an Upload, its UUID, or a field value issued to the
    user who acts (and still valid)."""

    if isinstance(value, Upload):
        return value
    if value in forms.Field.empty_values:
        return None
    # A bare id comes only from the model (a form's initial value); a posted one must be
    # issued to the poster, or a form shown again after an error would show and issue
    # anyone's upload posted to it.
    if isinstance(value, uuid.UUID):
        upload_id = value
    else:
        signed = read_field_value(str(value))
        if signed is None or signed.expired or not signed.issued_to_user(acting_user()):
            return None
        upload_id = signed.upload_id
    return (
        Upload.objects.select_related("policy")
        .exclude(status=Upload.Status.DELETED)
        .filter(pk=upload_id)
        .first()
    )


def describe(upload: Upload) -> dict[str, Any]:
    """What the widget shows of an upload: its name, type, size and a link to the file."""
    from uploads import content_types
    from uploads.services import download_url, public_url

    content_type = upload.verified_content_type or upload.content_type
    url = None
    if upload.status == Upload.Status.COMPLETED:
        url = public_url(upload)
        if url is None:
            try:
                url = download_url(upload)["url"]
            except upload_errors.UploadError:
                url = None
    size = upload.verified_size if upload.verified_size is not None else upload.size
    # The preview: the type's thumb variant where it declares one (nothing while it is not
    # made: never the original instead), else the file itself.
    preview, preparing = url, False
    if url is not None and PREVIEW_VARIANT in upload.variants:
        thumb = upload.variant(PREVIEW_VARIANT)
        preview, preparing = thumb.url, not thumb.ready
    return {
        "id": str(upload.pk),
        "file_name": upload.file_name or upload.key.rsplit("/", 1)[-1],
        "content_type": content_type,
        "size": format_bytes(size) if size is not None else "",
        "url": url,
        "preview_url": preview,
        "preparing": preparing,
        "is_image": content_types.is_raster_image(content_type),
        "status": upload.status,
    }


class UploadFormField(forms.Field):
    """Takes the signed value the widget posts, issued to the user who posts it; cleans to a
    completed Upload of its types (completing the poster's pending one), or None."""

    widget = UploadWidget
    default_error_messages = {
        "invalid": "This is not an upload this form handed out. Upload the file again.",
        "expired": "This upload was handed out too long ago. Upload the file again.",
        "missing": "That upload no longer exists. Upload the file again.",
        "anonymous": "Sign in to attach an upload.",
        "nobody": "The server does not know who posts this form, so it takes no upload "
        "(install uploads.middleware.RequestIDMiddleware; outside a request, use "
        "uploads.acting.acting_as).",
    }

    def __init__(self, *, types: Types = (), **kwargs: Any) -> None:
        self.types = types
        super().__init__(**kwargs)
        if isinstance(self.widget, UploadWidget):
            self.widget.types = types

    def to_python(self, value: Any) -> Upload | None:
        if value in self.empty_values:
            return None
        if isinstance(value, Upload):
            return value
        poster = acting_user()
        if poster is None:
            code = "anonymous" if anyone_known() else "nobody"
            raise forms.ValidationError(self.error_messages[code], code=code)
        signed = read_field_value(str(value))
        if signed is None or not signed.issued_to_user(poster):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if signed.expired:
            raise forms.ValidationError(self.error_messages["expired"], code="expired")
        upload = upload_of(signed.upload_id)
        if upload is None:
            raise forms.ValidationError(self.error_messages["missing"], code="missing")
        types = resolve_types(self.types)
        try:
            if upload.owner_id == poster.pk:
                # Completing commits its verdict (a rejection deletes the object) even when
                # the form is then refused.
                return ready_for(upload, types)
            # Another user's upload that a form showed the poster (its row's current one):
            # it may stay where it is, and is neither completed nor given to the poster.
            check_fits(upload, types)
            check_completed(upload)
            return upload
        except upload_errors.UploadError as err:
            # A rejection's reasons (such as "The file's bytes are not image/png.") say why.
            reasons = [d["message"] for d in err.details if isinstance(d, dict) and "message" in d]
            message = " ".join([err.message, *reasons])
            raise forms.ValidationError(message, code=err.code.replace(".", "_")) from err

    def has_changed(self, initial: Any, data: Any) -> bool:
        before, after = upload_of(initial), upload_of(data)
        return (before.pk if before else None) != (after.pk if after else None)
