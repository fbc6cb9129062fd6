"""The Azure Blob Storage signer, for a django-storages ``AzureStorage``.

Uploads are a single ``Put Blob`` to a service SAS signed with the storage's own account
key: permission ``c`` (create) only, so the URL cannot read, list, or overwrite a blob
that already exists; scoped to the one blob (``sr=b``); HTTPS-only except against a local
emulator on a loopback ``http`` endpoint; expiring with the upload.

A service SAS cannot bind the request's headers, so the size, the content type and the
checksum of what arrives are not enforced by Azure: complete reads the blob back (size and
type from its properties, sha256 by streaming it) and deletes a blob that contradicts the
upload. ``x-ms-meta-*`` headers cannot be bound either, so none are asked for: the key
itself names the owner and the upload.

The SAS is for the staging blob; ``promote`` copies a verified one to its key inside the
account, where no SAS of ours can write. With ``UPLOADS['STAGING_BUCKETS']`` naming a
container for the storage, every staging blob (its blocks too) lives there instead: a private
container beside a public one, so that unverified bytes are never readable anonymously.

Large files are block uploads: each part is a ``Put Block`` to the staging blob under a block
id made of the upload's random id and the part number, signed with a write SAS for that one
blob; complete lists the blocks Azure holds and commits exactly this upload's, in order, with
``Put Block List``. A write SAS cannot be narrowed to ``Put Block``: the same URL can also
commit, overwrite, snapshot or lease the staging blob, so the server never takes the blob's
state on trust (see ``list_parts``, ``complete_multipart``, ``_unleased``).

The signer builds one ``BlobServiceClient`` of its own from the storage's endpoint and
credential, with short timeouts and a short retry budget (django-storages' client keeps the
SDK defaults, up to minutes of retrying), and uses it for every call.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

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

try:
    from azure.core.exceptions import (
        AzureError,
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )
    from azure.storage.blob import (
        BlobBlock,
        BlobClient,
        BlobLeaseClient,
        BlobSasPermissions,
        BlobServiceClient,
        ContentSettings,
        CorsRule,
        LinearRetry,
        generate_blob_sas,
    )
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        f"The Azure signer needs azure-storage-blob ({err}). "
        "Install it with: pip install django-upload-policies[azure]"
    ) from err

#: Seconds between attempts (with jitter); the timeouts and the number of attempts come from
#: UPLOADS STORAGE_CONNECT_TIMEOUT, STORAGE_READ_TIMEOUT and STORAGE_ATTEMPTS. The storage's
#: AZURE_CLIENT_OPTIONS (``client_options``) override them.
RETRY_BACKOFF: dict[str, Any] = {"backoff": 0.5, "random_jitter_range": 0.2}
#: How long promote waits for a copy Azure reports as pending, and how often it looks.
COPY_WAIT_SECONDS = 30
COPY_POLL_SECONDS = 0.2

CORS_METHODS = ["PUT", "POST", "GET", "HEAD", "OPTIONS"]
CORS_MAX_AGE = 3600
MAX_CORS_RULES = 5
#: Statuses worth retrying later: the service was busy or failed.
TRANSIENT_STATUSES = frozenset({408, 429})

#: Put Block limits since service version 2019-12-12: a block of up to 4000 MiB, at most
#: 50,000 committed blocks. Azure sets no smallest block (the SDK's own uploads send blocks
#: of a few MiB).
BLOCK_LIMITS = (1, 4000 * MiB, 50_000)
#: Digits of the part number in a block id: every block id of one blob must have one length.
PART_DIGITS = len(str(BLOCK_LIMITS[2]))
#: Service error codes of a blob that someone leased (a write SAS may take a lease).
LEASE_CODES = frozenset({"LeaseIdMissing", "LeaseIdMismatchWithBlobOperation", "LeaseIdMismatch"})

T = TypeVar("T")


def _code(err: HttpResponseError) -> str:
    """The service's error code as plain text (the SDK may give an enum)."""
    code = getattr(err, "error_code", None)
    return str(getattr(code, "value", code) or "")


def _split(value: Any) -> set[str]:
    items = value.split(",") if isinstance(value, str) else (value or [])
    return {item.strip().lower() for item in items if item.strip()}


