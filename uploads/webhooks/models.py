"""Webhook endpoints (edited in the admin) and the deliveries made to them (the log)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from uploads.webhooks.signing import new_secret


class Event(models.TextChoices):
    COMPLETED = "upload.completed", _("upload completed")
    REJECTED = "upload.rejected", _("upload rejected")
    DELETED = "upload.deleted", _("upload deleted")
    VARIANTS_MADE = "upload.variants_made", _("variants made")


#: Sent by the admin's "Send a test ping" to an endpoint, whatever events it wants.
PING = "webhook.ping"


class WebhookEndpoint(models.Model):
    url = models.URLField(
        _("URL"), max_length=1000, help_text=_("Where events are POSTed (https in production).")
    )
    description = models.CharField(_("description"), max_length=200, blank=True)
    events = models.JSONField(
        _("events"), default=list, help_text=_("The event types sent to this endpoint.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    secret = models.CharField(
        _("signing secret"),
        max_length=100,
        default=new_secret,
        editable=False,
        help_text=_("Give it to the receiver; it verifies each event's signature with it."),
    )
    # Secrets replaced by a rotation, each still signing until its "until" (an ISO datetime):
    # [{"secret": "whsec_...", "until": "..."}].
    previous_secrets = models.JSONField(default=list, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["url"]
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return self.description or self.url

    def wants(self, event_type: str) -> bool:
        return self.is_active and event_type in self.events


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("pending")  # to be sent at next_attempt_at
        DELIVERED = "delivered", _("delivered")  # the endpoint answered 2xx
        FAILED = "failed", _("failed")  # every attempt failed; "Send again" restarts it

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    # The webhook-id header: the same for every attempt, and for every endpoint of one event.
    event_id = models.CharField(_("event id"), max_length=40)
    event_type = models.CharField(_("event"), max_length=64)
    # The request body exactly as sent (the signature covers these bytes).
    body = models.TextField()
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_response_status = models.PositiveIntegerField(null=True, blank=True)
    last_response_body = models.TextField(blank=True)  # truncated
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="webhook_delivery_due",
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["event_id", "endpoint"], name="webhook_delivery_once_per_endpoint"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"
