"""The sweep of pending uploads whose URL expired without a completed file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from uploads.app_settings import app_settings
from uploads.models import Upload
from uploads.services.signing import provider_errors, signer_for


@dataclass
class CleanupReport:
    expired: int = 0
    objects_deleted: int = 0
    failed: int = 0


def stale_uploads(now: datetime | None = None):  # type: ignore[no-untyped-def]
    cutoff = (now or timezone.now()) - timedelta(seconds=app_settings.CLEANUP_GRACE)
    return Upload.objects.filter(status=Upload.Status.PENDING, expires_at__lt=cutoff)


def expire_stale_uploads(
    *,
    batch_size: int = 500,
    dry_run: bool = False,
    now: datetime | None = None,
    progress: Callable[[CleanupReport, int], None] | None = None,
) -> CleanupReport:
    """Mark stale pending uploads expired and delete whatever object they left.

    Works in batches, each in its own transaction with the rows locked (rows another
    process holds are skipped and swept next time), so a long sweep never blocks a
    complete call for long.
    """
    report = CleanupReport()
    stale = stale_uploads(now)
    total = stale.count()
    if dry_run:
        report.expired = total
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
            expired = []
            for upload in uploads:
                try:
                    with provider_errors():
                        signer = signer_for(upload.storage)
                        if signer.stat(upload.key) is not None:
                            signer.delete(upload.key)
                            report.objects_deleted += 1
                except Exception:  # noqa: BLE001  one bad storage must not stop the sweep
                    report.failed += 1
                    continue
                expired.append(upload.pk)
            Upload.objects.filter(pk__in=expired).update(
                status=Upload.Status.EXPIRED, updated_at=timezone.now()
            )
            report.expired += len(expired)
        if progress:
            progress(report, total)
    return report
