from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from uploads import validators
from uploads.app_settings import app_settings
from uploads.models import Upload, UploadPolicy, part_size_problem
from uploads.services import storage_check
from uploads.services.admin_actions import delete_uploads, reverify_uploads
from uploads.units import format_bytes, parse_bytes


def _text(value: Any) -> str:
    """A submitted value as forms.CharField cleans it: stripped, "" when empty."""
    return "" if value in forms.Field.empty_values else str(value).strip()


class ContentTypesField(forms.Field):
    """One MIME type per line (commas work too), stored as a list."""

    widget = forms.Textarea(attrs={"rows": 5, "cols": 40})

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:
        text = _text(value)
        return [
            item.strip().lower() for item in text.replace(",", "\n").splitlines() if item.strip()
        ]

    def validate(self, value: list[str]) -> None:
        validators.validate_content_type_list(value)


class ByteSizeField(forms.Field):
    """Accepts and shows human units: 5 MB, 512 KB, 1000."""

    def prepare_value(self, value: Any) -> Any:
        return format_bytes(value) if isinstance(value, int) else value

    def to_python(self, value: Any) -> int | None:
        text = _text(value)
        if not text:
            return None
        try:
            return parse_bytes(text)
        except ValueError as err:
            raise forms.ValidationError(str(err)) from err

    def validate(self, value: int | None) -> None:
        super().validate(value)
        validators.validate_max_size(value)


class UploadPolicyForm(forms.ModelForm):
    allowed_content_types = ContentTypesField(
        help_text="Exact MIME types, one per line, such as image/png. No wildcards."
    )
    max_size = ByteSizeField(help_text="Such as 5 MB, 512 KB or 1000 (bytes). 1 MB = 1024 KB.")
    multipart_threshold = ByteSizeField(
        required=False,
        help_text="Files declared larger are sent in parts, such as 100 MB. Empty: only when "
        "the client asks for a multipart upload.",
    )
    part_size = ByteSizeField(
        required=False,
        help_text="Every part but the last, such as 16 MB (empty: 16 MB); within the "
        "storage's part limits, and large enough that a file of the max size needs no more "
        "parts than it allows.",
    )
    storage = forms.ChoiceField(choices=())

    class Meta:
        model = UploadPolicy
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        storage = self.fields["storage"]
        assert isinstance(storage, forms.ChoiceField)  # declared above; the form copies it
        storage.choices = [(alias, alias) for alias in app_settings.STORAGES]
        storage.help_text = "Configured in settings.STORAGES and UPLOADS['STORAGES']."

    def clean_part_size(self) -> int:
        value = self.cleaned_data.get("part_size")
        return int(value or UploadPolicy._meta.get_field("part_size").get_default())

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()  # ModelForm's returns cleaned_data; Form.clean may be None
        data = self.cleaned_data if cleaned is None else cleaned
        from uploads.signers import SignerNotConfigured, signer_class_for

        if data.get("storage") and data.get("method"):
            try:
                signer_class = signer_class_for(data["storage"])
            except SignerNotConfigured as err:
                self.add_error("storage", str(err))
            else:
                if data["method"] not in signer_class.methods:
                    self.add_error(
                        "method",
                        f"Storage '{data['storage']}' cannot sign {data['method']} uploads.",
                    )
                if signer_class.supports_multipart and data.get("part_size"):
                    problem = part_size_problem(
                        data["part_size"], data.get("max_size"), signer_class.part_limits
                    )
                    if problem:
                        self.add_error("part_size", problem)
        return data


@admin.register(UploadPolicy)
class UploadPolicyAdmin(admin.ModelAdmin):
    form = UploadPolicyForm
    list_display = [
        "name",
        "label",
        "is_active",
        "content_types",
        "size_cap",
        "expires_in",
        "storage",
        "is_public",
    ]
    list_filter = ["is_active", "is_public", "storage"]
    search_fields = ["name", "label"]
    fieldsets = [
        (None, {"fields": ["name", "label", "is_active"]}),
        (
            "What may be uploaded",
            {
                "fields": [
                    "allowed_content_types",
                    "max_size",
                    "max_pixels",
                    "require_size",
                    "require_sha256",
                    "deduplicate",
                    "strip_metadata",
                ]
            },
        ),
        (
            "Where it goes",
            {"fields": ["storage", "key_prefix", "is_public", "method", "expires_in"]},
        ),
        ("Large files (multipart uploads)", {"fields": ["multipart_threshold", "part_size"]}),
    ]

    actions = ["check_storage"]

    @admin.action(description="Check the storage of selected types (a real round trip)")
    def check_storage(self, request: HttpRequest, queryset: QuerySet[UploadPolicy]) -> None:
        for alias in sorted(set(queryset.values_list("storage", flat=True))):
            report = storage_check.check_storage(alias)
            level = messages.SUCCESS if report.ok else messages.ERROR
            self.message_user(
                request,
                format_html_join(
                    mark_safe("<br>"), "{}", ((line,) for line in storage_check.describe(report))
                ),
                level,
            )

    @admin.display(description="content types")
    def content_types(self, policy: UploadPolicy) -> str:
        return ", ".join(policy.allowed_content_types)

    @admin.display(description="max size", ordering="max_size")
    def size_cap(self, policy: UploadPolicy) -> str:
        return format_bytes(policy.max_size)


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ["key", "owner", "policy", "status", "declared_size", "created_at"]
    list_filter = ["status", "policy", "created_at"]
    date_hierarchy = "created_at"
    list_select_related = ["owner", "policy"]
    actions = ["delete_with_objects", "reverify"]

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        from django.contrib.auth import get_user_model

        return ["key", f"owner__{get_user_model().USERNAME_FIELD}", "=id"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # it would leave the objects in storage
        return actions

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Django's own delete (the change page's link, delete_selected) would remove the row
        # and leave the file: only the action below deletes.
        return False

    def has_delete_with_files_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("uploads.delete_upload")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="size", ordering="size")
    def declared_size(self, upload: Upload) -> str:
        size = upload.verified_size if upload.verified_size is not None else upload.size
        return "-" if size is None else format_bytes(size)

    @admin.action(
        description="Delete selected uploads and their stored files",
        permissions=["delete_with_files"],
    )
    def delete_with_objects(self, request: HttpRequest, queryset: QuerySet[Upload]) -> None:
        deleted, failed = delete_uploads(queryset)
        self.message_user(request, f"Deleted {deleted} uploads and their files.")
        if failed:
            self.message_user(
                request,
                f"{failed} were kept: still in use.",
                messages.ERROR,
            )

    @admin.action(description="Re-verify selected uploads against storage", permissions=["view"])
    def reverify(self, request: HttpRequest, queryset: QuerySet[Upload]) -> None:
        counts = reverify_uploads(queryset)
        self.message_user(
            request,
            "Re-verified: "
            + ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
            + ".",
        )
