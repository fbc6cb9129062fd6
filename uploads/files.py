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
from collections.abc import Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

from django.core.files.storage import Storage

from uploads import content_types, exceptions, keys
from uploads.app_settings import app_settings
from uploads.signers import SignerError, get_signer

if TYPE_CHECKING:
    from uploads.models import Upload

logger = logging.getLogger("uploads")

COMPLETED = "completed"  # Upload.Status.COMPLETED, without importing the model
#: The variant that the admin and the form widget show as an upload's preview, where its
#: type declares one.
PREVIEW_VARIANT = "thumb"


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

    def variant(self, name: str) -> VariantFile:
        """The variant ``name`` (see VariantFile); UnknownVariant for an undeclared name."""
        return self.variants[name]

    @property
    def variants(self) -> Variants:
        """The variants the upload's type declares, by name (a mapping, for templates:
        ``{{ upload.variants.thumb.url }}``). Read once per upload object."""
        cached: Variants | None = getattr(self.upload, "_variants_cache", None)
        if cached is None:
            cached = Variants(self.upload)
            self.upload._variants_cache = cached  # type: ignore[attr-defined]
        return cached

    def none_made_yet(self) -> None:
        """Known without asking: none of the declared variants is made yet (the upload
        completed just now, and they wait for a worker)."""
        self.upload._variants_cache = Variants(self.upload, none_made=True)  # type: ignore[attr-defined]


class UnknownVariant(KeyError):
    """The upload's type declares no variant of that name."""

    def __init__(self, name: str, declared: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.declared = declared

    def __str__(self) -> str:
        known = ", ".join(self.declared) if self.declared else "none"
        return f"No variant {self.name!r} is declared for this upload's type (declared: {known})."


class VariantFile:
    """One declared variant of an upload. ``ready`` only when it was made from the upload
    as declared now, and the upload is completed: otherwise ``url`` is None (never the
    original instead) and ``open()`` raises InvalidState. A public upload's variant has its
    public URL; a private one's is signed afresh on each read."""

    def __init__(self, upload: Upload, name: str, digest: str, record: Any | None) -> None:
        self.upload = upload
        self.name = name
        self.digest = digest
        self.record = record

    def __repr__(self) -> str:
        return f"<VariantFile: {self.name} ({'ready' if self.ready else 'not ready'})>"

    def __bool__(self) -> bool:
        return self.ready

    @property
    def ready(self) -> bool:
        r = self.record
        return bool(
            self.upload.status == COMPLETED
            and r is not None
            and r.status == "ready"
            and r.digest == self.digest
            and r.key
        )

    @property
    def state(self) -> str:
        """ready; pending (not made yet, or made from a declaration since changed: a
        rebuild makes it); failed (the message is ``error``); or unavailable (the upload is
        not completed)."""
        if self.upload.status != COMPLETED:
            return "unavailable"
        if self.ready:
            return "ready"
        r = self.record
        if r is not None and r.status == "failed" and r.digest == self.digest:
            return "failed"
        return "pending"

    @property
    def error(self) -> str:
        return str(self.record.error) if self.state == "failed" and self.record else ""

    @property
    def key(self) -> str:
        return str(self.record.key) if self.ready and self.record else ""

    @property
    def url(self) -> str | None:
        if not self.ready:
            return None
        try:
            signer = get_signer(self.upload.storage)
            if self.upload.is_public:
                return signer.public_url(self.key)
            return signer.presign_download(
                self.key,
                expires_in=app_settings.DOWNLOAD_EXPIRY,
                content_type=self.content_type,
                attachment_name=None,
            )
        except SignerError as err:
            logger.error("No URL for variant %s of upload %s: %s", self.name, self.upload.pk, err)
            return None

    @property
    def width(self) -> int | None:
        return int(self.record.width) if self.ready and self.record else None

    @property
    def height(self) -> int | None:
        return int(self.record.height) if self.ready and self.record else None

    @property
    def content_type(self) -> str:
        return str(self.record.content_type) if self.ready and self.record else ""

    @property
    def size(self) -> int | None:
        return int(self.record.size) if self.ready and self.record else None

    def open(self, mode: str = "rb") -> IO[bytes]:
        if mode != "rb":
            raise ValueError(f"Variants are read-only: open them with mode 'rb', not {mode!r}.")
        if not self.ready:
            raise exceptions.InvalidState(
                f"The variant {self.name!r} is {self.state}.", vars={"variant": self.state}
            )
        stream: Any = get_signer(self.upload.storage).storage.open(self.key, "rb")
        return stream  # type: ignore[no-any-return]


class Variants(Mapping[str, VariantFile]):
    """The variants an upload's type declares, by name, in the declared order."""

    def __init__(self, upload: Upload, *, none_made: bool = False) -> None:
        self.upload = upload
        # The declarations of the revision read with the row where there is one (complete),
        # else the type's own (prefetched with a list of uploads).
        specs = upload.declared_variants
        if specs is None:
            specs = tuple(upload.policy.variant_specs.all())
        # Only a completed upload's variants are served: no query for another's.
        records = (
            {r.name: r for r in upload.variant_records.all()}
            if specs and upload.status == COMPLETED and not none_made
            else {}
        )
        self._files = {
            spec.name: VariantFile(upload, spec.name, spec.digest, records.get(spec.name))
            for spec in specs
        }

    def __getitem__(self, name: str) -> VariantFile:
        try:
            return self._files[name]
        except KeyError:
            raise UnknownVariant(name, list(self._files)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def urls(self) -> dict[str, str | None]:
        """Each declared variant's URL, None where it is not ready."""
        return {name: file.url for name, file in self._files.items()}
