"""The lease a background verification holds on its upload, so that a run whose worker died
is noticed within minutes and no two runs settle the same upload.

A run first claims the upload: the claim bumps ``verify_attempt`` (the run's number) and sets
``verify_lease_until``. While the run reads and hashes, a heartbeat thread renews the lease
every quarter of ``VERIFY_LEASE``; a renewal (and the settling) only counts for the run
whose number is still the upload's. A worker killed mid-run stops renewing: once the lease
ran out, uploads_cleanup revokes it (the number moves on, so the old run, were it to wake
up, can settle nothing) and enqueues a new run.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from uploads.app_settings import app_settings
from uploads.models import Upload

logger = logging.getLogger("uploads")

UploadId = uuid.UUID | str


class LeaseLost(Exception):
    """Another run holds the upload now: this one must settle nothing."""


def _until(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + timedelta(seconds=app_settings.VERIFY_LEASE)


def claim(upload_id: UploadId) -> int | None:
    """Claim a verifying upload for this run; its number, or None when the upload is not
    verifying (settled, deleted, missing) or another run holds a live lease on it."""
    now = timezone.now()
    with transaction.atomic():
        upload = (
            Upload.objects.select_for_update()
            .filter(pk=upload_id, status=Upload.Status.VERIFYING)
            .only("pk", "verify_attempt", "verify_lease_until")
            .first()
        )
        if upload is None:
            return None
        if upload.verify_lease_until is not None and upload.verify_lease_until > now:
            return None
        attempt = upload.verify_attempt + 1
        Upload.objects.filter(pk=upload.pk).update(
            verify_attempt=attempt, verify_lease_until=_until(now)
        )
    return attempt


def renew(upload_id: UploadId, attempt: int) -> bool:
    """Extend this run's lease; False when the run lost it (revoked, or the upload was
    settled or deleted meanwhile)."""
    return (
        Upload.objects.filter(
            pk=upload_id, status=Upload.Status.VERIFYING, verify_attempt=attempt
        ).update(verify_lease_until=_until())
        == 1
    )


def lapsed(now: datetime | None = None) -> QuerySet[Upload]:
    """Verifying uploads whose run stopped renewing its lease: its worker died or froze."""
    return Upload.objects.filter(
        status=Upload.Status.VERIFYING, verify_lease_until__lt=now or timezone.now()
    )


def revoke(upload_id: UploadId, attempt: int, now: datetime | None = None) -> bool:
    """Take a lapsed lease from run ``attempt``, leaving the upload to be claimed by a new
    run; False when that run renewed it, or another took it, meanwhile."""
    return (
        Upload.objects.filter(
            pk=upload_id,
            status=Upload.Status.VERIFYING,
            verify_attempt=attempt,
            verify_lease_until__lt=now or timezone.now(),
        ).update(verify_attempt=F("verify_attempt") + 1, verify_lease_until=None)
        == 1
    )


def retry_at(retries: int, now: datetime | None = None) -> datetime:
    """When to check an upload again after ``retries`` tries whose checks could not decide
    (from 1): CHECK_RETRY_DELAY, doubled each time, up to CHECK_RETRY_MAX_DELAY."""
    delay = min(
        app_settings.CHECK_RETRY_DELAY * 2 ** min(max(retries - 1, 0), 30),
        app_settings.CHECK_RETRY_MAX_DELAY,
    )
    return (now or timezone.now()) + timedelta(seconds=delay)


def postpone(upload_id: UploadId, attempt: int) -> datetime | None:
    """Run ``attempt`` found that a check cannot decide now: it keeps the lease until the
    next try (``retry_at``), when the sweep or a deferred task hands the upload to a new
    run. Returns that time; None when the run lost the upload meanwhile."""
    with transaction.atomic():
        upload = (
            Upload.objects.select_for_update()
            .filter(pk=upload_id, status=Upload.Status.VERIFYING, verify_attempt=attempt)
            .only("pk", "check_retries")
            .first()
        )
        if upload is None:
            return None
        until = retry_at(upload.check_retries + 1)
        Upload.objects.filter(pk=upload.pk).update(
            check_retries=upload.check_retries + 1, verify_lease_until=until
        )
    return until


class Heartbeat:
    """Renews a run's lease in a thread of its own while the run works; ``check`` (before a
    step that must not be done twice) renews at once and raises LeaseLost if it was lost."""

    def __init__(self, upload_id: UploadId, attempt: int) -> None:
        self.upload_id = upload_id
        self.attempt = attempt
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="uploads-lease")

    def check(self) -> None:
        if self.lost or not renew(self.upload_id, self.attempt):
            self.lost = True
            raise LeaseLost(f"Run {self.attempt} of upload {self.upload_id} lost its lease.")

    def _run(self) -> None:
        try:
            while not self._stop.wait(app_settings.VERIFY_LEASE / 4):
                try:
                    if not renew(self.upload_id, self.attempt):
                        self.lost = True
                        return
                except Exception:  # noqa: BLE001  a database blip: the next beat tries again
                    logger.warning("Could not renew the lease of %s", self.upload_id, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
