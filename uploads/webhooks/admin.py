"""The admin of webhooks: endpoints (events wanted, secret rotation, a test ping) and the
delivery log (status, answer, attempts; "Send again"). Imported by uploads.admin."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timezone import localtime

from uploads.webhooks import events
from uploads.webhooks.delivery import send_again
from uploads.webhooks.models import Event, WebhookDelivery, WebhookEndpoint
from uploads.webhooks.signing import rotate


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
        label="URL",
        max_length=1000,
        assume_scheme="https",
        help_text="Where events are POSTed (https in production).",
    )
    events = forms.MultipleChoiceField(
        choices=Event.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="The events sent to this endpoint.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "is_active"]

    def clean_url(self) -> str:
        url = str(self.cleaned_data["url"])
        if not url.startswith(("http://", "https://")):
            raise forms.ValidationError("An http:// or https:// URL.")
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "description", "is_active", "event_list", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "description"]
    readonly_fields = ["secret", "previous_secret_windows", "created_at", "updated_at"]
    actions = ["rotate_secret", "send_ping"]

    @admin.display(description="events")
    def event_list(self, endpoint: WebhookEndpoint) -> str:
        return ", ".join(endpoint.events)

    @admin.display(description="previous secrets still signing")
    def previous_secret_windows(self, endpoint: WebhookEndpoint) -> str:
        return (
            "; ".join(
                f"{item['secret'][:12]}... until {item['until']}"
                for item in endpoint.previous_secrets
            )
            or "none"
        )

    @admin.action(description="Rotate the signing secret (the old one keeps signing a while)")
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            until = rotate(endpoint)
            self.message_user(
                request,
                f"{endpoint}: new secret {endpoint.secret}. Events are signed with the old one "
                f"too until {date_format(localtime(until), 'DATETIME_FORMAT')}: give the "
                "receiver the new one before then.",
            )

    @admin.action(description="Send a test ping")
    def send_ping(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            events.ping(endpoint)
        self.message_user(
            request, f"Queued a webhook.ping to {queryset.count()} endpoints: see the deliveries."
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "event_id",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_response_status",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "event_type", "endpoint"]
    search_fields = ["event_id", "body"]
    list_select_related = ["endpoint"]
    actions = ["send_again"]
    fields = (
        "endpoint",
        "event_id",
        "event_type",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "delivered_at",
        "last_response_status",
        "last_response_body",
        "last_error",
        "payload",
        "created_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="payload")
    def payload(self, delivery: WebhookDelivery) -> SafeString:
        try:
            text = json.dumps(json.loads(delivery.body), indent=2)
        except ValueError:
            text = delivery.body
        return format_html("<pre>{}</pre>", text)

    def has_send_again_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("uploads.change_webhookdelivery")

    @admin.action(description="Send again", permissions=["send_again"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = send_again(queryset)
        self.message_user(request, f"{count} deliveries will be sent again.")
