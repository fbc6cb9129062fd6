from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts import apikeys
from accounts.models import ApiKey, MediaItem, User
from accounts.scopes import SCOPES
from uploads import thumbnails
from uploads.admin import preparing_html, preview_src
from uploads.models import Upload


def thumbnail(upload: Upload | None, height: int = 64) -> str | SafeString:
    """A small preview made from the stored image (never the original scaled down by the
    browser), linking to the upload's admin page; a plain description otherwise."""
    if upload is None:
        return "-"
    content_type = upload.verified_content_type or upload.content_type
    label = f"{upload.file_name or upload.key} ({content_type}, {upload.status})"
    if not thumbnails.can_preview(upload):
        return label
    src = preview_src(upload)  # the thumb variant where the type declares one
    if src is None:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:uploads_upload_change", args=[upload.pk]),
            preparing_html(upload),
        )
    return format_html(
        '<a href="{}"><img src="{}" alt="{}" style="max-height:{}px;max-width:{}px"></a>',
        reverse("admin:uploads_upload_change", args=[upload.pk]),
        src,
        label,
        height,
        height * 2,
    )


class MediaItemColumns:
    """The columns the media inline and the media admin share."""

    @admin.display(description="preview")
    def preview(self, item: MediaItem) -> str | SafeString:
        return thumbnail(item.upload)

    @admin.display(description="type")
    def upload_type(self, item: MediaItem) -> str:
        return item.upload.policy.name


class MediaItemInline(MediaItemColumns, admin.TabularInline):
    """The user's media, to look at; each row links to the item's own page."""

    model = MediaItem
    fk_name = "owner"
    fields = ("preview", "title", "upload_type", "created_at")
    readonly_fields = ("preview", "title", "upload_type", "created_at")
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ["-created_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[MediaItem]:
        return (
            super()
            .get_queryset(request)
            .select_related("upload__policy")
            .prefetch_related("upload__policy__variant_specs", "upload__variant_records")
        )


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    # The stubs cannot make list_display a ClassVar (it holds a type variable).
    # Narrow enough for 1280 px beside the admin's navigation and the filters.
    list_display = ["avatar_thumbnail", "username", "email", "full_name", "is_staff"]  # type: ignore[misc]
    list_display_links = ["username"]
    fieldsets = [
        *(BaseUserAdmin.fieldsets or ()),
        ("Avatar", {"fields": ["avatar"]}),
    ]
    inlines = [MediaItemInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return (
            super()
            .get_queryset(request)
            .select_related("avatar__policy")
            .prefetch_related("avatar__policy__variant_specs", "avatar__variant_records")
        )

    @admin.display(description="name", ordering="last_name")
    def full_name(self, user: User) -> str:
        return user.get_full_name() or "-"

    @admin.display(description="avatar")
    def avatar_thumbnail(self, user: User) -> str | SafeString:
        return thumbnail(user.avatar, height=32) if user.avatar else ""


@admin.register(MediaItem)
class MediaItemAdmin(MediaItemColumns, admin.ModelAdmin):
    """Deleting an item (or changing its upload) releases the upload it held."""

    list_display = ["preview", "title", "owner", "upload_type", "created_at"]
    list_display_links = ["title"]
    list_select_related = ["owner", "upload__policy"]
    search_fields = ["title", "owner__username", "upload__key"]
    raw_id_fields = ["owner"]
    fields = ["owner", "upload", "title", "created_at", "updated_at"]
    readonly_fields = ["created_at", "updated_at"]


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(s, s) for s in SCOPES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="What the key may do. A key with none can still read its user's profile.",
    )

    class Meta:
        model = ApiKey
        fields = ["user", "name", "scopes", "expires_at"]

    #: Set by ApiKeyAdmin: who is making the key.
    maker: Any = None

    def clean_user(self) -> Any:
        user = self.cleaned_data["user"]
        maker = self.maker
        if maker is not None and not maker.is_superuser and user != maker:
            # A key acts as its user: making one for someone else is acting as them.
            raise forms.ValidationError("Only a superuser may make a key for another user.")
        return user

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        key = self.instance
        if key.pk is not None and not may_change(self.maker, key):
            # Widening another user's scopes would be acting as them.
            raise forms.ValidationError("Only a superuser may change another user's key.")
        return cleaned


def may_change(user: Any, key: ApiKey) -> bool:
    """What a key can do (its scopes, its expiry) is changed only by its own user or a
    superuser."""
    return user is not None and (user.is_superuser or key.user_id == user.pk)


def may_revoke(user: Any, key: ApiKey) -> bool:
    """Revoking or deleting only narrows, so staff may do it to anyone's key but a
    superuser's."""
    return user.is_superuser or not key.user.is_superuser


class KeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "active"), ("revoked", "revoked"), ("expired", "expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            # A revoked key is listed as revoked, whatever its expiry.
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Adding a key shows it once, in the confirmation message; only its hash is kept."""

    form = ApiKeyForm
    # Narrow enough for 1280 px beside the admin's navigation and the filters.
    list_display = ["key_name", "owner", "scope_list", "state"]
    list_display_links = ["key_name"]
    list_filter = [KeyStateFilter]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__username"]
    autocomplete_fields = ["user"]
    readonly_fields = ["prefix", "last_used_at", "revoked_at", "created_at"]
    actions = ["revoke_keys"]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("user", "name", "scopes", "expires_at")
        return (
            "prefix",
            "user",
            "name",
            "scopes",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "created_at",
        )

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        setattr(form, "maker", request.user)  # noqa: B010  (a class made for this request)
        return form

    def has_change_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or may_change(request.user, obj))

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or may_revoke(request.user, obj))

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        # A key's owner never changes: a new owner gets a new key.
        return [*self.readonly_fields, "user"] if obj is not None else list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        key = apikeys.generate_key()
        apikeys.fill_new_key(obj, key)
        super().save_model(request, obj, form, change)
        messages.success(
            request,
            f"The new API key is {key} . "
            "Copy it now: it is not stored and will not be shown again.",
        )

    @admin.display(description="scopes")
    def scope_list(self, key: ApiKey) -> str:
        return ", ".join(key.scopes) or "-"

    @admin.display(description="key", ordering="name")
    def key_name(self, key: ApiKey) -> str | SafeString:
        return format_html('{}<br><span class="quiet">{}</span>', key.name, key.prefix)

    @admin.display(description="user", ordering="user__username")
    def owner(self, key: ApiKey) -> str:
        name = str(key.user)
        return name if len(name) <= 20 else name[:19] + "\u2026"

    @admin.display(description="state")
    def state(self, key: ApiKey) -> str | SafeString:
        if key.revoked_at is not None:
            state, when = "revoked", f"on {_short(key.revoked_at)}"
        elif key.expires_at is not None and key.expires_at <= timezone.now():
            state, when = "expired", f"on {_short(key.expires_at)}"
        else:
            state = "active"
            when = f"until {_short(key.expires_at)}" if key.expires_at else "no expiry"
        used = f"last used {_short(key.last_used_at)}" if key.last_used_at else "never used"
        return format_html('{}<br><span class="quiet">{}, {}</span>', state, when, used)

    @admin.action(description="Revoke the selected keys")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        allowed = (
            queryset if request.user.is_superuser else queryset.exclude(user__is_superuser=True)
        )
        count = apikeys.revoke(allowed)
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)
        refused = queryset.count() - allowed.count()
        if refused:
            self.message_user(
                request,
                f"{refused} superuser key(s) left: only a superuser may revoke them.",
                messages.ERROR,
            )


def _short(moment: Any) -> str:
    return date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")
