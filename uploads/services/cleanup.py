"""The sweep after an upload URL expires.

A pending upload whose URL expired (plus ``CLEANUP_GRACE``, for a slow client still
completing) becomes expired. For every upload whose URL expired, the staging key the URL
wrote is cleared: until then a client could write it again after complete or a delete
(S3's If-None-Match, Azure's create-only SAS and GCS's generation precondition all allow a
write where no object is). For uploads that did not complete, the key is cleared too (a
copy whose completion rolled back). A completed upload's object is left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from uploads import keys
from uploads.app_settings import app_settings
from uploads.models import Upload
from uploads.services.signing import provider_errors, signer_for


@dataclass
class CleanupReport:
    swept: int = 0
    expired: int = 0
    objects_deleted: int = 0
    failed: int = 0
    pending: int = 0  # of those to sweep, how many were still pending (a dry run's count)


def stale_uploads(now: datetime | None = None) -> QuerySet[Upload]:
    cutoff = (now or timezone.now()) - timedelta(seconds=app_settings.CLEANUP_GRACE)
    return Upload.objects.filter(expires_at__lt=cutoff, swept_at__isnull=True)


def leftovers(upload: Upload) -> list[str]:
    """The keys to clear: the staging key always, the key unless the upload completed."""
    staging = keys.staging_key(upload.key)
    return [staging] if upload.status == Upload.Status.COMPLETED else [staging, upload.key]


def expire_stale_uploads(
    *,
    batch_size: int = 500,
    dry_run: bool = False,
    now: datetime | None = None,
    progress: Callable[[CleanupReport, int], None] | None = None,
) -> CleanupReport:
    """Sweep every upload whose URL expired: delete what its URL may have left behind
    (``leftovers``), and mark the pending ones expired.

    Works in batches, each in its own transaction with the rows locked (rows another
    process holds are skipped and swept next time), so a long sweep never blocks a
    complete call for long.
    """
    report = CleanupReport()
    stale = stale_uploads(now)
    total = stale.count()
    if dry_run:
        report.swept = total
        report.pending = stale.filter(status=Upload.Status.PENDING).count()
        return report
    last_pk = None
    while True:
        with transaction.atomic():
            batch = stale.order_by("pk").select_for_update(skip_locked=True)
            if last_pk is not None:
                batch = batch.filter(pk__gt=last_pk)
            uploads = list(batch[:batch_size])
            if not uploads:
                break
            last_pk = uploads[-1].pk
            swept = []
            for upload in uploads:
                try:
                    with provider_errors():
                        signer = signer_for(upload.storage)
                        for key in leftovers(upload):
                            if signer.stat(key) is not None:
                                signer.delete(key)
                                report.objects_deleted += 1
                except Exception:  # noqa: BLE001  one bad storage must not stop the sweep
                    report.failed += 1
                    continue
                swept.append(upload.pk)
            now_ = timezone.now()
            report.expired += Upload.objects.filter(
                pk__in=swept, status=Upload.Status.PENDING
            ).update(status=Upload.Status.EXPIRED, updated_at=now_)
            Upload.objects.filter(pk__in=swept).update(swept_at=now_)
            report.swept += len(swept)
        if progress:
            progress(report, total)
    return report
