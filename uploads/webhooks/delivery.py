"""Sending deliveries: one attempt at a time, claimed so that two workers (or a worker and
``uploads_deliver_webhooks`` on another node) never send the same one at once; a 2xx answer
delivers it, anything else schedules the next attempt after a growing delay, until
``WEBHOOK_MAX_ATTEMPTS`` have failed."""

from __future__ import annotations

import http.client
import logging
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections, transaction
from django.db.models import QuerySet
from django.dispatch import Signal
from django.utils import timezone

from uploads.app_settings import app_settings
from uploads.webhooks.models import WebhookDelivery
from uploads.webhooks.signing import signature_header, signing_secrets

logger = logging.getLogger("uploads")

#: Sent with ``pk`` (a delivery's) and ``run_after`` (None: at once) when a delivery becomes
#: due; uploads.tasks hands it to a task backend that runs tasks on a worker.
scheduled = Signal()

#: Characters of an endpoint's answer kept in the log.
RESPONSE_KEPT = 1000
USER_AGENT = "django-upload-policies-webhooks"


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer (refused, timed out, not HTTP)
    body: str
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer that is not 2xx: the event is not re-sent elsewhere."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST ``body``; every network wait (connecting, each read) is bounded by
    ``WEBHOOK_TIMEOUT``, and only the first RESPONSE_KEPT bytes of the answer are read."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=app_settings.WEBHOOK_TIMEOUT) as response:
            return Answer(response.status, _text(response.read(RESPONSE_KEPT)))
    except urllib.error.HTTPError as err:
        return Answer(err.code, _text(err.read(RESPONSE_KEPT)))
    except (OSError, http.client.HTTPException, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        return Answer(None, "", f"{type(err).__name__}: {reason}"[:RESPONSE_KEPT])


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")[:RESPONSE_KEPT]


def retry_delay(failed_attempts: int) -> timedelta:
    """WEBHOOK_RETRY_DELAY after the first failure, doubled after each next one, at most
    WEBHOOK_RETRY_MAX_DELAY."""
    seconds = app_settings.WEBHOOK_RETRY_DELAY * 2 ** min(max(failed_attempts - 1, 0), 40)
    return timedelta(seconds=min(seconds, app_settings.WEBHOOK_RETRY_MAX_DELAY))


def lease() -> timedelta:
    """How long a claimed attempt keeps others off: past it, a worker that died while
    sending is taken to have failed, and the delivery is due again."""
    return timedelta(seconds=4 * app_settings.WEBHOOK_TIMEOUT + 30)


def due(now: datetime | None = None) -> QuerySet[WebhookDelivery]:
    """Pending deliveries whose time has come; those of an inactive endpoint wait for it."""
    return WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at__lte=now or timezone.now(),
        endpoint__is_active=True,
    )


def claim(pk: int, now: datetime) -> WebhookDelivery | None:
    """The delivery, if it is due and nobody else holds it, claimed for one attempt (its
    ``next_attempt_at`` moved past the lease)."""
    with transaction.atomic():
        row = (
            due(now)
            .select_for_update(skip_locked=True, of=("self",))
            .filter(pk=pk)
            .values("attempts")
            .first()
        )
        if row is None:
            return None
        # A compare-and-set as well as the lock: on SQLite, which has no row locks, two
        # senders that both read the row cannot both claim it.
        won = WebhookDelivery.objects.filter(
            pk=pk, attempts=row["attempts"], status=WebhookDelivery.Status.PENDING
        ).update(attempts=row["attempts"] + 1, last_attempt_at=now, next_attempt_at=now + lease())
        if not won:
            return None
    return WebhookDelivery.objects.select_related("endpoint").get(pk=pk)


def signed_request(delivery: WebhookDelivery) -> tuple[bytes, dict[str, str]]:
    """The body and headers of an attempt at the delivery, signed now. ImproperlyConfigured
    without the signing package, ValueError for a secret that is not base64."""
    body = delivery.body.encode()
    # Signed with the time of sending: receivers refuse timestamps more than minutes off.
    sent_at = datetime.now(UTC)
    secrets_ = signing_secrets(delivery.endpoint, timezone.now())
    return body, {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": delivery.event_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature_header(secrets_, delivery.event_id, sent_at, body),
    }


