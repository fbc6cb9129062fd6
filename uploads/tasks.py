"""Background work, on Django's tasks framework: ``django.tasks`` where Django has it (6.0+),
the ``django-tasks`` backport otherwise. The project's ``settings.TASKS`` picks the backend
(the immediate one runs a task at once, in the process that enqueues it)."""

from __future__ import annotations

import logging

from uploads.services.complete import verify_deferred

try:
    from django.tasks import task
except ImportError:  # Django 5.2
    from django_tasks import task  # type: ignore[no-redef]

logger = logging.getLogger("uploads")


@task()
def verify_upload(upload_id: str) -> str:
    """Verify a ``verifying`` upload and settle it (completed, or rejected with its object
    deleted). Safe to run more than once: only the first settles it."""
    return verify_deferred(upload_id)


def enqueue_verification(upload_id: str) -> None:
    """Enqueue ``verify_upload``; a backend that refuses it leaves the upload verifying,
    which uploads_cleanup settles after ``VERIFY_TASK_GRACE``."""
    try:
        verify_upload.enqueue(upload_id)
    except Exception:  # noqa: BLE001  the sweep is the fallback; complete has answered
        logger.exception("Could not enqueue the verification of upload %s", upload_id)
