"""The form side of ``UploadsField``: a form field taking several signed upload values in
order, and a widget that uploads several files at once (picker or drag-and-drop), each with
its progress and a Cancel, and lets the user remove and reorder the attached ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django import forms
from django.db import models

from uploads import exceptions as upload_errors
from uploads.acting import acting_user
from uploads.fields import UploadFormField, UploadWidget, describe, upload_of
from uploads.models import Upload
from uploads.ownership import Types
from uploads.services.attach import field_value

#: The model field's check of a whole list for a row (``UploadsField.check_uploads``).
ListCheck = Callable[[models.Model | None, Sequence[Upload]], None]


class UploadsWidget(UploadWidget):
    """One hidden input per attached upload, in order, each holding its signed value."""

    template_name = "uploads/widgets/uploads.html"

    class Media:
        extend = False  # not the single widget's script
        js = [forms.Script("uploads/upload_list_widget.js", type="module")]
        css = {"all": ["uploads/upload_widget.css"]}

    def __init__(
        self, attrs: dict[str, Any] | None = None, types: Types = (), max_files: int | None = None
    ) -> None:
        super().__init__(attrs, types)
        self.max_files = max_files

    def format_value(self, value: Any) -> Any:
        return value  # a list, read in get_context

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, None, attrs)
        values = value if isinstance(value, (list, tuple)) else [value]
        uploads = [u for u in map(upload_of, values) if u is not None]
        user = acting_user()
        context["widget"].update(
            {
                "items": [
                    {"value": field_value(u.pk, user), "upload": describe(u)} for u in uploads
                ],
                "max_files": self.max_files or "",
            }
        )
        context["widget"]["attrs"]["multiple"] = True
        return context

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        values = data.getlist(name) if hasattr(data, "getlist") else data.get(name)
        if values is None:
            return []
        return [v for v in (values if isinstance(values, list) else [values]) if v]

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        # An empty list posts no input at all, as an unselected <select multiple> posts none.
        return False


class UploadsFormField(forms.Field):
    """Takes the signed values the widget posts, in order, each as ``UploadFormField`` takes
    one; cleans to the list of completed Uploads, checked against the form's row."""

    widget = UploadsWidget
    default_error_messages = {
        "max_files": "Attach at most %(max_files)s files.",
    }

    def __init__(
        self,
        *,
        types: Types = (),
        max_files: int | None = None,
        check: ListCheck | None = None,
        **kwargs: Any,
    ) -> None:
        self.types = types
        self.max_files = max_files
        self.check = check
        self.one = UploadFormField(types=types)
        self.form: forms.BaseForm | None = None
        super().__init__(**kwargs)
        if isinstance(self.widget, UploadsWidget):
            self.widget.types = types
            self.widget.max_files = max_files

    def get_bound_field(self, form: forms.BaseForm, field_name: str) -> Any:
        # Each form has its own copy of the field: the form's row is what the list is for.
        self.form = form
        return super().get_bound_field(form, field_name)

    def to_python(self, value: Any) -> list[Upload]:
        if value in self.empty_values:
            return []
        values = value if isinstance(value, (list, tuple)) else [value]
        uploads: dict[Any, Upload] = {}
        for item in values:
            upload = self.one.to_python(item)  # raises the single field's refusal
            if upload is not None:
                uploads.setdefault(upload.pk, upload)
        return list(uploads.values())

    def validate(self, value: list[Upload]) -> None:
        super().validate(value)
        if self.max_files is not None and len(value) > self.max_files:
            raise forms.ValidationError(
                self.error_messages["max_files"],
                code="max_files",
                params={"max_files": self.max_files},
            )
        if self.check is None:
            return
        instance = getattr(self.form, "instance", None)
        try:
            self.check(instance if isinstance(instance, models.Model) else None, value)
        except upload_errors.UploadError as err:
            raise forms.ValidationError(err.message, code=err.code.replace(".", "_")) from err

    def has_changed(self, initial: Any, data: Any) -> bool:
        def ids(values: Any) -> list[Any]:
            items = values if isinstance(values, (list, tuple)) else [values]
            return [u.pk for u in map(upload_of, items) if u is not None]

        return ids(initial or []) != ids(data or [])
