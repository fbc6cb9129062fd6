"""Receivers that keep the process-local caches honest, and storage in step with users."""

from __future__ import annotations

import logging
from typing import Any

from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from uploads import exceptions, keys
from uploads.models import Upload, UploadPolicy, VariantSpec
from uploads.policies import bump_version
from uploads.signers import reset_signers
from uploads.webhooks.models import WebhookEndpoint

logger = logging.getLogger("uploads")


@receiver(post_save, sender=UploadPolicy, dispatch_uid="uploads.policy_saved")
@receiver(post_delete, sender=UploadPolicy, dispatch_uid="uploads.policy_deleted")
@receiver(post_save, sender=VariantSpec, dispatch_uid="uploads.variant_spec_saved")
@receiver(post_delete, sender=VariantSpec, dispatch_uid="uploads.variant_spec_deleted")
@receiver(post_save, sender=WebhookEndpoint, dispatch_uid="uploads.webhook_endpoint_saved")
@receiver(post_delete, sender=WebhookEndpoint, dispatch_uid="uploads.webhook_endpoint_deleted")
def policy_changed(**kwargs: Any) -> None:
    # In the edit's transaction; copied to the cache after it commits, so that no worker
    # reloads the old row and keeps it as the new revision. A type's variants and the
    # webhook endpoints are part of the revision too (policies.Declared).
    bump_version()


@receiver(setting_changed, dispatch_uid="uploads.setting_changed")
def settings_changed(setting: str, **kwargs: Any) -> None:
    if setting in ("UPLOADS", "STORAGES", "DEBUG", "SECRET_KEY", "CACHES"):
        reset_signers()
        if setting in ("UPLOADS", "CACHES"):
            from uploads.policies import registry

            registry.forget()


def delete_objects_of_user(instance: Any, **kwargs: Any) -> None:
    """Connected to the user model's pre_delete: the rows go with the user (CASCADE), and
    so must their files. A storage that fails is logged, not allowed to block the deletion."""
    from uploads.services.signing import provider_errors, signer_for
    from uploads.signals import send_on_commit, upload_deleted

    uploads = Upload.objects.filter(owner=instance).exclude(status=Upload.Status.DELETED)
    for upload in uploads.select_related("policy"):
        try:
            with provider_errors():
                signer = signer_for(upload.storage)
                if upload.multipart_id and upload.status == Upload.Status.PENDING:
                    signer.abort_multipart(upload.multipart_key, upload.multipart_id)  # its parts
                signer.delete(keys.staging_key(upload.key))  # a pending upload's file
                signer.delete(upload.key)
        except exceptions.UploadError:
            logger.error("Could not delete %s of a deleted user", upload.key, exc_info=True)
        # Loaded whole: upload_deleted's receivers read it once its row is gone.
        upload.status = Upload.Status.DELETED
        send_on_commit(upload_deleted, Upload, upload=upload)