def send(delivery: WebhookDelivery) -> Answer:
    """One signed POST of the delivery's body to its endpoint."""
    try:
        body, headers = signed_request(delivery)
    except (ImproperlyConfigured, ValueError) as err:  # no package; a secret not base64
        return Answer(None, "", f"Could not sign: {err}")
    return post(delivery.endpoint.url, body, headers)


def attempt(pk: int, now: datetime | None = None) -> str:
    """Make one attempt at the delivery if it is due; returns what became of it: delivered,
    pending (to be retried), failed (given up), or skipped (not due, or held elsewhere)."""
    now = now or timezone.now()
    delivery = claim(pk, now)
    if delivery is None:
        return "skipped"
    answer = send(delivery)
    return record(delivery, answer, now)


def record(delivery: WebhookDelivery, answer: Answer, now: datetime) -> str:
    Status = WebhookDelivery.Status
    changes: dict[str, object] = {
        "last_response_status": answer.status,
        "last_response_body": answer.body,
        "last_error": answer.error,
    }
    if answer.delivered:
        changes |= {"status": Status.DELIVERED, "delivered_at": now, "next_attempt_at": None}
    elif delivery.attempts >= app_settings.WEBHOOK_MAX_ATTEMPTS:
        changes |= {"status": Status.FAILED, "next_attempt_at": None}
        logger.warning(
            "Webhook %s to %s failed %d times: given up",
            delivery.event_id,
            delivery.endpoint.url,
            delivery.attempts,
        )
    else:
        changes["next_attempt_at"] = now + retry_delay(delivery.attempts)
    # Only this attempt's claim: an attempt that outlived its lease, whose delivery another
    # worker claimed since, changes nothing.
    WebhookDelivery.objects.filter(
        pk=delivery.pk, attempts=delivery.attempts, status=Status.PENDING
    ).update(**changes)
    status = str(changes.get("status", Status.PENDING))
    if status == Status.PENDING:
        scheduled.send(sender=WebhookDelivery, pk=delivery.pk, run_after=changes["next_attempt_at"])
    return status


def send_due(now: datetime | None = None, limit: int = 1000, threads: int = 1) -> int:
    """Make one attempt at each due delivery (at most ``limit``), oldest first, ``threads``
    at a time (each thread on its own database connection; one on SQLite). Safe to run on
    several nodes at once. Returns how many attempts were made."""
    now = now or timezone.now()
    pks = list(due(now).order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
    # SQLite takes one writer at a time: threads would only wait on (and time out on) it.
    if threads <= 1 or connection.vendor == "sqlite":
        outcomes = [_attempt_logged(pk, now) for pk in pks]
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            outcomes = list(pool.map(partial(_attempt_in_thread, now=now), pks))
    return sum(outcome != "skipped" for outcome in outcomes)


def _attempt_in_thread(pk: int, now: datetime) -> str:
    try:
        return _attempt_logged(pk, now)
    finally:
        connections.close_all()  # this thread's own: a pool thread leaves none open


def _attempt_logged(pk: int, now: datetime) -> str:
    """attempt(), with a failure logged rather than raised: one bad delivery (a database
    error) must not stop the round. Its claim lapses after the lease, and it is due again."""
    try:
        return attempt(pk, now)
    except Exception:  # noqa: BLE001
        logger.exception("Webhook delivery %s: the attempt failed", pk)
        return "error"


def send_again(queryset: QuerySet[WebhookDelivery]) -> int:
    """Start the deliveries over, due now, with a new series of attempts (the admin's "Send
    again"). Returns how many."""
    now = timezone.now()
    with transaction.atomic():
        pks = list(queryset.values_list("pk", flat=True))
        WebhookDelivery.objects.filter(pk__in=pks).update(
            status=WebhookDelivery.Status.PENDING,
            attempts=0,
            next_attempt_at=now,
            delivered_at=None,
        )
        for pk in pks:
            transaction.on_commit(partial(announce, pk))
    return len(pks)


def announce(pk: int) -> None:
    """Tell the task backend that the delivery is due now."""
    scheduled.send(sender=WebhookDelivery, pk=pk)
