"""An upload seen as a file, the way Django shows a FileField's value (``FieldFile``).

``upload.file`` has the stored object's ``name`` (its key in the storage), ``storage``,
``url``, ``size``, ``content_type``, ``width``/``height`` and ``open()``; ``upload.url`` and
``upload.open()`` are shortcuts. Only a completed upload is a file: any other (pending,
verifying, rejected, expired, deleted) is falsy, has no URL and cannot be opened, so that a
template or a thumbnail library never serves what was not verified.

A public upload's URL is its public one; a private upload's is a download URL signed afresh
on each read, valid for ``UPLOADS['DOWNLOAD_EXPIRY']`` seconds.
"""

from __future__ import annotations

import logging
from typing import IO, TYPE_CHECKING, Any

from django.core.files.storage import Storage

from uploads import content_types, exceptions, keys
from uploads.app_settings import app_settings
from uploads.signers import SignerError, get_signer

if TYPE_CHECKING:
    from uploads.models import Upload

logger = logging.getLogger("uploads")

COMPLETED = "completed"  # Upload.Status.COMPLETED, without importing the model


def signed_download(upload: Upload) -> str:
    """A GET URL of the upload's object, valid for DOWNLOAD_EXPIRY seconds. Raises
    SignerError. Files other than raster images come as attachments (never displayed
    inline)."""
    content_type = upload.verified_content_type or upload.content_type
    attachment_name = None
    if not content_types.is_raster_image(content_type):
        attachment_name = keys.attachment_name(upload.file_name, upload.pk, content_type)
    return get_signer(upload.storage).presign_download(
        upload.key,
        expires_in=app_settings.DOWNLOAD_EXPIRY,
        content_type=content_type,
        attachment_name=attachment_name,
    )


class UploadFile:
    """A read-only file view of one upload (see the module's docstring)."""

    def __init__(self, upload: Upload) -> None:
        self.upload = upload

    def __bool__(self) -> bool:
        return self.upload.status == COMPLETED

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<UploadFile: {self.name or '(not completed)'}>"

    @property
    def name(self) -> str:
        """The object's name in its storage ("" for an upload that is not completed), as
        FieldFile.name: what a thumbnail library reads with ``storage``."""
        return self.upload.key if self else ""

    @property
    def file_name(self) -> str:
        """The name the uploader gave the file, for display."""
        return self.upload.file_name

    @property
    def storage(self) -> Storage:
        storage: Storage = get_signer(self.upload.storage).storage
        return storage

    @property
    def url(self) -> str | None:
        """The public URL of a public upload, a freshly signed short-lived one of a private
        upload, None for an upload that is not completed (or when its storage cannot sign
        now: logged)."""
        if not self:
            return None
        try:
            if self.upload.is_public:
                return get_signer(self.upload.storage).public_url(self.upload.key)
            return signed_download(self.upload)
        except SignerError as err:
            logger.error(
                "No URL for upload %s from storage %r: %s", self.upload.pk, self.upload.storage, err
            )
            return None

    @property
    def size(self) -> int | None:
        """The size complete found in storage."""
        return self.upload.verified_size if self else None

    @property
    def content_type(self) -> str:
        return self.upload.verified_content_type or self.upload.content_type

    @property
    def width(self) -> int | None:
        return getattr(self.upload, "width", None)

    @property
    def height(self) -> int | None:
        return getattr(self.upload, "height", None)

    def open(self, mode: str = "rb") -> IO[bytes]:
        """A readable binary stream of the stored object (close it, or use ``with``).
        Raises InvalidState for an upload that is not completed, and ValueError for any
        mode but "rb": an upload's bytes change only through complete."""
        if mode != "rb":
            raise ValueError(f"Uploads are read-only: open them with mode 'rb', not {mode!r}.")
        if not self:
            raise exceptions.InvalidState(
                f"Only completed uploads can be opened; this one is {self.upload.status}.",
                vars={"status": self.upload.status},
            )
        stream: Any = self.storage.open(self.upload.key, "rb")
        return stream  # type: ignore[no-any-return]
