"""A password change or a deactivation revokes the user's tokens (accounts.tokens); a
deletion refuses them at once (accounts.token_versions)."""

from __future__ import annotations

from typing import Any

from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from accounts import token_versions
from accounts.authentication import verified_tokens
from accounts.models import User
from accounts.tokens import revoke_all

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


@receiver(post_delete, sender=User)
def _refuse_tokens_of_deleted_user(sender: type[User], instance: User, **kwargs: Any) -> None:
    token_versions.revoked(instance.pk, token_versions.DELETED)


@receiver(setting_changed)
def _forget_verified_tokens(setting: str, **kwargs: Any) -> None:
    if setting in ("SIMPLE_JWT", "AUTH_USER_MODEL"):
        verified_tokens.clear()