def _is_our_cors_rule(rule: Any) -> bool:
    """Whether a rule read back from Azure is the one apply_cors sets (origins aside)."""
    return (
        _split(rule.allowed_methods) == _split(CORS_METHODS)
        and _split(rule.allowed_headers) == {"*"}
        and _split(rule.exposed_headers) == {"etag"}
    )


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bound_by_deadline(connect: float, read: float) -> Callable[[Any], None]:
    """A hook the SDK runs before each attempt (after its retry policy): the attempt's
    timeouts cut to the request's storage deadline, or no attempt once that has passed (see
    Signer.deadline_bound)."""

    def hook(request: Any) -> None:
        options = request.context.options
        options["connection_timeout"] = Signer.deadline_bound(
            options.get("connection_timeout", connect)
        )
        options["read_timeout"] = Signer.deadline_bound(options.get("read_timeout", read))

    return hook


class AzureSigner(Signer):
    """Signs single-request block blob uploads and read URLs for one AzureStorage."""

    methods: ClassVar[frozenset[str]] = frozenset({"PUT"})
    supports_multipart: ClassVar[bool] = True
    supports_staging_bucket: ClassVar[bool] = True
    part_limits: ClassVar[tuple[int, int, int]] = BLOCK_LIMITS
    storage: Any  # a storages.backends.azure_storage.AzureStorage (untyped)

    def __init__(self, alias: str, storage: Any) -> None:
        super().__init__(alias, storage)
        self.container_name: str = storage.azure_container or ""
        if not self.container_name:
            raise SignerNotConfigured(
                f"Storage '{alias}' names no container: set AZURE_CONTAINER "
                "(OPTIONS['azure_container'])."
            )
        self.account_name: str = storage.account_name or ""
        if not self.account_name:
            raise SignerNotConfigured(
                f"Storage '{alias}' names no storage account: set AZURE_ACCOUNT_NAME "
                "(OPTIONS['account_name']) or AZURE_CONNECTION_STRING."
            )
        self.account_key: str = storage.account_key or ""
        if not self.account_key:
            raise SignerNotConfigured(
                f"Storage '{alias}' has no account key to sign upload URLs with: set "
                "AZURE_ACCOUNT_KEY (OPTIONS['account_key']) or a connection string with "
                "AccountKey. SAS tokens and token credentials cannot sign for uploads."
            )
        try:
            base64.b64decode(self.account_key, validate=True)
        except (binascii.Error, ValueError) as err:
            raise SignerNotConfigured(
                f"The account key of storage '{alias}' is not base64: copy it again "
                "from the storage account's access keys."
            ) from err

        self.service = self._build_client()
        endpoint = urlsplit(self.service.url)
        if endpoint.scheme == "https":
            self.protocol = "https"
        elif _is_loopback(endpoint.hostname):
            self.protocol = "https,http"  # a local emulator (Azurite) speaks plain http
        else:
            raise SignerNotConfigured(
                f"Storage '{alias}' reaches Azure over plain http ({endpoint.hostname}); "
                "upload URLs are https-only. Leave AZURE_SSL on, or use an https "
                "BlobEndpoint in AZURE_CONNECTION_STRING."
            )
        self.container = self.service.get_container_client(self.container_name)
        self.staging_container = (
            self.service.get_container_client(self.staging_bucket)
            if self.staging_bucket
            else self.container
        )
        self.custom_domain: str | None = getattr(storage, "custom_domain", None)
        endpoint_url = self.service.url.rstrip("/")
        #: Container name -> its URL (presign builds one URL per upload).
        self._container_urls = {
            name: f"{endpoint_url}/{quote(name)}"
            for name in (self.container_name, self.staging_bucket)
            if name
        }

    def _build_client(self) -> BlobServiceClient:
        """One client for this signer: the storage's endpoint and credential, bounded
        timeouts and retries (unless the storage's client_options say otherwise)."""
        connect, read, attempts = self.timeouts()
        options: dict[str, Any] = {
            "connection_timeout": connect,
            "read_timeout": read,
            "raw_request_hook": _bound_by_deadline(connect, read),
        }
        client_options = dict(getattr(self.storage, "client_options", None) or {})
        if not any(name.startswith("retry") for name in client_options):
            options["retry_policy"] = LinearRetry(retry_total=attempts - 1, **RETRY_BACKOFF)
        options |= client_options
        try:
            if self.storage.connection_string:
                return BlobServiceClient.from_connection_string(
                    self.storage.connection_string, **options
                )
            suffix = self.storage.endpoint_suffix or "core.windows.net"
            account_url = f"{self.storage.azure_protocol}://{self.account_name}.blob.{suffix}"
            credential = {"account_name": self.account_name, "account_key": self.account_key}
            return BlobServiceClient(account_url, credential=credential, **options)
        except (ValueError, TypeError) as err:
            # The SDK's message can quote the connection string: name the setting only.
            raise SignerNotConfigured(
                f"Storage '{self.alias}' has an unusable Azure endpoint or connection string: "
                "check AZURE_CONNECTION_STRING, or AZURE_ACCOUNT_NAME and AZURE_ENDPOINT_SUFFIX."
            ) from err

    # --- names and URLs ----------------------------------------------------------------

    def object_name(self, key: str) -> str:
        """The blob's name for ``key``, as the storage itself names it (its location
        prefix included), so that storage.open(key) and the signer agree."""
        return str(self.storage._get_valid_path(key))

    def container_name_for(self, key: str) -> str:
        """The container that holds ``key``: the staging container for a staging key when
        one is set."""
        if self.staging_bucket and self.is_staging(key):
            return self.staging_bucket
        return self.container_name

    def _container_for(self, key: str) -> Any:
        return self.staging_container if self.is_staging(key) else self.container

    def _blob(self, key: str) -> BlobClient:
        return self._container_for(key).get_blob_client(self.object_name(key))

    def blob_url(self, key: str, *, custom_domain: bool = False) -> str:
        base = self._container_urls[self.container_name_for(key)]
        url = f"{base}/{quote(self.object_name(key), safe='~/')}"
        if custom_domain and self.custom_domain:
            url = urlunsplit(urlsplit(url)._replace(netloc=self.custom_domain))
        return url

    def _sas(self, key: str, permission: BlobSasPermissions, expiry: datetime, **extra: Any) -> str:
        return generate_blob_sas(
            self.account_name,
            self.container_name_for(key),
            self.object_name(key),
            account_key=self.account_key,
            permission=permission,
            expiry=expiry,
            protocol=self.protocol,
            **extra,
        )

    # --- the Signer interface ----------------------------------------------------------

    def presign_upload(self, spec: UploadSpec) -> PresignedUpload:
        if spec.method != "PUT":
            raise SignerError(f"Azure uploads are PUT only, not {spec.method}.")
        sas = self._sas(spec.key, BlobSasPermissions(create=True), spec.expires_at)
        return PresignedUpload(
            url=f"{self.blob_url(spec.key)}?{sas}",
            method="PUT",
            # Content-Type alone sets the blob's type on Put Blob. x-ms-blob-content-type
            # would take precedence over it, leaving two unsigned headers that may disagree,
            # so it is not asked for: the type stored is the Content-Type the client sent.
            headers={"Content-Type": spec.content_type, "x-ms-blob-type": "BlockBlob"},
        )

    def presign_download(
        self, key: str, *, expires_in: int, content_type: str, attachment_name: str | None
    ) -> str:
        extra: dict[str, Any] = {"content_type": content_type}
        if attachment_name:
            extra["content_disposition"] = content_disposition_header(True, attachment_name)
        expiry = datetime.now(UTC) + timedelta(seconds=expires_in)
        sas = self._sas(key, BlobSasPermissions(read=True), expiry, **extra)
        return f"{self.blob_url(key, custom_domain=True)}?{sas}"

    def public_url(self, key: str) -> str:
        if app_settings.PUBLIC_BASE_URL:
            return super().public_url(key)
        return self.anonymous_url(key)

    def anonymous_url(self, key: str) -> str:
        return self.blob_url(key, custom_domain=True)

    def stat(self, key: str) -> StoredObject | None:
        with self._errors(f"reading the properties of {key}"):
            try:
                props = self._blob(key).get_blob_properties()
            except ResourceNotFoundError as err:
                if _code(err) in ("", "BlobNotFound"):
                    return None
                raise
        # Azure keeps an MD5 (content_md5) at most, never a sha256.
        return StoredObject(
            size=int(props.size),
            content_type=props.content_settings.content_type or None,
            sha256=None,
            metadata=dict(props.metadata or {}),
        )

    def read_head(self, key: str, length: int) -> bytes:
        return self.read_range(key, 0, length)

    def read_object(self, key: str, length: int) -> tuple[StoredObject, bytes] | None:
        """One ranged download, whose properties carry the blob's facts (Content-Range its
        size); ``stat`` and ``read_head`` would make two calls."""
        with self._errors(f"reading {key}"):
            try:
                downloader = self._blob(key).download_blob(offset=0, length=max(length, 1))
            except ResourceNotFoundError as err:
                if _code(err) in ("", "BlobNotFound"):
                    return None
                raise
            except HttpResponseError as err:
                if err.status_code != 416:
                    raise
                stored = self.stat(key)  # an empty blob: no byte to range over
                return None if stored is None else (stored, b"")
            data = bytes(downloader.readall())[:length]
        props = downloader.properties
        total = str(props.content_range or "").rpartition("/")[2]
        stored = StoredObject(
            size=int(total) if total.isdigit() else len(data),
            content_type=props.content_settings.content_type or None,
            metadata=dict(props.metadata or {}),
            etag=props.etag,
        )
        return stored, data

    def read_range(self, key: str, start: int, length: int) -> bytes:
        if length < 1:
            return b""
        with self._errors(f"reading {key}"):
            try:
                downloader = self._blob(key).download_blob(offset=start, length=length)
            except HttpResponseError as err:
                if err.status_code == 416:  # past the end of the blob
                    return b""
                raise
            return bytes(downloader.readall())[:length]

    def compute_sha256(self, key: str) -> str:
        digest = hashlib.sha256()
        with self._errors(f"reading {key}"):
            for chunk in self._blob(key).download_blob().chunks():
                digest.update(chunk)
        return base64.b64encode(digest.digest()).decode()

    def promote(self, staging_key: str, key: str, headers: ObjectHeaders) -> None:
        """Copy Blob inside the account (Azure copies within an account at once, Azurite
        too; a copy still pending is waited for, within COPY_WAIT_SECONDS), then the
        server's properties, which replace every header the uploader set. The account key
        authorizes reading a private source in the same account, such as the staging
        container."""
        source, target = self._blob(staging_key), self._blob(key)
        # Azure metadata names are C# identifiers: no hyphens.
        metadata = {name.replace("-", "_"): value for name, value in headers.metadata.items()}
        with self._errors(f"copying to {key}"):
            copy = target.start_copy_from_url(source.url, metadata=metadata)
            status = copy.get("copy_status")
            deadline = time.monotonic() + COPY_WAIT_SECONDS
            while status == "pending" and time.monotonic() < deadline:
                time.sleep(COPY_POLL_SECONDS)
                status = target.get_blob_properties().copy.status
            if status != "success":
                raise SignerUnavailable(f"Azure did not finish copying to {key} ({status}).")
            target.set_http_headers(
                ContentSettings(
                    content_type=headers.content_type,
                    content_disposition=headers.content_disposition,
                    cache_control=headers.cache_control,
                )
            )

    def bounds_size(self, method: str, size_declared: bool) -> bool:
        return False  # a SAS binds no length

    def write(self, key: str, data: bytes, headers: ObjectHeaders) -> None:
        """Put Blob with the server's properties, replacing the blob; with the body's MD5,
        which Azure checks against what arrives (it takes no SHA-256)."""
        metadata = {name.replace("-", "_"): value for name, value in headers.metadata.items()}
        with self._errors(f"writing {key}"):
            self._blob(key).upload_blob(
                data,
                overwrite=True,
                validate_content=True,
                metadata=metadata,
                content_settings=ContentSettings(
                    content_type=headers.content_type,
                    content_disposition=headers.content_disposition,
                    cache_control=headers.cache_control,
                ),
            )

    def delete(self, key: str) -> None:
        blob = self._blob(key)
        with self._errors(f"deleting {key}"):
            try:
                # The upload URL may also snapshot the blob (sp=c): take those with it.
                self._unleased(blob, lambda: blob.delete_blob(delete_snapshots="include"))
            except ResourceNotFoundError as err:
                if _code(err) not in ("", "BlobNotFound"):
                    raise

    def apply_cors(self, origins: list[str]) -> None:
        """Set this app's CORS rule on the account's Blob service for ``origins``.

        Azure CORS rules have no names: a rule with exactly this app's methods and headers
        is taken for the one set before and replaced; other rules are kept.
        """
        rule = CorsRule(
            list(origins),
            CORS_METHODS,
            allowed_headers=["*"],
            exposed_headers=["ETag"],
            max_age_in_seconds=CORS_MAX_AGE,
        )
        with self._errors("setting the Blob service's CORS rules"):
            current = self.service.get_service_properties().get("cors") or []
            kept = [r for r in current if not _is_our_cors_rule(r)]
            if len(kept) >= MAX_CORS_RULES:
                raise SignerError(
                    f"The Blob service of account {self.account_name} already has "
                    f"{len(kept)} CORS rules, Azure's limit: remove one first."
                )
            self.service.set_service_properties(cors=[*kept, rule])

    # --- block uploads -----------------------------------------------------------------

    def create_multipart(self, spec: UploadSpec) -> str:
        """Nothing is created at Azure: blocks attach to the blob as they arrive. The id is
        a random token that prefixes this upload's block ids (two uploads of one blob never
        mix their blocks), followed by the content type and metadata the commit sets, since
        complete_multipart is given no spec."""
        return str(MultipartId.new(spec))

    def presign_part(
        self, spec: UploadSpec, multipart_id: str, part_number: int, size: int
    ) -> PresignedUpload:
        token = MultipartId.parse(multipart_id, "Azure").token
        smallest, largest, most = self.part_limits
        if not 1 <= part_number <= most:
            raise SignerError(f"Azure takes parts 1 to {most}, not {part_number}.")
        if not smallest <= size <= largest:
            raise SignerError(f"Azure takes blocks of {smallest} to {largest} bytes, not {size}.")
        # Put Block needs write (w); no SAS permission is narrower. The length cannot be
        # bound either: list_parts reports the size Azure stored, and complete checks it.
        sas = self._sas(spec.key, BlobSasPermissions(write=True), spec.expires_at)
        block_id = quote(_encoded_block_id(token, part_number), safe="")
        return PresignedUpload(
            url=f"{self.blob_url(spec.key)}?comp=block&blockid={block_id}&{sas}",
            method="PUT",
        )

    def list_parts(self, key: str, multipart_id: str) -> list[StoredPart]:
        """This upload's blocks, committed or not, by part number. Committed ones count
        because a part URL can commit a block list too, and after a commit of ours that
        crashed before the upload was marked complete; an uncommitted block wins over a
        committed one of the same id, as it does in ``Put Block List`` (``Latest``)."""
        token = MultipartId.parse(multipart_id, "Azure").token
        blob = self._blob(key)
        with self._errors(f"listing the blocks of {key}"):
            try:
                committed, uncommitted = blob.get_block_list(block_list_type="all")
            except ResourceNotFoundError as err:
                if _code(err) in ("", "BlobNotFound"):
                    return []
                raise
        parts: dict[int, StoredPart] = {}
        for block in [*committed, *uncommitted]:
            number = _part_number(token, str(block.id))
            if number is not None:
                parts[number] = StoredPart(number=number, size=int(block.size), etag=block.id)
        return [parts[number] for number in sorted(parts)]

    def complete_multipart(self, key: str, multipart_id: str, parts: list[StoredPart]) -> None:
        mp = MultipartId.parse(multipart_id, "Azure")
        token, content_type, metadata = mp.token, mp.content_type, mp.metadata
        if not parts:
            raise SignerError("A block upload needs at least one part.")
        blocks = []
        for part in parts:
            block_id = _block_id(token, part.number)
            if part.etag != block_id:
                raise SignerError(f"Part {part.number} is not a block of this upload.")
            blocks.append(BlobBlock(block_id))
        blob = self._blob(key)
        with self._errors(f"committing the blocks of {key}"):
            # Put Block List replaces whatever a part URL committed or set on the blob:
            # the blocks are these, and the properties and metadata the server's.
            self._unleased(
                blob,
                lambda: blob.commit_block_list(
                    blocks,
                    content_settings=ContentSettings(content_type=content_type),
                    metadata={name.replace("-", "_"): value for name, value in metadata.items()},
                    read_timeout=self.copy_timeout(),  # Azure assembles before it answers
                ),
            )

    def abort_multipart(self, key: str, multipart_id: str) -> None:
        """Azure has no call that drops uncommitted blocks; it garbage-collects them after a
        week, billing them meanwhile, and Delete Blob is not documented to reach a blob that
        has only uncommitted blocks. Committing an empty block list discards every uncommitted block
        at once, leaving an empty blob, which is then deleted (with any snapshots a part URL
        made). The staging blob is this upload's alone, so nothing else is lost."""
        MultipartId.parse(multipart_id, "Azure")  # refuses what is not ours
        blob = self._blob(key)
        with self._errors(f"discarding the blocks of {key}"):
            self._unleased(blob, lambda: blob.commit_block_list([]))
        self.delete(key)

    def _unleased(self, blob: BlobClient, call: Callable[[], T]) -> T:
        """``call``, after breaking the lease that a part URL (write permission) may have
        taken on the blob when Azure refuses it for that lease."""
        try:
            return call()
        except HttpResponseError as err:
            if err.status_code != 412 or _code(err) not in LEASE_CODES:
                raise
        BlobLeaseClient(blob).break_lease(lease_break_period=0)
        return call()

    # --- errors ------------------------------------------------------------------------

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Azure's exceptions as SignerErrors. Messages name settings and error codes,
        never a key or a signed URL."""
        staging = f", staging container {self.staging_bucket}" if self.staging_bucket else ""
        where = (
            f"storage '{self.alias}' (account {self.account_name}, "
            f"container {self.container_name}{staging})"
        )
        try:
            yield
        except (ServiceRequestError, ServiceResponseError) as err:
            raise SignerUnavailable(
                f"Azure did not answer while {doing} on {where}: {type(err).__name__}."
            ) from err
        except ResourceNotFoundError as err:
            if _code(err) == "ContainerNotFound":
                raise SignerNotConfigured(
                    f"A container of {where} does not exist: create it, or set "
                    "AZURE_CONTAINER (and UPLOADS['STAGING_BUCKETS']) to existing ones."
                ) from err
            raise SignerError(f"Azure answered {_code(err)} while {doing} on {where}.") from err
        except HttpResponseError as err:
            status = err.status_code or 0
            if isinstance(err, ClientAuthenticationError) or status in (401, 403):
                raise SignerNotConfigured(
                    f"Azure refused the credentials of {where} ({_code(err)}): check that "
                    "AZURE_ACCOUNT_KEY (or AZURE_CONNECTION_STRING) holds a current key of "
                    "that account."
                ) from err
            if status >= 500 or status in TRANSIENT_STATUSES:
                raise SignerUnavailable(
                    f"Azure failed ({status} {_code(err)}) while {doing} on {where}."
                ) from err
            raise SignerError(
                f"Azure answered {status} {_code(err)} while {doing} on {where}."
            ) from err
        except AzureError as err:
            raise SignerError(
                f"Azure failed while {doing} on {where}: {type(err).__name__}."
            ) from err


def _block_id(token: str, part_number: int) -> str:
    """The block id of a part, before base64: one length for every part of every upload."""
    return f"{token}-{part_number:0{PART_DIGITS}d}"


def _encoded_block_id(token: str, part_number: int) -> str:
    return base64.b64encode(_block_id(token, part_number).encode()).decode()


def _part_number(token: str, block_id: str) -> int | None:
    """The part number of one of this upload's block ids (the SDK decodes them), or None
    for a block of another upload or one nobody of ours named."""
    prefix = f"{token}-"
    digits = block_id.removeprefix(prefix)
    if digits == block_id or len(digits) != PART_DIGITS or not digits.isdigit():
        return None
    return int(digits) or None
