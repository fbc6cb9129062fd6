"""Moving a verified upload from its staging key, where its signed URL wrote, to its key,
which no URL can write: a copy inside the storage, or a write of the bytes verified, with
headers the server sets."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils.http import content_disposition_header

from uploads import content_types, keys
from uploads.app_settings import app_settings
from uploads.models import Upload
from uploads.services.signing import provider_errors, signer_for
from uploads.signers import ObjectHeaders, SignerError, StoredObject

logger = logging.getLogger("uploads")


def object_headers(upload: Upload) -> ObjectHeaders:
    """The completed object's headers: its verified type, and an attachment disposition
    (named with the type's extension) for anything but a raster image, so that a browser
    saves a document rather than opening it on the storage's origin. Each is set, so that
    none of the uploader's can remain."""
    disposition = "inline"
    if not content_types.is_raster_image(upload.content_type):
        name = keys.attachment_name(upload.file_name, upload.pk, upload.content_type)
        disposition = content_disposition_header(True, name)
    cache = app_settings.CACHE_CONTROL
    return ObjectHeaders(
        content_type=upload.content_type,
        content_disposition=disposition,
        cache_control=f"{'public' if upload.is_public else 'private'}, {cache}" if cache else None,
        metadata={"upload-id": str(upload.pk), "owner": str(upload.owner_id)},
    )


def promote(upload: Upload, source: StoredObject) -> str | None:
    """Copy the staging object, as read (``source``), to the upload's key (replacing a copy
    left by a completion that rolled back); SourceChanged where the storage pins the copy to
    that version and it changed. Returns the copy's sha256 where the storage reports one.
    The staging object goes once the transaction commits, so that a rollback leaves it to
    be completed again; the sweep removes it if that fails."""
    staging = keys.staging_key(upload.key)
    with provider_errors():
        signer = signer_for(upload.storage)
        copied = signer.copy_verified(staging, upload.key, object_headers(upload), source)
    storage = upload.storage
    transaction.on_commit(lambda: drop(storage, staging))
    return copied


def write(upload: Upload, data: bytes, sha256: str) -> None:
    """Store ``data`` (the verified bytes, or the verified image re-encoded; ``sha256``
    theirs, base64) at the upload's key instead of copying the staging object, which goes
    after commit as with ``promote``."""
    staging = keys.staging_key(upload.key)
    with provider_errors():
        signer_for(upload.storage).write_hashed(upload.key, data, object_headers(upload), sha256)
    storage = upload.storage
    transaction.on_commit(lambda: drop(storage, staging))


def drop(storage: str, key: str) -> None:
    try:
        signer_for(storage).delete(key)
    except (SignerError, Exception):  # noqa: BLE001  the sweep deletes it later
        logger.warning("Could not delete the staging object %s", key, exc_info=True)
