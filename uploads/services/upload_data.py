"""An upload described as the API describes it, as plain JSON data (no DRF): what webhook
events carry. tests/test_webhooks.py holds it equal to the API's answer."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from django.utils import timezone

from uploads.models import Upload
from uploads.services.manage import public_url


def upload_data(upload: Upload, *, variants: bool = True) -> dict[str, Any]:
    """The API's upload answer (UploadSerializer) without ``fieldValue``, which is issued
    to one user; ``variants``: with the URLs of its type's variants (a query or two)."""
    zone = timezone.get_current_timezone()  # once, not for each date
    data: dict[str, Any] = {
        "id": str(upload.id),
        "type": upload.policy.name,
        "status": upload.status,
        "key": upload.key,
        "contentType": upload.verified_content_type or upload.content_type,
        "size": upload.verified_size if upload.verified_size is not None else upload.size,
        "sha256": upload.verified_sha256 or upload.sha256 or None,
        "fileName": upload.file_name,
        "publicUrl": public_url(upload),
        "expiresAt": iso_datetime(upload.expires_at, zone),
        "createdAt": iso_datetime(upload.created_at, zone),
        "completedAt": iso_datetime(upload.completed_at, zone) if upload.completed_at else None,
        "rejectionReason": upload.rejection_reason,
        "width": upload.width,
        "height": upload.height,
        "isAnimated": upload.is_animated,
        "pageCount": upload.page_count,
        "duration": upload.duration,
    }
    if variants:
        data["variants"] = upload.variants.urls()
    return data


def iso_datetime(value: datetime, zone: tzinfo | None = None) -> str:
    """ISO 8601 in the current time zone (``zone``, when the caller has it), UTC written "Z"
    (as DRF writes it by default)."""
    text = timezone.localtime(value, zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
