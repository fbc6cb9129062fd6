from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.scopes import SCOPES
from uploads.fields import UploadField


class User(AbstractUser):
    """The project's user, custom from the first migration so that profile fields
    (avatar, media) arrive without migration surgery."""

    avatar = UploadField(types=["avatar"], null=True, blank=True, verbose_name=_("avatar"))
    # Carried in every JWT of the user; raised when the password changes or the user is
    # deactivated, which refuses every token issued before (accounts.tokens).
    token_version = models.PositiveIntegerField(default=0, editable=False)

    def refresh_from_db(
        self, using: str | None = None, fields: Any = None, from_queryset: Any = None
    ) -> None:
        # A user authenticated from a token knows little more than its id
        # (accounts.token_versions): the first read of another field loads them all, in one
        # query rather than one for each.
        deferred = self.get_deferred_fields()
        if fields is not None and deferred and set(fields) <= deferred:
            fields = list(deferred)
        super().refresh_from_db(using, fields, from_queryset)


def media_types() -> list[str]:
    """The upload types a media item may hold (``ACCOUNTS_MEDIA_TYPES``, ["media"] by
    default), read on each use."""
    return list(getattr(settings, "ACCOUNTS_MEDIA_TYPES", ["media"]))


class MediaItem(models.Model):
    """A titled link to one of its owner's completed uploads of a media type."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="media_items"
    )
    upload = UploadField(types=media_types, owner_field="owner", verbose_name=_("upload"))
    title = models.CharField(_("title"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="media_owner_recent")]
        verbose_name = _("media item")
        verbose_name_plural = _("media items")

    def __str__(self) -> str:
        return self.title or f"media item {self.pk}"


def validate_scopes(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ValidationError(_("Scopes must be a list of strings."))
    unknown = sorted(set(value) - set(SCOPES))
    if unknown:
        raise ValidationError(
            _("Unknown scopes: %(unknown)s. Known: %(known)s."),
            params={"unknown": ", ".join(unknown), "known": ", ".join(SCOPES)},
        )


class ApiKey(models.Model):
    """A credential for server-to-server clients. Only a hash of the key is stored; the key
    itself is shown once, when it is created."""

    PREFIX = "upk_"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(_("name"), max_length=100, help_text=_("What uses this key."))
    prefix = models.CharField(
        _("prefix"),
        max_length=16,
        editable=False,
        help_text=_("The key's first characters, to recognise it."),
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(_("scopes"), default=list, validators=[validate_scopes])
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and (
            self.expires_at is None or self.expires_at > timezone.now()
        )
