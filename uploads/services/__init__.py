"""The app's logic, free of HTTP and DRF: views and commands call these."""

from uploads.services.complete import complete_upload, verify_stored_object
from uploads.services.manage import (
    delete_upload,
    download_url,
    get_upload,
    owned_uploads,
    public_url,
)
from uploads.services.presign import PresignRequest, PresignResult, presign_upload

__all__ = [
    "PresignRequest",
    "PresignResult",
    "complete_upload",
    "delete_upload",
    "download_url",
    "get_upload",
    "owned_uploads",
    "presign_upload",
    "public_url",
    "verify_stored_object",
]
