"""What the services raise. The API layer alone turns these into HTTP answers."""

from __future__ import annotations

from typing import Any


class UploadError(Exception):
    """A refusal with a stable code, such as ``upload.invalid_content_type``."""

    code = "upload.error"
    default_message = "The upload was refused."

    def __init__(
        self,
        message: str | None = None,
        *,
        vars: dict[str, Any] | None = None,
        details: list[Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.vars = vars or {}
        self.details = details or []
        super().__init__(self.message)


class InvalidType(UploadError):
    code = "upload.invalid_type"
    default_message = "There is no active upload type of that name."


class InvalidContentType(UploadError):
    code = "upload.invalid_content_type"
    default_message = "This content type is not allowed for this upload type."


class InvalidSize(UploadError):
    code = "upload.invalid_size"
    default_message = "The size must be a positive whole number of bytes."


class TooLarge(UploadError):
    code = "upload.too_large"
    default_message = "The file is larger than this upload type allows."


class QuotaExceeded(UploadError):
    code = "upload.quota_exceeded"
    default_message = "You have too many unfinished uploads. Complete or delete some first."


class InvalidChecksum(UploadError):
    code = "upload.invalid_checksum"
    default_message = "sha256 must be the base64 of a 32-byte SHA-256 digest."


class NotFound(UploadError):
    code = "upload.not_found"
    default_message = "No such upload."


class NotUploaded(UploadError):
    code = "upload.not_uploaded"
    default_message = "The file has not arrived in storage yet."


class InvalidState(UploadError):
    code = "upload.invalid_state"
    default_message = "The upload cannot do this in its current state."


class Expired(UploadError):
    code = "upload.expired"
    default_message = "The upload URL expired before the file arrived."


class VerificationFailed(UploadError):
    code = "upload.verification_failed"
    default_message = "The stored file does not match the upload."


class NotConfigured(UploadError):
    code = "upload.not_configured"
    default_message = "This upload type's storage is not configured on the server."


class StorageUnavailable(UploadError):
    code = "storage.unavailable"
    default_message = "The storage provider did not answer. Try again shortly."


class ServiceUnavailable(UploadError):
    """A service the server itself depends on (the shared cache) did not answer."""

    code = "service.unavailable"
    default_message = "The service is briefly unavailable. Try again shortly."


class MultipartUnsupported(UploadError):
    code = "upload.multipart_unsupported"
    default_message = "This upload type's storage cannot take multipart uploads."


class PartsMissing(UploadError):
    code = "upload.parts_missing"
    default_message = "Some parts of the file have not arrived in storage yet."


class InvalidParts(UploadError):
    """Part numbers outside the upload's plan: a malformed request, as the serializers'."""

    code = "validation.failed"
    default_message = "The request body is not valid."
