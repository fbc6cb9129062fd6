from __future__ import annotations

import logging
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from uploads import exceptions, keys
from uploads.app_settings import app_settings
from uploads.files import signed_download
from uploads.models import Upload
from uploads.services.complete import locked_upload
from uploads.services.signing import provider_errors, signer_for
from uploads.signals import send_on_commit, upload_deleted, upload_deleting
from uploads.signers import SignerError, get_signer
from uploads.types import User

logger = logging.getLogger("uploads")


def owned_uploads(owner: User) -> QuerySet[Upload]:
    return (
        Upload.objects.filter(owner=owner)
        .exclude(status=Upload.Status.DELETED)
        .select_related("policy")
    )


def get_upload(owner: User, upload_id: uuid.UUID | str) -> Upload:
    try:
        return owned_uploads(owner).get(pk=upload_id)
    except (Upload.DoesNotExist, ValueError, ValidationError) as err:
        raise exceptions.NotFound() from err


def delete_upload(owner: User, upload_id: uuid.UUID | str) -> Upload:
    """Mark the upload deleted; its object goes once that commits."""
    with transaction.atomic():
        upload = locked_upload(owner, upload_id)
        upload_deleting.send(sender=Upload, upload=upload)  # a receiver may veto
        mark_deleted(upload)
    return upload


def mark_deleted(upload: Upload) -> None:
    """Mark a locked upload deleted and remove its object after the transaction commits.

    In this order a storage that answers late (a timeout after which it still deletes)
    can never leave a row pointing at a missing object; a removal that fails then is
    retried by ``uploads_cleanup``, which sweeps deleted uploads without waiting."""
    # A completed upload's staging object went when it completed (or goes with the sweep).
    # Its variants go with it.
    names = (
        [upload.key, *upload.variant_keys()]
        if upload.status == Upload.Status.COMPLETED
        else leftover_keys(upload)
    )
    # Parts of an upload that did not complete are billed until aborted.
    multipart = (
        (upload.multipart_key, upload.multipart_id)
        if upload.is_multipart and upload.status != Upload.Status.COMPLETED
        else None
    )
    upload.status = Upload.Status.DELETED
    upload.save(update_fields=["status", "updated_at"])
    storage = upload.storage
    transaction.on_commit(lambda: delete_objects(storage, names, multipart))
    send_on_commit(upload_deleted, Upload, upload=upload)


def leftover_keys(upload: Upload) -> list[str]:
    """What an upload that did not complete (or no longer counts) may have left: at the
    staging key its URL wrote, at its key a copy whose completion rolled back, and the
    variants made while it was completed."""
    return [keys.staging_key(upload.key), upload.key, *upload.variant_keys()]


def delete_objects(
    storage: str, names: list[str], multipart: tuple[str, str] | None = None
) -> None:
    """Remove a deleted upload's objects, and abort its multipart upload (``(multipart key,
    multipart id)``) if it has one; a failure is logged and left to the sweep."""
    try:
        with provider_errors():
            signer = signer_for(storage)
            if multipart:
                signer.abort_multipart(*multipart)
            for name in names:
                signer.delete(name)
    except exceptions.UploadError:
        logger.warning("Could not delete %s now; uploads_cleanup will.", names, exc_info=True)


def download_url(upload: Upload) -> dict[str, Any]:
    if upload.status != Upload.Status.COMPLETED:
        raise exceptions.InvalidState(
            f"Only completed uploads can be downloaded; this one is {upload.status}.",
            vars={"status": upload.status},
        )
    expires_in = app_settings.DOWNLOAD_EXPIRY
    with provider_errors():
        url = signed_download(upload)
    return {"url": url, "expiresIn": expires_in}


def public_url(upload: Upload) -> str | None:
    """Where a public upload is (or will be) served; None for private ones, or when its
    storage is not usable on this server."""
    if not upload.is_public:
        return None
    try:
        return get_signer(upload.storage).public_url(upload.key)
    except SignerError as err:
        logger.error("No public URL from storage %r: %s", upload.storage, err)
        return None
