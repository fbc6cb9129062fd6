"""Secrets and signatures, to the Standard Webhooks specification (the ``standardwebhooks``
package signs): ``whsec_`` secrets made by the server, and during a rotation one ``v1,``
signature per secret still in use, space-separated in ``webhook-signature``."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from uploads.app_settings import app_settings

INSTALL_HINT = 'pip install "django-upload-policies[webhooks]" (the standardwebhooks package)'
#: Bytes of randomness in a secret (the specification asks for 24 to 64).
SECRET_BYTES = 32


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def webhook_class() -> Any:
    """standardwebhooks.Webhook, or ImproperlyConfigured saying how to install it."""
    try:
        from standardwebhooks import Webhook
    except ImportError as err:
        raise ImproperlyConfigured(f"Signing webhooks needs {INSTALL_HINT}.") from err
    return Webhook


def signing_secrets(endpoint: Any, now: datetime) -> list[str]:
    """The endpoint's current secret, then the previous ones whose window is still open."""
    return [endpoint.secret, *(item["secret"] for item in open_windows(endpoint, now))]


def open_windows(endpoint: Any, now: datetime) -> list[dict[str, str]]:
    """The endpoint's previous secrets that still sign at ``now``."""
    return [
        item for item in endpoint.previous_secrets if datetime.fromisoformat(item["until"]) > now
    ]


def signature_header(secrets_: list[str], message_id: str, timestamp: datetime, body: bytes) -> str:
    webhook = webhook_class()
    return " ".join(webhook(secret).sign(message_id, timestamp, body) for secret in secrets_)


def rotate(endpoint: Any, now: datetime | None = None) -> datetime:
    """Give the endpoint a new secret (saved); the old one keeps signing for
    ``WEBHOOK_SECRET_OVERLAP`` seconds, and ones whose window closed are dropped. Returns
    when the old one stops signing."""
    now = now or timezone.now()
    until = now + timedelta(seconds=app_settings.WEBHOOK_SECRET_OVERLAP)
    kept = open_windows(endpoint, now)
    endpoint.previous_secrets = [{"secret": endpoint.secret, "until": until.isoformat()}, *kept]
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret", "previous_secrets", "updated_at"])
    return until
