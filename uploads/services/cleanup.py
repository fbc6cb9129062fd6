"""The sweep after an upload URL expires.

A pending upload whose URL expired (plus ``CLEANUP_GRACE``, for a slow client still
completing) becomes expired. For every upload whose URL expired, the staging key the URL
wrote is cleared: until then a client could write it again after complete or a delete
(S3's If-None-Match, Azure's create-only SAS and GCS's generation precondition all allow a
write where no object is). For uploads that did not complete, the key is cleared too (a
copy whose completion rolled back). A completed upload's object is left alone.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from uploads import exceptions, keys
from uploads.app_settings import app_settings
from uploads.models import Upload
from uploads.services import lease
from uploads.services.complete import reason, reject, verify_deferred
from uploads.services.manage import leftover_keys
from uploads.services.signing import provider_errors, signer_for
from uploads.tasks import enqueue_verification, fail_lost_runs

logger = logging.getLogger("uploads")
#: Django's TemporaryUploadedFile, where the local signer streams a PUT, names its files so.
TEMP_FILE_PATTERN = "tmp*.upload*"


@dataclass
class CleanupReport:
    swept: int = 0
    expired: int = 0
    objects_deleted: int = 0
    failed: int = 0
    pending: int = 0  # of those to sweep, how many were still pending (a dry run's count)
    temp_files: int = 0  # stale temporary files of local PUTs removed (or, dry, found)
    oversized: int = 0  # pending uploads rejected for an object their URL could not bound
    multipart_aborted: int = 0  # multipart uploads whose parts were released
    verified: int = 0  # verifying uploads whose task was lost, settled here (or, dry, found)
    handed_over: int = 0  # verifying uploads whose run's lease lapsed, enqueued again


def stale_uploads(now: datetime | None = None) -> QuerySet[Upload]:
    """Uploads whose keys are to be cleared: those whose URL expired (plus the grace) and
    were not swept since, and deleted ones not swept yet, at once (their object's removal
    after commit may have failed). A deleted upload swept before its URL expired is swept
    once more after."""
    grace = timedelta(seconds=app_settings.CLEANUP_GRACE)
    cutoff = (now or timezone.now()) - grace
    url_expired = Q(expires_at__lt=cutoff) & (
        Q(swept_at__isnull=True) | Q(swept_at__lt=F("expires_at") + grace)
    )
    deleted = Q(status=Upload.Status.DELETED, swept_at__isnull=True)
    # A verifying upload's object is being checked: settle_lost_verifications handles it.
    return Upload.objects.filter(url_expired | deleted).exclude(status=Upload.Status.VERIFYING)


def lost_verifications(now: datetime | None = None) -> QuerySet[Upload]:
    """Verifying uploads untouched for ``VERIFY_TASK_GRACE`` that no live run holds: their
    task never ran (a queue that was flushed, a backend that refused it) or keeps failing."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=app_settings.VERIFY_TASK_GRACE)
    return Upload.objects.filter(status=Upload.Status.VERIFYING, updated_at__lt=cutoff).filter(
        Q(verify_lease_until__isnull=True) | Q(verify_lease_until__lt=now)
    )


def hand_over_lapsed_verifications(now: datetime | None = None) -> int:
    """Give each verifying upload whose run stopped renewing its lease (a killed worker) to
    a new run: the lapsed lease is revoked (the old run can settle nothing any more), its
    task row marked failed on the database backend, and a new task enqueued. Returns how
    many were handed over."""
    handed = 0
    lapsed = lease.lapsed(now).values_list("pk", "verify_attempt", "check_retries")
    for pk, attempt, check_retries in lapsed:
        if not lease.revoke(pk, attempt, now):
            continue  # renewed, or taken, meanwhile
        if check_retries:
            # Held until now because a check could not decide (its lease is the wait).
            logger.info("Upload %s is due to be checked again: enqueued", pk)
        else:
            logger.warning("The verification of upload %s lost its worker: enqueued again", pk)
        fail_lost_runs(pk)
        enqueue_verification(str(pk))
        handed += 1
    return handed


def settle_lost_verifications(now: datetime | None = None) -> tuple[int, int]:
    """Verify and settle, here and now, each upload whose task was lost. Returns how many
    were settled and how many failed (a storage that fails: left for the next run)."""
    settled = failed = 0
    for pk in lost_verifications(now).values_list("pk", flat=True):
        try:
            status = verify_deferred(pk)
        except Exception:  # noqa: BLE001  one bad storage must not stop the sweep
            logger.warning("Could not verify upload %s", pk, exc_info=True)
            failed += 1
            continue
        if status not in ("held", "superseded", Upload.Status.VERIFYING):
            settled += 1
    return settled, failed


