"""The one interface every storage provider implements.

A signer wraps one configured Django storage (an alias of ``settings.STORAGES``) and uses
that storage's own credentials and client. It signs URLs that let a client write or read
exactly one object, and it reads back the facts of a stored object for the complete step.

Provider exceptions never leave a signer raw: they are wrapped in ``SignerError`` (or
``SignerUnavailable`` for failures worth retrying later) with the original as ``__cause__``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from django.core.files.storage import Storage
from django.utils.encoding import filepath_to_uri

from uploads.app_settings import app_settings
from uploads.signers.deadline import remaining


class SignerError(Exception):
    """The provider refused or failed."""


class SignerUnavailable(SignerError):
    """The provider failed or timed out after retries; the same call may work later."""


class StorageDeadlineExceeded(SignerUnavailable):
    """The request's storage deadline passed (``UPLOADS['REQUEST_STORAGE_DEADLINE']``)."""


class SourceChanged(SignerError):
    """The object to copy is no longer the version that was read (``copy_verified``)."""


class SignerNotConfigured(SignerError):
    """The storage or its signer cannot be used as configured. The message names the fix
    and never a secret."""


@dataclass(frozen=True)
class UploadSpec:
    """Everything a signer may bind into an upload URL."""

    key: str
    content_type: str
    expires_at: datetime
    max_size: int
    size: int | None = None
    sha256: str | None = None  # base64 of the 32-byte digest
    metadata: dict[str, str] = field(default_factory=dict)
    method: str = "PUT"
    public: bool = False
    #: A multipart upload assembled at the upload's own key (``Signer.assembles_at_key``):
    #: the completed object's headers, set when it starts, since no copy sets them later.
    headers: ObjectHeaders | None = None
    #: A part of a multipart upload: where its bytes begin in the assembled object.
    part_offset: int = 0


@dataclass(frozen=True)
class PresignedUpload:
    """What the client needs: send ``method`` to ``url`` with exactly ``headers`` (and, for
    a POST policy, ``fields`` before the file). A relative ``url`` is made absolute by the
    API against the request's host."""

    url: str
    method: str = "PUT"
    headers: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] | None = None


@dataclass(frozen=True)
class StoredObject:
    """Facts a signer read from the provider about an object."""

    size: int
    content_type: str | None = None
    # base64 sha256, when the provider verified and kept one (else None).
    sha256: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    # The version the provider names it by (S3's ETag), where it gives one.
    etag: str | None = None


@dataclass(frozen=True)
class ObjectHeaders:
    """What the server sets on a completed object, whatever the uploader sent."""

    content_type: str
    content_disposition: str | None = None
    cache_control: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredPart:
    """One part of a multipart upload, as the storage reports it."""

    number: int  # from 1
    size: int
    etag: str  # the provider's name for the part (S3's ETag, Azure's block id)


MiB = 1024 * 1024


@dataclass(frozen=True)
class MultipartId:
    """The id of a multipart upload for providers that keep none of their own (Azure's
    blocks, GCS's part objects): a random token that tells this upload's parts from another
    upload's of the same key, and the content type and metadata the assembly sets, since
    ``complete_multipart`` is given no spec."""

    token: str
    content_type: str
    metadata: dict[str, str]

    @classmethod
    def new(cls, spec: UploadSpec) -> MultipartId:
        return cls(secrets.token_hex(16), spec.content_type, dict(spec.metadata))

    def __str__(self) -> str:
        props = json.dumps([self.content_type, self.metadata], separators=(",", ":"))
        return f"{self.token}.{base64.urlsafe_b64encode(props.encode()).decode().rstrip('=')}"

    @classmethod
    def parse(cls, value: str, provider: str) -> MultipartId:
        token, _, props = value.partition(".")
        try:
            if not re.fullmatch(r"[0-9a-f]{32}", token):
                raise ValueError("no token")
            content_type, metadata = json.loads(
                base64.urlsafe_b64decode(props + "=" * (-len(props) % 4))
            )
            if not isinstance(content_type, str) or not isinstance(metadata, dict):
                raise ValueError("no properties")
        except (ValueError, TypeError, binascii.Error) as err:
            raise SignerError(f"Not a multipart upload id of the {provider} signer.") from err
        return cls(token, content_type, {str(k): str(v) for k, v in metadata.items()})


