"""Refusing an upload: the reasons complete gives, and the rejection itself."""

from __future__ import annotations

from typing import Any

from uploads import keys
from uploads.models import Upload
from uploads.services.signing import provider_errors, signer_for
from uploads.signals import send_on_commit, upload_rejected


def reject(upload: Upload, reasons: list[dict[str, Any]]) -> None:
    """Delete the object, staged or copied, and mark the upload rejected (inside the
    caller's transaction)."""
    with provider_errors():
        signer = signer_for(upload.storage)
        signer.delete(keys.staging_key(upload.key))
        signer.delete(upload.key)
        for key in upload.variant_keys():  # made while it counted as completed
            signer.delete(key)
    upload.status = Upload.Status.REJECTED
    upload.rejection_reason = "; ".join(r["message"] for r in reasons)
    upload.verify_lease_until = None  # a background run's lease ends with it
    upload.save(update_fields=["status", "rejection_reason", "verify_lease_until", "updated_at"])
    send_on_commit(upload_rejected, Upload, upload=upload, reasons=reasons)


def reason(field: str, message: str, expected: Any, actual: Any) -> dict[str, Any]:
    return {
        "field": field,
        "code": f"{field}_mismatch",
        "message": message,
        "expected": expected,
        "actual": actual,
    }