def leftovers(upload: Upload) -> list[str]:
    """The keys to clear: the staging key always, the key unless the upload completed."""
    if upload.status == Upload.Status.COMPLETED:
        return [keys.staging_key(upload.key)]
    return leftover_keys(upload)


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
    report.temp_files = remove_stale_temp_files(dry_run=dry_run, now=now)
    if dry_run:
        report.verified = lost_verifications(now).count()
        report.handed_over = lease.lapsed(now).count()
    else:
        report.handed_over = hand_over_lapsed_verifications(now)
        report.verified, report.failed = settle_lost_verifications(now)
        report.oversized = reject_oversized_uploads()
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
                        if upload.is_multipart:
                            # A completed one too: its part URLs could write parts (GCS) or
                            # blocks (Azure) after the assembly, until they expired.
                            signer.abort_multipart(upload.multipart_key, upload.multipart_id)
                            report.multipart_aborted += 1
                        for key in leftovers(upload):
                            if signer.stat(key) is not None:
                                signer.delete(key)
                                report.objects_deleted += 1
                except Exception:  # noqa: BLE001  one bad storage must not stop the sweep
                    report.failed += 1
                    continue
                swept.append(upload.pk)
            now_ = now or timezone.now()
            report.expired += Upload.objects.filter(
                pk__in=swept, status=Upload.Status.PENDING
            ).update(status=Upload.Status.EXPIRED, updated_at=now_)
            Upload.objects.filter(pk__in=swept).update(swept_at=now_)
            report.swept += len(swept)
        if progress:
            progress(report, total)
    return report


def remove_stale_temp_files(*, dry_run: bool = False, now: datetime | None = None) -> int:
    """Remove the temporary files that killed local PUTs left behind (a live PUT deletes
    its own when it ends). A file is stale once it has not been written for
    ``CLEANUP_GRACE`` seconds: a PUT that is still running writes it all the time."""
    directory = Path(settings.FILE_UPLOAD_TEMP_DIR or tempfile.gettempdir())
    cutoff = (now or timezone.now()).timestamp() - app_settings.CLEANUP_GRACE
    removed = 0
    for path in directory.glob(TEMP_FILE_PATTERN):
        try:
            if not path.is_file() or path.stat().st_mtime >= cutoff:
                continue
            if not dry_run:
                path.unlink()
        except OSError as err:  # gone meanwhile, or another user's
            logger.debug("Left %s: %s", path, err)
            continue
        removed += 1
    return removed


def reject_oversized_uploads() -> int:
    """Reject the pending uploads whose URL could not bound the body's size (Azure, an S3 PUT
    without a declared size) and whose object is already larger than allowed, without
    waiting for the URL to expire: complete could never accept them. Returns how many."""
    # A multipart upload's parts are checked one by one on complete.
    pending = Upload.objects.filter(
        status=Upload.Status.PENDING, part_size__isnull=True
    ).values_list("pk", "storage", "policy__method", "size")
    candidates = []
    for pk, storage, method, size in pending:
        try:
            with provider_errors():
                if not signer_for(storage).bounds_size(method, size is not None):
                    candidates.append(pk)
        except exceptions.UploadError:
            continue  # a storage not configured here: nothing to look at
    rejected = 0
    for pk in candidates:
        try:
            with transaction.atomic():
                upload = (
                    Upload.objects.select_for_update(skip_locked=True)
                    .filter(pk=pk, status=Upload.Status.PENDING)
                    .first()
                )
                if upload is None:
                    continue  # settled meanwhile, or being completed right now
                with provider_errors():
                    stored = signer_for(upload.storage).stat(keys.staging_key(upload.key))
                limit = upload.max_size if upload.size is None else upload.size
                if stored is None or stored.size <= limit:
                    continue
                why = "declared" if upload.size is not None else "allowed"
                reject(
                    upload,
                    [
                        reason(
                            "size",
                            f"The file is {stored.size} bytes, over the {limit} bytes {why}.",
                            limit,
                            stored.size,
                        )
                    ],
                )
                rejected += 1
        except Exception:  # noqa: BLE001  one bad storage must not stop the sweep
            logger.warning("Could not check pending upload %s", pk, exc_info=True)
    return rejected
