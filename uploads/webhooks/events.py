"""Events recorded once an upload's change commits (the upload signals are sent on commit):
one delivery per active endpoint that wants the event, sent later by a task or the
``uploads_deliver_webhooks`` command, never within the request that made the change."""

from __future__ import annotations

import json
import logging
import uuid
from functools import partial
from typing import Any

from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from uploads.models import Upload
from uploads.policies import wants_webhook
from uploads.services.upload_data import iso_datetime, upload_data
from uploads.signals import upload_completed, upload_deleted, upload_rejected, variants_made
from uploads.webhooks.delivery import announce
from uploads.webhooks.models import PING, Event, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger("uploads")


def new_event_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def body(event_type: str, data: dict[str, Any]) -> str:
    """The JSON sent: the envelope the Standard Webhooks specification suggests."""
    envelope = {"type": event_type, "timestamp": iso_datetime(timezone.now()), "data": data}
    return json.dumps(envelope, separators=(",", ":"))


def record(event_type: str, data: dict[str, Any], endpoints: list[WebhookEndpoint]) -> list[int]:
    """A pending delivery of the event to each endpoint, due now; each is handed to the task
    backend once recorded. Returns their ids."""
    if not endpoints:
        return []
    event_id, text, now = new_event_id(), body(event_type, data), timezone.now()
    with transaction.atomic():
        deliveries = WebhookDelivery.objects.bulk_create(
            WebhookDelivery(
                endpoint=endpoint,
                event_id=event_id,
                event_type=event_type,
                body=text,
                next_attempt_at=now,
            )
            for endpoint in endpoints
        )
        # A database that returns no ids from a bulk insert (MySQL) leaves them to the command.
        ids = [delivery.pk for delivery in deliveries if delivery.pk is not None]
        for pk in ids:
            transaction.on_commit(partial(announce, pk))
    return ids


def emit(event_type: str, data: dict[str, Any]) -> list[int]:
    """Record the event for every active endpoint that wants it."""
    endpoints = [e for e in WebhookEndpoint.objects.filter(is_active=True) if e.wants(event_type)]
    return record(event_type, data, endpoints)


def ping(endpoint: WebhookEndpoint) -> int:
    """A test event to one endpoint, whatever events it wants (sent while it is active)."""
    data = {"endpoint": endpoint.pk, "description": endpoint.description}
    return record(PING, data, [endpoint])[0]


def upload_event(upload: Upload, **extra: Any) -> dict[str, Any]:
    return {"upload": upload_data(upload), "ownerId": str(upload.owner_id), **extra}


def emit_for(upload: Upload, event_type: str, **extra: Any) -> list[int]:
    """``emit`` of the upload's event, described only when some endpoint wants it."""
    if not wants_webhook(upload, event_type):
        return []
    return emit(event_type, upload_event(upload, **extra))


@receiver(upload_completed, dispatch_uid="uploads.webhooks.completed")
def on_completed(upload: Upload, **_: Any) -> None:
    emit_for(upload, Event.COMPLETED)


@receiver(upload_rejected, dispatch_uid="uploads.webhooks.rejected")
def on_rejected(upload: Upload, reasons: list[dict[str, Any]] | None = None, **_: Any) -> None:
    emit_for(upload, Event.REJECTED, reasons=reasons or [])


@receiver(upload_deleted, dispatch_uid="uploads.webhooks.deleted")
def on_deleted(upload: Upload, **_: Any) -> None:
    emit_for(upload, Event.DELETED)


@receiver(variants_made, dispatch_uid="uploads.webhooks.variants_made")
def on_variants_made(upload: Upload, names: list[str] | None = None, **_: Any) -> None:
    emit_for(upload, Event.VARIANTS_MADE, variants=list(names or []))
