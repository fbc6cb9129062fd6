from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import localtime

from uploads import exceptions, policies, references, thumbnails, validators
from uploads.app_settings import app_settings
from uploads.files import PREVIEW_VARIANT
from uploads.models import Upload, UploadPolicy, VariantSpec, part_size_problem
from uploads.services import storage_check
from uploads.services import variants as variant_services
from uploads.services.admin_actions import delete_uploads, reverify_uploads
from uploads.services.manage import download_url, public_url
from uploads.tasks import enqueue_variants
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


class ChecksField(forms.Field):
    """The checks before publication, in the order they run: one name per line (commas
    work too), stored as a list."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 40})

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:
        text = _text(value)
        return [item.strip() for item in text.replace(",", "\n").splitlines() if item.strip()]

    def validate(self, value: list[str]) -> None:
        validators.validate_check_names(value)


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
    checks = ChecksField(required=False)

    class Meta:
        model = UploadPolicy
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        storage = self.fields["storage"]
        assert isinstance(storage, forms.ChoiceField)  # declared above; the form copies it
        storage.choices = [(alias, alias) for alias in app_settings.STORAGES]
        storage.help_text = "Configured in settings.STORAGES and UPLOADS['STORAGES']."
        offered = ", ".join(sorted(app_settings.CHECKS)) or "none (UPLOADS['CHECKS'] is empty)"
        self.fields["checks"].help_text = (
            "One per line, in the order they run on each file after the built-in checks, "
            f"before it is completed. Offered: {offered}."
        )

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


class VariantSpecInline(admin.TabularInline):
    """The variants made of every completed image of the type (uploads.services.variants)."""

    model = VariantSpec
    extra = 0
    fields = ["name", "width", "height", "fit", "format", "quality"]


@admin.register(UploadPolicy)
class UploadPolicyAdmin(admin.ModelAdmin):
    form = UploadPolicyForm
    inlines = [VariantSpecInline]
    readonly_fields = ["variants_progress"]
    # Narrow enough for 1280 px beside the admin's navigation and the filters.
    list_display = ["type_and_label", "is_active", "content_types", "size_cap", "expiry", "where"]
    list_display_links = ["type_and_label"]
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
        ("Checks before publication", {"fields": ["checks", "complete_unscanned"]}),
        ("Variants", {"fields": ["variants_progress"]}),
    ]

    actions = ["check_storage", "rebuild_variants"]

    @admin.display(description="variants made")
    def variants_progress(self, policy: UploadPolicy) -> str:
        if policy.pk is None or not policy.variant_specs.exists():
            return "No variants declared (add them below)."
        return f"{variant_services.progress(policy)}."

    @admin.action(description="Rebuild the missing and stale variants of selected types")
    def rebuild_variants(self, request: HttpRequest, queryset: QuerySet[UploadPolicy]) -> None:
        for policy in queryset.order_by("name"):
            ids = [
                str(pk)
                for pk in variant_services.needing_rebuild(policy).values_list("pk", flat=True)
            ]
            enqueued = sum(enqueue_variants(upload_id) for upload_id in ids)
            level = messages.SUCCESS if enqueued == len(ids) else messages.ERROR
            self.message_user(
                request,
                f"{policy.name}: enqueued {enqueued} of {len(ids)} uploads to rebuild; "
                f"{variant_services.progress(policy)}.",
                level,
            )

    # Every view that saves or deletes types: say so when their edit did not reach the cache.
    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with policies.watching_publication() as failures:
            response = super().changeform_view(request, *args, **kwargs)
        return self._tell_unpublished(request, failures, response)

    def changelist_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with policies.watching_publication() as failures:
            response = super().changelist_view(request, *args, **kwargs)
        return self._tell_unpublished(request, failures, response)

    def delete_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with policies.watching_publication() as failures:
            response = super().delete_view(request, *args, **kwargs)
        return self._tell_unpublished(request, failures, response)

    def _tell_unpublished(
        self, request: HttpRequest, failures: list[BaseException], response: HttpResponse
    ) -> HttpResponse:
        if failures:
            seconds = round(policies.DATABASE_CHECK_SECONDS + app_settings.POLICY_CACHE_SECONDS)
            self.message_user(
                request,
                "The change is saved, but the shared cache did not answer, so the other "
                "worker processes were not told: they apply it within "
                f"{seconds} seconds of the cache answering again.",
                messages.WARNING,
            )
        return response

    @admin.action(description="Check the storage of selected types (a real round trip)")
    def check_storage(self, request: HttpRequest, queryset: QuerySet[UploadPolicy]) -> None:
        for alias in sorted(set(queryset.values_list("storage", flat=True))):
            report = storage_check.check_storage(alias, relative_hint=storage_check.WEB_HINT)
            level = (
                messages.ERROR
                if not report.ok
                else messages.WARNING
                if report.warned
                else messages.SUCCESS
            )
            self.message_user(
                request,
                format_html_join(
                    mark_safe("<br>"), "{}", ((line,) for line in storage_check.describe(report))
                ),
                level,
            )

    @admin.display(description="type", ordering="name")
    def type_and_label(self, policy: UploadPolicy) -> str | SafeString:
        return format_html('{}<br><span class="quiet">{}</span>', policy.name, policy.label)

    @admin.display(description="URL expiry", ordering="expires_in")
    def expiry(self, policy: UploadPolicy) -> str:
        minutes, seconds = divmod(policy.expires_in, 60)
        return (
            f"{minutes} min" + (f" {seconds} s" if seconds else "") if minutes else f"{seconds} s"
        )

    @admin.display(description="storage", ordering="storage")
    def where(self, policy: UploadPolicy) -> str | SafeString:
        return format_html(
            '{}<br><span class="quiet">{}</span>',
            policy.storage,
            "public" if policy.is_public else "private",
        )

    @admin.display(description="content types")
    def content_types(self, policy: UploadPolicy) -> str:
        shown = policy.allowed_content_types[:3]
        more = len(policy.allowed_content_types) - len(shown)
        return ", ".join(shown) + (f" and {more} more" if more else "")

    @admin.display(description="max size", ordering="max_size")
    def size_cap(self, policy: UploadPolicy) -> str:
        return format_bytes(policy.max_size)


def thumbnail_url(upload: Upload) -> str:
    return reverse("admin:uploads_upload_thumbnail", args=[upload.pk])


def preview_src(upload: Upload) -> str | None:
    """Where the admin's small image of the upload is: its ``thumb`` variant where the type
    declares one (None while it is not made: never the original instead), else a thumbnail
    made by uploads.thumbnails; None for anything that is no image."""
    if not thumbnails.can_preview(upload):
        return None
    if PREVIEW_VARIANT in upload.variants:
        return upload.variant(PREVIEW_VARIANT).url
    return thumbnail_url(upload)


def preparing_html(upload: Upload) -> str | SafeString:
    """What the admin says instead of a thumb variant that is not made (yet)."""
    thumb = upload.variant(PREVIEW_VARIANT)
    if thumb.state == "failed":
        return format_html('<span class="quiet" title="{}">no thumbnail</span>', thumb.error)
    return format_html('<span class="quiet">{}</span>', "preparing")


def preview_html(upload: Upload, size: int) -> str | SafeString:
    """A small image (a thumb variant or one made by uploads.thumbnails, never the original
    scaled down), "preparing" while the thumb variant is not made, or ""."""
    src = preview_src(upload)
    if src is None:
        return preparing_html(upload) if thumbnails.can_preview(upload) else ""
    return format_html(
        '<img src="{}" alt="" style="max-width:{}px;max-height:{}px">', src, size, size
    )


def _shortened(text: str, length: int = 80) -> str:
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    # Narrow enough for 1280 px beside the admin's navigation and the filters: the type and
    # size go under the name, the rejection reason under the status, the type is a filter.
    list_display = ["preview", "name", "owner_name", "state", "created"]
    list_display_links = ["name"]
    list_filter = ["status", "policy", "created_at"]
    date_hierarchy = "created_at"
    list_select_related = ["owner", "policy"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Upload]:
        # The previews read the types' variants and the uploads' in two queries a page.
        return (
            super()
            .get_queryset(request)
            .prefetch_related("policy__variant_specs", "variant_records")
        )

    actions = ["delete_with_objects", "reverify"]
    fieldsets = [
        (None, {"fields": ["name", "status", "owner", "policy", "large_preview", "used_by"]}),
        (
            "What was declared and what was found",
            {
                "fields": [
                    "content_type",
                    "verified_content_type",
                    "human_size",
                    "human_verified_size",
                    "sha256",
                    "verified_sha256",
                    "rejection_reason",
                ]
            },
        ),
        (
            "What the file is (recorded by complete)",
            {"fields": ["width", "height", "is_animated", "page_count", "duration"]},
        ),
        (
            "Where it is",
            {"fields": ["key", "storage", "is_public", "human_max_size", "parts"]},
        ),
        ("When", {"fields": ["created_at", "completed_at", "expires_at", "updated_at"]}),
    ]
    readonly_fields = [
        "name",
        "large_preview",
        "used_by",
        "human_size",
        "human_verified_size",
        "human_max_size",
        "parts",
        "width",
        "height",
        "is_animated",
        "page_count",
        "duration",
    ]

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        from django.contrib.auth import get_user_model

        return ["key", "file_name", f"owner__{get_user_model().USERNAME_FIELD}", "=id"]

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path(
                "<uuid:upload_id>/thumbnail/",
                view(self.thumbnail_view),
                name="uploads_upload_thumbnail",
            ),
            path(
                "<uuid:upload_id>/reverify/",
                view(self.reverify_view),
                name="uploads_upload_reverify",
            ),
            path(
                "<uuid:upload_id>/delete-with-file/",
                view(self.delete_view_with_file),
                name="uploads_upload_delete_with_file",
            ),
            *super().get_urls(),
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Django's own delete (the change page's link, delete_selected) would remove the row
        # and leave the file: only the action below deletes. (Without this permission Django
        # offers no delete_selected either.)
        return False

    def has_delete_with_files_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("uploads.delete_upload")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_reverify_permission(self, request: HttpRequest) -> bool:
        # Re-verifying settles a pending upload (completes or rejects it): a change, asked of
        # the model's permission since the page itself stays read-only for everyone.
        return request.user.has_perm("uploads.change_upload")

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        upload = kwargs.get("obj")
        context["may_delete_with_file"] = (
            upload is not None
            and upload.status != Upload.Status.DELETED
            and self.has_delete_with_files_permission(request)
        )
        context["may_reverify"] = upload is not None and self.has_reverify_permission(request)
        return super().render_change_form(request, context, *args, **kwargs)

    # --- the views of one upload ---------------------------------------------------------

    def _upload(self, request: HttpRequest, upload_id: uuid.UUID) -> Upload:
        upload = self.get_object(request, str(upload_id))
        if upload is None or not self.has_view_permission(request, upload):
            raise Http404("No such upload.")
        return upload

    def thumbnail_view(self, request: HttpRequest, upload_id: uuid.UUID) -> HttpResponse:
        data = thumbnails.thumbnail(self._upload(request, upload_id))
        if data is None:
            raise Http404("No preview for this upload.")
        response = HttpResponse(data, content_type=thumbnails.CONTENT_TYPE)
        response["Cache-Control"] = "private, max-age=3600"
        response["X-Content-Type-Options"] = "nosniff"
        return response

    def _back(self, upload: Upload) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:uploads_upload_change", args=[upload.pk]))

    def reverify_view(self, request: HttpRequest, upload_id: uuid.UUID) -> HttpResponse:
        upload = self._upload(request, upload_id)
        if not self.has_reverify_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self.reverify(request, Upload.objects.filter(pk=upload.pk))
        return self._back(upload)

    def delete_view_with_file(self, request: HttpRequest, upload_id: uuid.UUID) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        upload = self._upload(request, upload_id)
        if not self.has_delete_with_files_permission(request):
            raise PermissionDenied
        self.delete_with_objects(request, Upload.objects.filter(pk=upload.pk))
        return self._back(upload)

    # --- columns and fields --------------------------------------------------------------

    @admin.display(description="file", ordering="file_name")
    def name(self, upload: Upload) -> str | SafeString:
        size = upload.verified_size if upload.verified_size is not None else upload.size
        return format_html(
            '{}<br><span class="quiet">{}, {}</span>',
            _shortened(upload.file_name or upload.key.rsplit("/", 1)[-1], 32),
            upload.verified_content_type or upload.content_type,
            "size unknown" if size is None else approximate_bytes(size),
        )

    @admin.display(description="owner", ordering="owner")
    def owner_name(self, upload: Upload) -> str:
        return _shortened(str(upload.owner), 20)

    @admin.display(description="status", ordering="status")
    def state(self, upload: Upload) -> str | SafeString:
        if upload.status == Upload.Status.VERIFYING and upload.check_retries:
            return format_html(
                '{}<br><span class="quiet">{}</span>',
                upload.get_status_display(),
                f"checks unavailable, tried {upload.check_retries} "
                f"time{'' if upload.check_retries == 1 else 's'}",
            )
        if not upload.rejection_reason:
            return upload.get_status_display()
        return format_html(
            '{}<br><span class="quiet">{}</span>',
            upload.get_status_display(),
            _shortened(upload.rejection_reason, 90),
        )

    @admin.display(description="created", ordering="created_at")
    def created(self, upload: Upload) -> str:
        return date_format(localtime(upload.created_at), "SHORT_DATETIME_FORMAT")

    @admin.display(description="preview")
    def preview(self, upload: Upload) -> str | SafeString:
        return preview_html(upload, 48)

    @admin.display(description="preview or download")
    def large_preview(self, upload: Upload) -> str | SafeString:
        if upload.status != Upload.Status.COMPLETED:
            return f"None: the upload is {upload.status}."
        try:
            url = public_url(upload) or download_url(upload)["url"]
        except exceptions.UploadError as err:
            return f"The storage cannot be reached now ({err.message})."
        image = preview_html(upload, 160)
        label = "Open the image" if image else "Download the file"
        return format_html('{}<br><a href="{}">{}</a>', image, url, label)

    @admin.display(description="used by")
    def used_by(self, upload: Upload) -> str | SafeString:
        rows = references.used_by(upload.pk, limit=20)
        if not rows:
            return "Nothing: it may be deleted."
        items = []
        for row, field_name in rows:
            opts = row._meta
            what = f"{opts.verbose_name} {row} ({field_name})"
            try:
                link = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk])
            except NoReverseMatch:
                items.append(format_html("<li>{}</li>", what))
            else:
                items.append(format_html('<li><a href="{}">{}</a></li>', link, what))
        return format_html("<ul>{}</ul>", mark_safe("".join(items)))

    @admin.display(description="declared size")
    def human_size(self, upload: Upload) -> str:
        return "-" if upload.size is None else _bytes_and_units(upload.size)

    @admin.display(description="stored size")
    def human_verified_size(self, upload: Upload) -> str:
        return "-" if upload.verified_size is None else _bytes_and_units(upload.verified_size)

    @admin.display(description="the type's size cap then")
    def human_max_size(self, upload: Upload) -> str:
        return _bytes_and_units(upload.max_size)

    @admin.display(description="parts")
    def parts(self, upload: Upload) -> str:
        if not upload.is_multipart or upload.part_size is None:
            return "One upload, no parts."
        return f"{upload.part_count} parts of {format_bytes(upload.part_size)}"

    # --- actions -------------------------------------------------------------------------

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

    @admin.action(
        description="Re-verify selected uploads against storage", permissions=["reverify"]
    )
    def reverify(self, request: HttpRequest, queryset: QuerySet[Upload]) -> None:
        counts = reverify_uploads(queryset)
        self.message_user(
            request,
            "Re-verified: "
            + ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
            + ".",
        )


def approximate_bytes(size: int) -> str:
    """4404019 -> '4.2 MB': for reading, unlike format_bytes (exact, for editing)."""
    if size < 1024:
        return "1 byte" if size == 1 else f"{size} bytes"
    value = float(size)
    units = ["KB", "MB", "GB", "TB"]
    while True:
        value /= 1024
        unit = units.pop(0)
        if value < 1024 or not units:
            return f"{value:.1f}".removesuffix(".0") + f" {unit}"


def _bytes_and_units(size: int) -> str:
    return f"{approximate_bytes(size)} ({size:,} bytes)" if size >= 1024 else f"{size} bytes"


# The webhook endpoints and delivery log, kept with the rest of webhooks.
from uploads.webhooks import admin as webhooks_admin  # noqa: E402,F401
