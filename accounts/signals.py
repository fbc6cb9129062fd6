"""A password change or a deactivation revokes the user's tokens (accounts.tokens)."""

from __future__ import annotations

from typing import Any

from django.core.signals import setting_changed
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from accounts.models import User
from accounts.tokens import revoke_all
from accounts.user_cache import recent_users

WATCHED = {"password", "is_active"}


@receiver(pre_save, sender=User)
def _note_credential_change(
    sender: type[User], instance: User, raw: bool, update_fields: Any, **kwargs: Any
) -> None:
    instance._revoke_tokens = False  # type: ignore[attr-defined]
    if raw or instance._state.adding or (update_fields is not None and not WATCHED & update_fields):
        return
    # One query, only on saves that may touch the credentials (not on last_login's).
    before = User.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if before is None:
        return
    # Any change of the stored hash counts, a rehash on login included: simpler than telling
    # a new password from a new hasher, and it costs only a sign-in.
    instance._revoke_tokens = before["password"] != instance.password or (  # type: ignore[attr-defined]
        before["is_active"] and not instance.is_active
    )


@receiver(post_save, sender=User)
def _revoke_after_credential_change(sender: type[User], instance: User, **kwargs: Any) -> None:
    if getattr(instance, "_revoke_tokens", False):
        instance._revoke_tokens = False  # type: ignore[attr-defined]
        revoke_all(instance)


@receiver(setting_changed)
def _forget_recent_users(setting: str, **kwargs: Any) -> None:
    if setting in ("ACCOUNTS_JWT_USER_CACHE_SECONDS", "SIMPLE_JWT", "AUTH_USER_MODEL"):
        recent_users.clear()
