"""Google Cloud Storage: V4 signed URLs, signed with the storage's own credentials.

The signer wraps a django-storages ``GoogleCloudStorage`` and uses its client, bucket and
credentials (``storage.client``, ``storage.bucket``, ``storage.credentials``); it builds no
client of its own. Signing happens in-process with the service account's private key (or,
with ``iam_sign_blob``, through the IAM signBlob API as django-storages does).

An upload URL is a V4 signed ``PUT`` (XML API) that binds, as signed headers:

- ``Content-Type``: the declared type; another type breaks the signature (403).
- ``x-goog-content-length-range: N,N`` (or ``1,<cap>`` without a declared size): GCS
  refuses a body of another length (400).
- ``x-goog-if-generation-match: 0``: GCS refuses to replace an existing object (412). The
  URL writes the staging key; a completed upload lives at its key, which ``promote`` writes
  by a rewrite inside GCS.
- ``x-goog-meta-owner`` and ``x-goog-meta-upload-id``: kept on the object.
- ``x-goog-acl``, only when the storage sets ``default_acl``, the upload is public and the key
  is not a staging key (so never for an upload URL of the API, which writes staging keys).

GCS verifies only CRC32C and MD5 (``x-goog-hash``), never SHA-256, so a declared sha256 is
not signed in: ``stat`` reports none and the complete step hashes the stored bytes.

Large files are parts: GCS's XML multipart API has no emulator to prove it against, so
each part is an object of its own, ``<staging key>.parts/<token>/<5-digit number>``,
written through a V4 signed ``PUT`` that binds its exact length and the upload's type.
``list_parts`` lists that prefix (a part's id is its generation), ``complete_multipart``
composes exactly the listed generations into the staging key (32 sources per compose call,
so in rounds through intermediate objects under the same prefix), and the parts go;
``abort_multipart`` deletes the prefix.

With ``UPLOADS['STAGING_BUCKETS']`` naming a bucket for the storage, every staging object
(parts and intermediates too) lives in that private bucket and ``promote`` rewrites across
buckets: the storage's own bucket may then be readable by allUsers without exposing bytes
not yet verified. No ``x-goog-acl`` is signed for a staging key, wherever it lives.

Every call to GCS has bounded timeouts and a retry with a short deadline; what still fails
is raised as ``SignerUnavailable`` (transient) or ``SignerNotConfigured`` (a missing
bucket, refused permissions or credentials), with the provider's exception as the cause.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

from django.utils.http import content_disposition_header

from uploads.app_settings import app_settings
from uploads.signers.base import (
    MiB,
    MultipartId,
    ObjectHeaders,
    PresignedUpload,
    Signer,
    SignerError,
    SignerNotConfigured,
    SignerUnavailable,
    StoredObject,
    StoredPart,
    UploadSpec,
)
from uploads.signers.deadline import carried, remaining

INSTALL_HINT = "pip install django-upload-policies[gcs]"

try:
    import requests
    from google.api_core import exceptions as api_exceptions
    from google.auth import exceptions as auth_exceptions
    from google.auth.credentials import Signing
    from google.cloud.storage.retry import DEFAULT_RETRY
    from storages.backends.gcloud import GoogleCloudStorage
    from storages.utils import clean_name, safe_join
except ImportError as err:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        f"The Google Cloud Storage signer needs google-cloud-storage and django-storages "
        f"({err}). Install them with: {INSTALL_HINT}"
    ) from err

#: django-storages names predefined ACLs as the JSON API does; the XML API header wants these.
XML_ACL = {
    "authenticatedRead": "authenticated-read",
    "bucketOwnerFullControl": "bucket-owner-full-control",
    "bucketOwnerRead": "bucket-owner-read",
    "private": "private",
    "projectPrivate": "project-private",
    "publicRead": "public-read",
}

#: Failures worth trying again later: the provider is down, slow or unreachable.
TRANSIENT = (
    api_exceptions.RetryError,
    api_exceptions.TooManyRequests,
    api_exceptions.InternalServerError,
    api_exceptions.BadGateway,
    api_exceptions.ServiceUnavailable,
    api_exceptions.GatewayTimeout,
    requests.ConnectionError,
    requests.Timeout,
    auth_exceptions.TransportError,
    ConnectionError,
    TimeoutError,
)

_META_NAME = re.compile(r"[^a-z0-9-]")

logger = logging.getLogger("uploads")

#: Compose sets no smallest source; a part is one PUT, capped as S3 caps a part (5 GiB,
#: the largest object GCS takes in one request being 5 TiB); 10,000 parts as on S3.
PART_LIMITS = (1, 5 * 1024 * MiB, 10_000)
#: Digits of a part's number in its object name, so that names sort as numbers.
PART_DIGITS = len(str(PART_LIMITS[2]))
#: The most sources GCS composes in one call.
COMPOSE_SOURCES = 32
#: Deletes in flight at once when parts are released (GCS has no bulk delete but batches,
#: which the emulator does not speak).
DELETE_WORKERS = 8


class _Sha256Sink:
    """A write-only file that hashes what is written to it."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return len(data)


