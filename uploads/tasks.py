"""Background work, on Django's tasks framework: ``django.tasks`` where Django has it (6.0+),
the ``django-tasks`` backport otherwise. The project's ``settings.TASKS`` picks the backend
(the immediate one runs a task at once, in the process that enqueues it)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.dispatch import receiver
from django.utils import timezone

from uploads.models import Upload
from uploads.services import variants
from uploads.services.complete import verification_requested, verify_deferred
from uploads.signals import upload_completed
from uploads.signers.deadline import storage_deadline
from uploads.webhooks import delivery

try:
    from django.tasks import TaskResultStatus, task
except ImportError:  # Django 5.2
    from django_tasks import TaskResultStatus, task  # type: ignore[no-redef,assignment]

logger = logging.getLogger("uploads")

#: What a run whose lease lapsed is marked with in django-tasks-db's table.
LOST_RUN = "uploads.services.lease.LeaseLost"


@task()
def verify_upload(upload_id: str) -> str:
    """Verify a ``verifying`` upload and settle it (completed, or rejected with its object
    deleted). Safe to run more than once, and at once: only the run holding the upload's
    lease settles it."""
    # Not bound by a request's storage deadline, even when the immediate backend runs it
    # within one: a large file's copy takes STORAGE_COPY_TIMEOUT.
    with storage_deadline(None):
        return verify_deferred(upload_id)


@receiver(verification_requested, dispatch_uid="uploads.enqueue_verification")
def _on_verification_requested(upload_id: str, run_after: datetime | None = None, **_: Any) -> None:
    enqueue_verification(upload_id, run_after)


def enqueue_verification(upload_id: str, run_after: datetime | None = None) -> None:
    """Enqueue ``verify_upload`` (to run after ``run_after``, a retry of checks that could
    not decide: only on a backend that defers tasks; on others uploads_cleanup hands the
    upload to a new run once its lease lapses then); a backend that refuses it leaves the
    upload verifying, which uploads_cleanup settles after ``VERIFY_TASK_GRACE``."""
    try:
        if run_after is None:
            verify_upload.enqueue(upload_id)
        elif verify_upload.get_backend().supports_defer:
            # A second late: claim refuses a run while the lease it waits for holds.
            verify_upload.using(run_after=run_after + timedelta(seconds=1)).enqueue(upload_id)
    except Exception:  # noqa: BLE001  the sweep is the fallback; complete has answered
        logger.exception("Could not enqueue the verification of upload %s", upload_id)


@task()
def deliver_webhook(delivery_id: int) -> str:
    """One attempt at a webhook delivery, if it is due (see uploads.webhooks.delivery)."""
    return delivery.attempt(delivery_id)


@receiver(delivery.scheduled, dispatch_uid="uploads.enqueue_webhook")
def _on_delivery_scheduled(pk: int, run_after: datetime | None = None, **_: Any) -> None:
    enqueue_delivery(pk, run_after)


def enqueue_delivery(pk: int, run_after: datetime | None = None) -> None:
    """Hand the delivery to a backend that runs tasks on a worker. A backend that cannot
    defer a task (the immediate one) would send it within the request that made the event:
    there, and wherever enqueueing fails, ``uploads_deliver_webhooks`` sends due ones."""
    backend = deliver_webhook.get_backend()
    if not backend.supports_defer:
        return
    try:
        (deliver_webhook.using(run_after=run_after) if run_after else deliver_webhook).enqueue(pk)
    except Exception:  # noqa: BLE001  the command is the fallback
        logger.exception("Could not enqueue webhook delivery %s", pk)


@task()
def make_variants(upload_id: str, rebuild: bool = False) -> list[str]:
    """Make the completed upload's missing and stale variants (all with ``rebuild``) and
    return the names made. Safe to run more than once, and at once."""
    with storage_deadline(None):
        return variants.make_variants(upload_id, rebuild=rebuild)


@receiver(upload_completed, dispatch_uid="uploads.enqueue_variants")
def _on_upload_completed(upload: Upload, **_: Any) -> None:
    if variants.has_variants(upload) and (
        _enqueued_variants(str(upload.pk)) == TaskResultStatus.READY
    ):
        # Waiting for a worker: none made yet, and the upload (completed just now) has no
        # older ones. Its answer need not ask the database for them.
        upload.file.none_made_yet()


def enqueue_variants(upload_id: str, *, rebuild: bool = False) -> bool:
    """Enqueue ``make_variants``; a backend that refuses it is logged (``uploads_variants``
    makes what is missing). Returns whether it was enqueued."""
    return _enqueued_variants(upload_id, rebuild) is not None


def _enqueued_variants(upload_id: str, rebuild: bool = False) -> TaskResultStatus | None:
    """``enqueue_variants``: the task's status once enqueued (READY: waiting for a worker),
    None when the backend refused it."""
    try:
        return make_variants.enqueue(upload_id, rebuild).status
    except Exception:  # noqa: BLE001  the upload is complete; its variants can be rebuilt
        logger.exception("Could not enqueue the variants of upload %s", upload_id)
        return None


def fail_lost_runs(upload_id: uuid.UUID | str) -> int:
    """Mark FAILED the rows that django-tasks-db (the database backend) left RUNNING for the
    upload's verification whose lease lapsed: that backend never notices a worker that
    died. Other backends keep no such rows; returns how many were marked."""
    if not apps.is_installed("django_tasks_db"):
        return 0
    from django_tasks_db.models import DBTaskResult

    running = DBTaskResult.objects.filter(
        status="RUNNING", task_path=verify_upload.module_path
    ).only("pk", "args_kwargs")
    lost = [row.pk for row in running if list(row.args_kwargs.get("args", [])) == [str(upload_id)]]
    return DBTaskResult.objects.filter(pk__in=lost, status="RUNNING").update(
        status="FAILED",
        finished_at=timezone.now(),
        exception_class_path=LOST_RUN,
        traceback="Its worker stopped renewing the upload's lease (VERIFY_LEASE): it died or "
        "froze. uploads_cleanup enqueued a new run.",
    )