class Signer(ABC):
    """Signs uploads and downloads for one storage and inspects what arrived."""

    #: Upload methods this signer can sign (see ``UploadPolicy.method``).
    methods: ClassVar[frozenset[str]] = frozenset({"PUT"})
    #: Whether the multipart methods below are implemented.
    supports_multipart: ClassVar[bool] = False
    #: (smallest part, largest part, most parts) the provider takes; the last part may be
    #: smaller than the smallest.
    part_limits: ClassVar[tuple[int, int, int]] = (5 * MiB, 5 * 1024 * MiB, 10_000)
    #: Whether staging keys can live in a bucket of their own (``UPLOADS['STAGING_BUCKETS']``).
    supports_staging_bucket: ClassVar[bool] = False
    #: Whether a multipart upload may assemble at the upload's own key, sparing complete the
    #: copy from staging: no part URL can write anything there once it is assembled (S3's
    #: part URLs die with their multipart upload; the local signer's write only part files).
    #: Not where a part URL could still write the object itself (an Azure block SAS can Put
    #: Blob the whole blob).
    assembles_at_key: ClassVar[bool] = False

    def __init__(self, alias: str, storage: Storage) -> None:
        self.alias = alias
        self.storage = storage
        #: The private bucket (container) that holds this storage's staging keys; "" for
        #: the storage's own.
        self.staging_bucket: str = str(app_settings.STAGING_BUCKETS.get(alias, "")).strip()
        if self.staging_bucket and not self.supports_staging_bucket:
            raise SignerNotConfigured(
                f"{type(self).__name__} keeps staging objects in the storage's own bucket: "
                f"remove '{alias}' from UPLOADS['STAGING_BUCKETS'] (on S3, limit the bucket "
                "policy to the public types' prefixes instead)."
            )

    @staticmethod
    def is_staging(key: str) -> bool:
        """Whether ``key`` is a staging key (uploads.keys.staging_key), or a part under one."""
        return key.startswith(f"{app_settings.STAGING_PREFIX.strip('/')}/")

    @staticmethod
    def timeouts() -> tuple[int, int, int]:
        """(connect seconds, read seconds, attempts in all) for every call to the storage."""
        return (
            app_settings.STORAGE_CONNECT_TIMEOUT,
            app_settings.STORAGE_READ_TIMEOUT,
            app_settings.STORAGE_ATTEMPTS,
        )

    @staticmethod
    def copy_timeout() -> int:
        """The read timeout of a call that copies or assembles a whole object in the storage
        before it answers: a large file's copy outlasts STORAGE_READ_TIMEOUT."""
        return int(app_settings.STORAGE_COPY_TIMEOUT)

    @staticmethod
    def deadline_bound(seconds: float) -> float:
        """``seconds`` (a timeout of one attempt), cut to what is left of the request's
        storage deadline. Called before each attempt: once the deadline has passed it raises
        StorageDeadlineExceeded rather than start one."""
        left = remaining()
        if left is None:
            return float(seconds)
        if left <= 0:
            raise StorageDeadlineExceeded(
                "The request's storage deadline (UPLOADS['REQUEST_STORAGE_DEADLINE']) passed."
            )
        return min(float(seconds), left)

    @abstractmethod
    def presign_upload(self, spec: UploadSpec) -> PresignedUpload:
        """A URL (and headers, or form fields) that writes exactly ``spec.key``."""

    @abstractmethod
    def presign_download(
        self, key: str, *, expires_in: int, content_type: str, attachment_name: str | None
    ) -> str:
        """A short-lived GET URL. With ``attachment_name`` the response makes the browser
        save the file rather than display it."""

    @abstractmethod
    def stat(self, key: str) -> StoredObject | None:
        """The object's facts, or None when there is no object at ``key``."""

    @abstractmethod
    def read_head(self, key: str, length: int) -> bytes:
        """The first ``length`` bytes of the object (fewer if it is shorter)."""

    def read_object(self, key: str, length: int) -> tuple[StoredObject, bytes] | None:
        """The object's facts and its first ``length`` bytes (all of them when it is no
        longer): in one call where the provider can (S3 overrides). None when there is no
        object at ``key``."""
        stored = self.stat(key)
        if stored is None:
            return None
        return stored, self.read_head(key, min(length, stored.size)) if stored.size else b""

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes of the object from byte ``start`` (fewer past its end)."""
        if length < 1:
            return b""
        with self.storage.open(key, "rb") as fh:
            fh.seek(start)
            return bytes(fh.read(length))

    @abstractmethod
    def promote(self, staging_key: str, key: str, headers: ObjectHeaders) -> None:
        """Copy the object at ``staging_key`` to ``key`` inside the storage, with exactly
        ``headers`` (none of the uploader's), replacing whatever is at ``key``. The staging
        object stays; the caller deletes it once the completion is committed."""

    def copy_verified(
        self, staging_key: str, key: str, headers: ObjectHeaders, source: StoredObject
    ) -> str | None:
        """``promote``, refused (SourceChanged) where the provider can pin the copy to the
        version that was read (``source``, its ETag) and the staging object is no longer
        that one. Returns the
        copy's base64 sha256 when the provider computed and reported one, proof of what the
        key now holds; None leaves the caller to read the key back."""
        self.promote(staging_key, key, headers)
        return None

    @abstractmethod
    def write(self, key: str, data: bytes, headers: ObjectHeaders) -> None:
        """Store ``data`` at ``key`` with exactly ``headers``, replacing whatever is there:
        a completed object the server made itself (a re-encoded image) rather than copied."""

    def write_hashed(self, key: str, data: bytes, headers: ObjectHeaders, sha256: str) -> None:
        """``write``, given the base64 SHA-256 of ``data`` (computed by the caller from those
        very bytes), for a storage that sends it along and would otherwise hash them again."""
        self.write(key, data, headers)

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; no error when it is already gone."""

    def bounds_size(self, method: str, size_declared: bool) -> bool:
        """Whether a URL signed for ``method`` refuses a body of another size than the
        declared one, or over the type's cap when none was declared. Where it does not, the
        sweep looks at what arrived before the URL expires."""
        return True

    def object_name(self, key: str) -> str:
        """The object's name in the bucket or container: the key, under the storage's
        ``location`` prefix where it has one."""
        return key

    def public_url(self, key: str) -> str:
        """``UPLOADS['PUBLIC_BASE_URL']`` (a CDN) and the object's name when one is set,
        otherwise the storage's own URL."""
        base = app_settings.PUBLIC_BASE_URL
        if base:
            return f"{base.rstrip('/')}/{filepath_to_uri(self.object_name(key))}"
        return self.storage.url(key)

    def anonymous_url(self, key: str) -> str:
        """The unsigned URL of the object in the storage itself (no CDN), where anyone
        without credentials would read it if the storage let them."""
        return self.storage.url(key)

    def compute_sha256(self, key: str) -> str:
        """Hash the stored object by reading it; base64 of the digest."""
        digest = hashlib.sha256()
        with self.storage.open(key, "rb") as fh:
            for chunk in iter(lambda: fh.read(app_settings.CHUNK_SIZE), b""):
                digest.update(chunk)
        return base64.b64encode(digest.digest()).decode()

    def apply_cors(self, origins: list[str]) -> None:
        """Let browsers on ``origins`` send uploads (PUT, POST) and read ETag."""
        raise SignerError(f"{type(self).__name__} cannot configure CORS.")

    # --- multipart uploads ------------------------------------------------------------
    # Signers that set ``supports_multipart`` implement all five. ``key`` is the key the
    # parts are assembled at: the staging key, or the upload's own key where the signer
    # ``assembles_at_key`` and the type allows it; ``multipart_id`` what ``create_multipart``
    # returned.

    def create_multipart(self, spec: UploadSpec) -> str:
        """Start a multipart upload of ``spec.key`` with ``spec``'s content type and
        metadata (``spec.headers`` where given); returns the provider's id for it ("" where
        the provider needs none)."""
        raise SignerError(f"{type(self).__name__} does not support multipart uploads.")

    def presign_part(
        self, spec: UploadSpec, multipart_id: str, part_number: int, size: int
    ) -> PresignedUpload:
        """A URL, valid until ``spec.expires_at``, that writes part ``part_number`` (from 1)
        of exactly ``size`` bytes where the provider can bind it, and nothing else."""
        raise SignerError(f"{type(self).__name__} does not support multipart uploads.")

    def list_parts(self, key: str, multipart_id: str) -> list[StoredPart]:
        """The parts the storage holds for the upload, by number; [] when it holds none or
        the multipart upload is gone."""
        raise SignerError(f"{type(self).__name__} does not support multipart uploads.")

    def complete_multipart(self, key: str, multipart_id: str, parts: list[StoredPart]) -> None:
        """Assemble exactly ``parts``, in their order, into the object at ``key`` (the
        parts as ``list_parts`` gave them: never the client's word)."""
        raise SignerError(f"{type(self).__name__} does not support multipart uploads.")

    def abort_multipart(self, key: str, multipart_id: str) -> None:
        """Release the parts, so that none is left billing; no error when already gone."""
        raise SignerError(f"{type(self).__name__} does not support multipart uploads.")
