"""Receivers that keep the process-local caches honest."""

from __future__ import annotations

from typing import Any

from django.core.signals import setting_changed
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from uploads.models import UploadPolicy
from uploads.policies import bump_version
from uploads.signers import reset_signers


@receiver(post_save, sender=UploadPolicy, dispatch_uid="uploads.policy_saved")
@receiver(post_delete, sender=UploadPolicy, dispatch_uid="uploads.policy_deleted")
def policy_changed(**kwargs: Any) -> None:
    # After commit, so that no worker reloads the old row and keeps it as the new version.
    transaction.on_commit(bump_version)


@receiver(setting_changed, dispatch_uid="uploads.setting_changed")
def settings_changed(setting: str, **kwargs: Any) -> None:
    if setting in ("UPLOADS", "STORAGES", "DEBUG", "SECRET_KEY", "CACHES"):
        reset_signers()
        if setting in ("UPLOADS", "CACHES"):
            from uploads.policies import registry

            registry.forget()
