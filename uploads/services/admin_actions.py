"""What the admin's bulk actions do to uploads, whoever owns them."""

from __future__ import annotations

from collections import Counter

from django.db import transaction
from django.db.models import QuerySet

from uploads import exceptions
from uploads.models import Upload
from uploads.services.complete import (
    as_completed,
    reason,
    reject,
    settle,
    verify_and_read,
)
from uploads.services.describe import FACT_FIELDS, describe, record
from uploads.services.manage import mark_deleted
from uploads.services.signing import provider_errors, signer_for
from uploads.signals import upload_deleting


def delete_uploads(queryset: QuerySet[Upload]) -> tuple[int, int]:
    """Delete each upload as the API does: the row is marked deleted (and kept, so that
    ``uploads_cleanup`` can retry a removal that fails), its object removed after commit.
    Returns (deleted, refused); an upload that something still uses (a veto through
    ``upload_deleting``) is kept whole."""
    deleted = failed = 0
    for pk in queryset.exclude(status=Upload.Status.DELETED).values_list("pk", flat=True):
        try:
            with transaction.atomic():
                upload = Upload.objects.select_for_update().get(pk=pk)
                upload_deleting.send(sender=Upload, upload=upload)
                mark_deleted(upload)
            deleted += 1
        except exceptions.UploadError:
            failed += 1
    return deleted, failed


def reverify_uploads(queryset: QuerySet[Upload]) -> Counter[str]:
    """Check each upload against storage again. Pending ones are settled as complete would
    settle them; a completed one whose object is gone or changed is rejected."""
    outcomes: Counter[str] = Counter()
    for pk in queryset.values_list("pk", flat=True):
        try:
            with transaction.atomic():
                upload = Upload.objects.select_for_update().get(pk=pk)
                if upload.status == Upload.Status.COMPLETED:
                    stored, reasons, whole = verify_and_read(as_completed(upload))
                    if stored is None:
                        reasons = [
                            reason("object", "The file is gone from storage.", upload.key, None)
                        ]
                    elif not upload.sha256:  # a declared one was just checked
                        with provider_errors():
                            actual = stored.sha256 or signer_for(upload.storage).compute_sha256(
                                upload.key
                            )
                        if not upload.verified_sha256:
                            if not reasons:  # completed before every completion recorded one
                                upload.verified_sha256 = actual
                                upload.save(update_fields=["verified_sha256", "updated_at"])
                        elif actual != upload.verified_sha256:
                            reasons.append(
                                reason(
                                    "sha256",
                                    "The file changed since it was verified.",
                                    upload.verified_sha256,
                                    actual,
                                )
                            )
                    if reasons:
                        reject(upload, reasons)
                    elif stored is not None and all(
                        getattr(upload, name) is None for name in FACT_FIELDS
                    ):
                        # Completed before complete recorded them (or nothing was known).
                        record(upload, describe(upload, stored.size, whole))
                        upload.save(update_fields=[*FACT_FIELDS, "updated_at"])
                else:
                    settle(upload)
                outcomes[upload.status] += 1
        except exceptions.UploadError:
            outcomes["failed"] += 1
    return outcomes