class GCSSigner(Signer):
    methods: ClassVar[frozenset[str]] = frozenset({"PUT"})
    supports_multipart: ClassVar[bool] = True
    supports_staging_bucket: ClassVar[bool] = True
    part_limits: ClassVar[tuple[int, int, int]] = PART_LIMITS
    storage: Any  # a django-storages GoogleCloudStorage

    #: Exponential backoff on the storage library's retryable errors, for 3 s in all.
    RETRY: ClassVar[Any] = DEFAULT_RETRY.with_delay(
        initial=0.1, maximum=1.0, multiplier=2.0
    ).with_timeout(3.0)
    RETRY_SECONDS: ClassVar[float] = 3.0

    def __init__(self, alias: str, storage: Any) -> None:
        if not isinstance(storage, GoogleCloudStorage):
            raise SignerNotConfigured(
                f"Storage '{alias}' is a {type(storage).__name__}, not a django-storages "
                "GoogleCloudStorage: the GCS signer cannot sign for it."
            )
        if not storage.bucket_name:
            raise SignerNotConfigured(
                f"Storage '{alias}' names no bucket: set GS_BUCKET_NAME (OPTIONS['bucket_name'])."
            )
        credentials = storage.credentials
        if credentials is None and not storage.iam_sign_blob:
            raise SignerNotConfigured(
                f"Storage '{alias}' has no credentials to sign URLs with: set GS_CREDENTIALS "
                "to a service-account JSON key file (OPTIONS['credentials'] = "
                "service_account.Credentials.from_service_account_file(path)), or set "
                "OPTIONS['iam_sign_blob'] = True to sign through the IAM signBlob API."
            )
        if (
            credentials is not None
            and not storage.iam_sign_blob
            and not isinstance(credentials, Signing)
        ):
            raise SignerNotConfigured(
                f"Storage '{alias}' has credentials of type {type(credentials).__name__}, "
                "which cannot sign URLs: use a service-account key "
                "(service_account.Credentials), or set OPTIONS['iam_sign_blob'] = True."
            )
        super().__init__(alias, storage)
        self._buckets_seen: set[str] = set()
        self._staging: Any = None  # the staging bucket's google.cloud.storage.Bucket

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) seconds for a call to GCS, cut to the request's storage deadline
        (see Signer.deadline_bound); taken afresh for each call."""
        connect, read, _ = self.timeouts()
        return (self.deadline_bound(connect), self.deadline_bound(read))

    @property
    def retry(self) -> Any:
        """RETRY, its retries ending by the request's storage deadline."""
        left = remaining()
        if left is None or left >= self.RETRY_SECONDS:
            return self.RETRY
        return self.RETRY.with_timeout(max(left, 0.0))

    # --- signing ---------------------------------------------------------------------------

    def presign_upload(self, spec: UploadSpec) -> PresignedUpload:
        if spec.method != "PUT":
            raise SignerError(f"The GCS signer signs PUT uploads, not {spec.method}.")
        size_range = f"{spec.size},{spec.size}" if spec.size is not None else f"1,{spec.max_size}"
        headers = {
            "Content-Type": spec.content_type,
            "x-goog-content-length-range": size_range,
            "x-goog-if-generation-match": "0",
        }
        # Never on a staging key: it would make unverified bytes public, and the rewrite to
        # the key copies no ACL anyway.
        acl = None
        if spec.public and not self.is_staging(spec.key):
            acl = XML_ACL.get(self.storage.default_acl or "")
        if acl:
            headers["x-goog-acl"] = acl
        for name, value in sorted(spec.metadata.items()):
            headers[f"x-goog-meta-{_META_NAME.sub('-', name.lower())}"] = _ascii(value)
        url = self._sign(spec.key, method="PUT", expiration=spec.expires_at, headers=headers)
        return PresignedUpload(url=url, method="PUT", headers=headers)

    def presign_download(
        self, key: str, *, expires_in: int, content_type: str, attachment_name: str | None
    ) -> str:
        disposition = content_disposition_header(True, attachment_name) if attachment_name else None
        return self._sign(
            key,
            method="GET",
            expiration=timedelta(seconds=expires_in),
            response_type=content_type,
            response_disposition=disposition,
            bucket_bound_hostname=self.storage.custom_endpoint or None,
        )

    def _sign(
        self, key: str, *, method: str, expiration: datetime | timedelta, **kwargs: Any
    ) -> str:
        params: dict[str, Any] = {"version": "v4", "method": method, "expiration": expiration}
        params |= {name: value for name, value in kwargs.items() if value is not None}
        if "headers" in params:
            params["headers"] = dict(params["headers"])  # the library adds Host to it
        with self._errors(f"sign a {method} URL for {key}"):
            if self.storage.iam_sign_blob:
                email, token = self.storage._get_iam_sign_blob_params()
                params |= {"service_account_email": email, "access_token": token}
            else:
                params["credentials"] = self.storage.credentials
            return str(self._blob(key).generate_signed_url(**params))

    # --- the stored object -----------------------------------------------------------------

    def stat(self, key: str) -> StoredObject | None:
        blob = self._blob(key)
        with self._errors(f"read the facts of {key}"):
            try:
                blob.reload(timeout=self.timeout, retry=self.retry)
            except api_exceptions.NotFound:
                self._check_bucket(blob.bucket)
                return None
        self._buckets_seen.add(blob.bucket.name)
        return StoredObject(
            size=int(blob.size or 0),
            content_type=blob.content_type,
            sha256=None,  # GCS keeps CRC32C and MD5 only
            metadata=dict(blob.metadata or {}),
        )

    def read_head(self, key: str, length: int) -> bytes:
        return self.read_range(key, 0, length)

    def read_range(self, key: str, start: int, length: int) -> bytes:
        if length < 1:
            return b""
        with self._errors(f"read {key}"):
            try:
                return bytes(
                    self._blob(key).download_as_bytes(
                        start=start,
                        end=start + length - 1,
                        raw_download=True,
                        checksum=None,
                        timeout=self.timeout,
                        retry=self.retry,
                    )
                )
            except api_exceptions.RequestRangeNotSatisfiable:
                return b""

    def compute_sha256(self, key: str) -> str:
        """Stream the stored bytes (as stored, no decompression) through SHA-256."""
        sink = _Sha256Sink()
        with self._errors(f"read {key}"):
            self._blob(key).download_to_file(
                sink, raw_download=True, checksum="crc32c", timeout=self.timeout, retry=self.retry
            )
        return base64.b64encode(sink.digest.digest()).decode()

    def promote(self, staging_key: str, key: str, headers: ObjectHeaders) -> None:
        """A rewrite inside GCS: the new object takes the metadata sent with the request
        (the server's), not the staging object's. Large objects take several calls."""
        source, target = self._blob(staging_key), self._with_headers(self._blob(key), headers)
        token = None
        with self._errors(f"copy to {key}"):
            while True:
                token, _, _ = target.rewrite(
                    source, token=token, timeout=self.timeout, retry=self.retry
                )
                if token is None:
                    break

    def write(self, key: str, data: bytes, headers: ObjectHeaders) -> None:
        """An upload with the server's metadata, replacing the object, and the body's CRC32C
        (the client's default), which GCS checks against what arrives (it takes no SHA-256)."""
        target = self._with_headers(self._blob(key), headers)
        with self._errors(f"write {key}"):
            target.upload_from_string(
                data, content_type=headers.content_type, timeout=self.timeout, retry=self.retry
            )

    def delete(self, key: str) -> None:
        with self._errors(f"delete {key}"):
            try:
                self._blob(key).delete(timeout=self.timeout, retry=self.retry)
            except api_exceptions.NotFound:
                pass

    def public_url(self, key: str) -> str:
        if app_settings.PUBLIC_BASE_URL:
            return super().public_url(key)
        with self._errors(f"build the URL of {key}"):
            return str(self.storage.url(key))

    def anonymous_url(self, key: str) -> str:
        return str(self._blob(key).public_url)

    def apply_cors(self, origins: list[str]) -> None:
        """Let browsers on ``origins`` PUT with the signed headers and GET, and read ETag.
        Replaces this app's earlier rule (the one whose methods include PUT) and keeps the
        bucket's other rules."""
        bucket = self.storage.bucket
        with self._errors("read the bucket's CORS rules"):
            bucket.reload(timeout=self.timeout, retry=self.retry)
        others = [rule for rule in bucket.cors or [] if "PUT" not in rule.get("method", [])]
        bucket.cors = [
            *others,
            {
                "origin": list(origins),
                "method": ["PUT", "GET", "HEAD"],
                "responseHeader": [
                    "Content-Type",
                    "ETag",
                    "x-goog-content-length-range",
                    "x-goog-if-generation-match",
                    "x-goog-meta-owner",
                    "x-goog-meta-upload-id",
                    "x-goog-acl",
                    "x-goog-generation",
                    "x-goog-hash",
                ],
                "maxAgeSeconds": 3600,
            },
        ]
        with self._errors("set the bucket's CORS rules"):
            bucket.patch(timeout=self.timeout, retry=self.retry)

    # --- multipart uploads: parts as objects, composed ------------------------------------

    def create_multipart(self, spec: UploadSpec) -> str:
        """Nothing is created at GCS: parts are objects under a prefix of their own. The id
        is a random token naming that prefix (two uploads of one staging key never mix
        their parts), then the type and metadata compose sets, since complete_multipart is
        given no spec."""
        return str(MultipartId.new(spec))

    def presign_part(
        self, spec: UploadSpec, multipart_id: str, part_number: int, size: int
    ) -> PresignedUpload:
        token = MultipartId.parse(multipart_id, "GCS").token
        smallest, largest, most = self.part_limits
        if not 1 <= part_number <= most:
            raise SignerError(f"GCS takes parts 1 to {most}, not {part_number}.")
        if not smallest <= size <= largest:
            raise SignerError(f"GCS takes parts of {smallest} to {largest} bytes, not {size}.")
        # No x-goog-if-generation-match: 0 here, unlike a single upload: a part sent again
        # after its answer was lost must succeed (GCS would answer 412 and the client give
        # up), and the length is bound, so a part can only be replaced by as many bytes.
        # complete_multipart composes the generations it listed, never a later one.
        headers = {
            "Content-Type": spec.content_type,
            "x-goog-content-length-range": f"{size},{size}",
        }
        url = self._sign(
            _part_key(spec.key, token, part_number),
            method="PUT",
            expiration=spec.expires_at,
            headers=headers,
        )
        return PresignedUpload(url=url, method="PUT", headers=headers)

    def list_parts(self, key: str, multipart_id: str) -> list[StoredPart]:
        """The part objects under the upload's prefix, by number; the generation is each
        part's id. Intermediate objects of a compose and names no part URL signs are left
        out."""
        token = MultipartId.parse(multipart_id, "GCS").token
        prefix = self._parts_prefix(key, token)
        parts: list[StoredPart] = []
        bucket = self._bucket_for(key)
        with self._errors(f"list the parts of {key}"):
            try:
                for blob in bucket.list_blobs(
                    prefix=prefix, timeout=self.timeout, retry=self.retry
                ):
                    number = _part_number(blob.name.removeprefix(prefix))
                    if number is not None:
                        parts.append(
                            StoredPart(
                                number=number, size=int(blob.size or 0), etag=str(blob.generation)
                            )
                        )
            except api_exceptions.NotFound:
                self._check_bucket(bucket)
                return []
        self._buckets_seen.add(bucket.name)
        return sorted(parts, key=lambda part: part.number)

    def complete_multipart(self, key: str, multipart_id: str, parts: list[StoredPart]) -> None:
        """Compose exactly ``parts``, each at the generation listed (GCS refuses the compose,
        412, if a part was replaced since), into the staging key with the upload's type and
        metadata; then the parts and intermediates go. Composing again (a retry) writes the
        same object."""
        mp = MultipartId.parse(multipart_id, "GCS")
        token, content_type, metadata = mp.token, mp.content_type, mp.metadata
        if not parts:
            raise SignerError("A GCS multipart upload needs at least one part.")
        bucket = self._bucket_for(key)
        sources: list[tuple[Any, int]] = []
        for part in parts:
            if not part.etag.isdigit():
                raise SignerError(f"Part {part.number} has no GCS generation.")
            sources.append((self._blob(_part_key(key, token, part.number)), int(part.etag)))
        prefix = self._parts_prefix(key, token)
        intermediates: list[Any] = []
        with self._errors(f"compose the parts of {key}"):
            rounds = 0
            while len(sources) > COMPOSE_SOURCES:
                rounds += 1
                merged = []
                for start in range(0, len(sources), COMPOSE_SOURCES):
                    group = sources[start : start + COMPOSE_SOURCES]
                    if len(group) == 1:
                        merged.append(group[0])
                        continue
                    target = bucket.blob(f"{prefix}compose-{rounds}-{start // COMPOSE_SOURCES:05d}")
                    target.content_type = content_type
                    self._compose(target, group)
                    intermediates.append(target)
                    merged.append((target, int(target.generation)))
                sources = merged
            target = self._blob(key)
            target.content_type = content_type
            target.metadata = {
                _META_NAME.sub("-", name.lower()): _ascii(value) for name, value in metadata.items()
            }
            self._compose(target, sources)
        done = [self._blob(_part_key(key, token, part.number)) for part in parts]
        try:
            self._delete_all([*done, *intermediates], f"release the parts of {key}")
        except SignerError:
            # The object is assembled: failing now would leave the upload pending with some
            # of its parts gone, which a retried complete reports as missing. What is left
            # stays under the upload's prefix until abort_multipart deletes it.
            logger.warning("Could not release every part of %s", key, exc_info=True)

    def abort_multipart(self, key: str, multipart_id: str) -> None:
        """Delete every object under the upload's prefix: parts and intermediates."""
        token = MultipartId.parse(multipart_id, "GCS").token
        prefix = self._parts_prefix(key, token)
        bucket = self._bucket_for(key)
        with self._errors(f"list the parts of {key}"):
            try:
                blobs = list(
                    bucket.list_blobs(prefix=prefix, timeout=self.timeout, retry=self.retry)
                )
            except api_exceptions.NotFound:
                self._check_bucket(bucket)
                return
        self._delete_all(blobs, f"release the parts of {key}")

    def _parts_prefix(self, key: str, token: str) -> str:
        return f"{self.object_name(key)}.parts/{token}/"

    def _compose(self, target: Any, sources: list[tuple[Any, int]]) -> None:
        try:
            target.compose(
                [blob for blob, _ in sources],
                if_source_generation_match=[generation for _, generation in sources],
                timeout=(self.timeout[0], self.deadline_bound(self.copy_timeout())),
                retry=self.retry,
            )
        except api_exceptions.PreconditionFailed as err:
            # A part was sent again since it was listed: complete, called again, lists and
            # composes the new one.
            raise SignerUnavailable(
                f"A part of {target.name} changed while it was being assembled; try again."
            ) from err

    def _delete_all(self, blobs: list[Any], doing: str) -> None:
        """Delete ``blobs``, several at a time; gone already is fine. Raises the first
        failure once every delete was tried."""

        def delete(blob: Any) -> None:
            with self._errors(doing):
                try:
                    blob.delete(timeout=self.timeout, retry=self.retry)
                except api_exceptions.NotFound:
                    pass

        if len(blobs) <= 1:
            for blob in blobs:
                delete(blob)
            return
        with ThreadPoolExecutor(max_workers=min(DELETE_WORKERS, len(blobs))) as pool:
            failures = [e for e in pool.map(carried(_failure_of(delete)), blobs) if e is not None]
        if failures:
            raise failures[0]

    # --- helpers ---------------------------------------------------------------------------

    def object_name(self, key: str) -> str:
        """``key`` under the storage's ``location``, as django-storages names it."""
        try:
            return str(safe_join(self.storage.location, clean_name(key)))
        except ValueError as err:
            raise SignerError(f"{key!r} is outside the storage's location.") from err

    @staticmethod
    def _with_headers(blob: Any, headers: ObjectHeaders) -> Any:
        blob.content_type = headers.content_type
        blob.content_disposition = headers.content_disposition
        blob.cache_control = headers.cache_control
        blob.content_encoding = "identity"  # never the uploader's gzip
        blob.metadata = {
            _META_NAME.sub("-", name.lower()): _ascii(value)
            for name, value in headers.metadata.items()
        }
        return blob

    def _in_staging_bucket(self, key: str) -> bool:
        return bool(self.staging_bucket) and self.is_staging(key)

    def _bucket_for(self, key: str) -> Any:
        """The bucket that holds ``key``: the staging bucket for a staging key when one is
        set, else the storage's."""
        if not self._in_staging_bucket(key):
            return self.storage.bucket
        if self._staging is None:
            self._staging = self.storage.client.bucket(self.staging_bucket)
        return self._staging

    def _blob(self, key: str) -> Any:
        return self._bucket_for(key).blob(self.object_name(key))

    def _check_bucket(self, bucket: Any) -> None:
        """A missing object and a missing bucket both answer 404: tell them apart, once."""
        if bucket.name in self._buckets_seen:
            return
        try:
            # Listing needs storage.objects.list, which the object roles grant (unlike
            # storage.buckets.get); a missing bucket answers 404.
            listing = bucket.list_blobs(max_results=1, timeout=self.timeout, retry=self.retry)
            next(iter(listing), None)
        except api_exceptions.NotFound as err:
            setting = (
                f"UPLOADS['STAGING_BUCKETS']['{self.alias}'] (GS_STAGING_BUCKET_NAME)"
                if bucket.name == self.staging_bucket
                else "GS_BUCKET_NAME (OPTIONS['bucket_name'])"
            )
            raise SignerNotConfigured(
                f"Storage '{self.alias}': bucket {bucket.name!r} does not exist. "
                f"Create it, or fix {setting}."
            ) from err
        except api_exceptions.Forbidden:
            return  # cannot tell: take the object as missing
        self._buckets_seen.add(bucket.name)

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Wrap what the Google libraries raise into the signer's errors."""
        try:
            yield
        except SignerError:
            raise
        except Exception as err:
            raise self._wrap(err, doing) from err

    def _wrap(self, err: Exception, doing: str) -> SignerError:
        alias = self.alias
        buckets = [
            self.storage.bucket_name,
            *([self.staging_bucket] if self.staging_bucket else []),
        ]
        bucket = " and ".join(repr(name) for name in buckets)
        if isinstance(err, TRANSIENT):
            return SignerUnavailable(
                f"GCS did not answer in time for storage '{alias}' (tried to {doing}): "
                f"{type(err).__name__}"
            )
        if isinstance(err, (api_exceptions.Forbidden, api_exceptions.Unauthorized)):
            return SignerNotConfigured(
                f"GCS refused storage '{alias}' ({err.code}) when trying to {doing}: give "
                f"its service account roles/storage.objectAdmin on bucket {bucket} (and "
                "roles/iam.serviceAccountTokenCreator on itself with iam_sign_blob)."
            )
        if isinstance(err, auth_exceptions.RefreshError):
            return SignerNotConfigured(
                f"Google refused the credentials of storage '{alias}': check the "
                "service-account key in GS_CREDENTIALS (disabled or deleted key?)."
            )
        if isinstance(err, auth_exceptions.DefaultCredentialsError):
            return SignerNotConfigured(
                f"Storage '{alias}' found no Google credentials: set GS_CREDENTIALS."
            )
        return SignerError(
            f"GCS failed for storage '{alias}' when trying to {doing}: {type(err).__name__}"
        )


def _ascii(value: str) -> str:
    """A header value GCS accepts: printable ASCII, anything else percent-encoded."""
    return value if value.isascii() and value.isprintable() else quote(value, safe="")


def _failure_of(call: Callable[[Any], None]) -> Callable[[Any], SignerError | None]:
    def run(item: Any) -> SignerError | None:
        try:
            call(item)
        except SignerError as err:
            return err
        return None

    return run


def _part_key(key: str, token: str, number: int) -> str:
    return f"{key}.parts/{token}/{number:0{PART_DIGITS}d}"


def _part_number(name: str) -> int | None:
    """The number of a part object's name under its prefix, or None for anything else."""
    if len(name) != PART_DIGITS or not name.isdigit():
        return None
    number = int(name)
    return number if 1 <= number <= PART_LIMITS[2] else None
