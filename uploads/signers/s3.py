"""The signer for django-storages' S3Storage: AWS S3 and S3-compatible servers (SeaweedFS,
MinIO, Ceph, R2, ...).

It signs with the storage's own session, credentials, endpoint, region and client options,
through one boto3 client built when the signer is (once per storage per process). That
client always signs SigV4: with SigV2 a presigned PUT does not sign Content-Length, and
the size limit would silently vanish. It also has bounded timeouts and retries, so a
storage that does not answer fails in seconds, as ``SignerUnavailable``.

A presigned PUT binds Content-Type, Content-Length (when the size is declared), the
sha256 (``x-amz-checksum-sha256``, which S3 verifies against the body), the upload's
metadata (``x-amz-meta-*``) and ``If-None-Match: *`` (S3 refuses to overwrite an existing
object). A presigned POST binds the same in its policy, with ``content-length-range``
as the size limit. Both write the staging key; ``promote`` copies the verified object to
its key inside S3 (in parts above ``copy_threshold``: CopyObject takes at most 5 GiB).

A multipart upload is started on the staging key with the content type and metadata, or,
for a private type with nothing to check before publication, on the upload's own key with
the completed object's headers (``assembles_at_key``): complete then verifies it where it
was assembled, with no copy. Each part's URL is a presigned UploadPart that binds the upload
id, the part number and the part's Content-Length. It carries no checksum: S3 keeps a
SHA-256 of a multipart object only as a checksum of the parts' checksums, which is not the
file's sha256 and would need each part's digest before its URL is signed. Complete hashes
the assembled object instead.

Presigned PUTs, parts and downloads are signed by ``uploads.signers.sigv4`` from the bucket's
URL prefix, resolved once with botocore, rather than through botocore's request pipeline on
every call. The first presign compares the two on probe requests at the same timestamp; if
they differ (a configuration botocore signs otherwise), the signer keeps using botocore.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from django.utils import timezone
from django.utils.encoding import filepath_to_uri
from django.utils.http import content_disposition_header

from uploads.app_settings import app_settings
from uploads.signers import sigv4
from uploads.signers.base import (
    MiB,
    ObjectHeaders,
    PresignedUpload,
    Signer,
    SignerError,
    SignerNotConfigured,
    SignerUnavailable,
    SourceChanged,
    StoredObject,
    StoredPart,
    UploadSpec,
)
from uploads.signers.deadline import carried
from uploads.signers.s3_http import Answer, S3Http, TransportError

try:
    import boto3
    import botocore
    import botocore.loaders
    from botocore.config import Config
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        HTTPClientError,
        NoCredentialsError,
        PartialCredentialsError,
        SSLError,
    )
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.httpsession import get_cert_path
    from botocore.utils import get_environ_proxies
    from storages.utils import clean_name
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        f"The S3 signer needs boto3 and django-storages ({err}). "
        "Install them with: pip install django-upload-policies[s3]"
    ) from err


def client_config(read: int | None = None) -> Config:
    """Bounded waits from the settings (UPLOADS STORAGE_CONNECT_TIMEOUT, STORAGE_READ_TIMEOUT,
    STORAGE_ATTEMPTS): "total_max_attempts" counts the first try, unlike "max_attempts"."""
    connect, default_read, attempts = Signer.timeouts()
    read = default_read if read is None else read
    return Config(
        retries={"mode": "standard", "total_max_attempts": attempts},
        connect_timeout=connect,
        read_timeout=read,
    )


def _bound_by_deadline(request: Any, **_: Any) -> None:
    """botocore's ``before-send`` hook, run before each attempt: its read timeout cut to the
    request's storage deadline, or no attempt once that has passed (see Signer.deadline_bound).
    """
    read = request.context.get("read_timeout") or request.context["client_config"].read_timeout
    request.context["read_timeout"] = Signer.deadline_bound(read)


SIGV4 = "AWS4-HMAC-SHA256"
MAX_EXPIRY = 7 * 24 * 3600  # the longest SigV4 signs for
CORS_RULE_ID = "django-upload-policies"
CORS_METHODS = ["PUT", "POST", "GET", "HEAD"]
# botocore's service models, parsed once per process rather than once per session.
_LOADER = botocore.loaders.create_loader()

# Error codes that mean the configuration is wrong, not that the storage is down.
MISSING_BUCKET = {"NoSuchBucket"}
BAD_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "InvalidSecurity",
    "AuthorizationHeaderMalformed",
}
DENIED = {"AccessDenied", "AllAccessDisabled", "AccountProblem", "403"}
SKEWED = {"RequestTimeTooSkewed"}
TRANSIENT = {
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "500",
    "502",
    "503",
    "504",
}


GiB = 1024 * MiB

logger = logging.getLogger("uploads")

# The object the first presign signs both ways, to compare: the characters S3 keys are
# quoted differently for (space, +, ~, %, unicode, parentheses) and a directory.
PROBE_NAME = "uploads-sigv4-probe/a b+~%\u00fc(1)*'!.bin"
PROBE_SHA256 = base64.b64encode(hashlib.sha256(b"probe").digest()).decode()
PROBE_EXPIRES = 300


class S3Signer(Signer):
    methods = frozenset({"PUT", "POST"})
    supports_multipart = True
    # A part URL names its multipart upload's id, which CompleteMultipartUpload ends: once
    # assembled, the object is written by no URL (S3 answers 404 NoSuchUpload).
    assembles_at_key = True
    #: Objects larger than this are promoted by a multipart copy (UploadPartCopy);
    #: CopyObject refuses a source over 5 GiB.
    copy_threshold: ClassVar[int] = 5 * GiB
    #: The part size of such a copy, grown when the object would need more parts than S3 takes.
    copy_part_size: ClassVar[int] = 128 * MiB
    #: Parts copied at once (each a server-side copy; boto3 clients are thread-safe).
    copy_concurrency: ClassVar[int] = 8
    #: Parts asked for per ListParts page (S3's maximum).
    list_parts_page: ClassVar[int] = 1000
    #: The reads that hash a whole object: large, since a GiB in 64 KiB reads costs a
    #: fifth more CPU (bench/README.md, "Large files").
    hash_read_size: ClassVar[int] = 4 * MiB

    def __init__(self, alias: str, storage: Any) -> None:
        super().__init__(alias, storage)
        self.bucket: str = getattr(storage, "bucket_name", None) or ""
        if not self.bucket:
            raise SignerNotConfigured(
                f"Storage '{alias}' names no bucket: set AWS_STORAGE_BUCKET_NAME "
                "(or OPTIONS['bucket_name'] in settings.STORAGES)."
            )
        try:
            session = self._session()
            credentials = session.get_credentials()
        except BotoCoreError as err:  # a missing profile, partial keys, a failing provider
            raise SignerNotConfigured(
                f"Storage '{alias}' has unusable AWS credentials ({type(err).__name__}): "
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a valid profile or role."
            ) from err
        if credentials is None or not credentials.access_key or not credentials.secret_key:
            raise SignerNotConfigured(
                f"Storage '{alias}' has no AWS credentials: set both AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or OPTIONS access_key/secret_key), or run with an "
                "IAM role, profile or web identity that boto3 can find."
            )
        self._session_obj = session
        self.client = self._build_client(client_config())
        # For the calls that copy or assemble a whole object before S3 answers.
        self.copy_client = self._build_client(client_config(read=self.copy_timeout()))
        for client in (self.client, self.copy_client):
            client.meta.events.register("before-send.s3", _bound_by_deadline)
        self._unsigned_client: Any = None
        self._lock = threading.Lock()
        # Set once by the first presign (see _fast_presigner); None means botocore signs.
        self._presigner: sigv4.QueryPresigner | None = None
        self._presigner_checked = False
        self._public_prefix: str | None = None
        self._public_prefix_checked = False
        # Set once by the first read (see _lean); None means botocore sends.
        self._http: S3Http | None = None
        self._http_checked = False

    # --- building -----------------------------------------------------------------------

    def _session(self) -> Any:
        """The storage's own boto3 session (its keys, token or profile)."""
        create = getattr(self.storage, "_create_session", None)
        if callable(create):
            session = create()
        else:
            session = boto3.Session(
                aws_access_key_id=getattr(self.storage, "access_key", None),
                aws_secret_access_key=getattr(self.storage, "secret_key", None),
                aws_session_token=getattr(self.storage, "security_token", None),
            )
        core = getattr(session, "_session", None)
        if core is not None:
            core.register_component("data_loader", _LOADER)
        return session

    def _build_client(self, base: Config, *, unsigned: bool = False) -> Any:
        """A client with the storage's endpoint, region and client options; our timeouts
        and retries apply unless the storage's own client_config sets them; SigV4 always."""
        config = base
        storage_config = getattr(self.storage, "client_config", None)
        if storage_config is not None:
            config = config.merge(storage_config)
        config = config.merge(Config(signature_version=botocore.UNSIGNED if unsigned else "s3v4"))
        try:
            return self._session_obj.client(
                "s3",
                region_name=getattr(self.storage, "region_name", None),
                use_ssl=getattr(self.storage, "use_ssl", True),
                endpoint_url=getattr(self.storage, "endpoint_url", None),
                verify=getattr(self.storage, "verify", None),
                config=config,
            )
        except (BotoCoreError, ValueError) as err:
            raise SignerNotConfigured(
                f"Storage '{self.alias}' cannot build an S3 client ({type(err).__name__}: "
                f"{err}). Check AWS_S3_ENDPOINT_URL and AWS_S3_REGION_NAME."
            ) from err

    def _lean(self) -> S3Http | None:
        """The lean client for HEAD, GET, CopyObject, PutObject and DELETE, once the fast
        presigner showed that this configuration's URLs and signatures are botocore's; None:
        botocore sends them (a BotoCoreError here is raised, and the check runs again next
        time)."""
        if not self._http_checked:
            presigner = self._fast_presigner()
            config = self.client.meta.config
            # A proxy (configured, or from the environment as botocore reads it) or a client
            # certificate: botocore's transport, which knows them.
            if presigner is not None and (
                config.proxies or config.client_cert or get_environ_proxies(presigner.prefix)
            ):
                presigner = None
            with self._lock:
                if not self._http_checked:
                    self._http = None if presigner is None else self._build_http(presigner)
                    self._http_checked = True
        return self._http

    def _build_http(self, presigner: sigv4.QueryPresigner) -> S3Http:
        """With the timeouts and attempts of the botocore client (the storage's own
        client_config included)."""
        config = self.client.meta.config
        retries = config.retries or {}
        attempts = retries.get("total_max_attempts")
        if attempts is None:
            attempts = retries.get("max_attempts", self.timeouts()[2] - 1) + 1
        return S3Http(
            presigner,
            self._credentials,
            connect_timeout=float(config.connect_timeout),
            read_timeout=float(config.read_timeout),
            attempts=int(attempts),
            verify=self._tls_verify(),
        )

    def _tls_verify(self) -> bool | str:
        """What botocore's client verifies TLS with: False, or a CA bundle's path (its own
        resolution of AWS_S3_VERIFY, AWS_CA_BUNDLE and the config file; certifi's by
        default)."""
        session = getattr(getattr(self.client, "_endpoint", None), "http_session", None)
        verify = getattr(session, "_verify", True)
        return False if verify is False else str(get_cert_path(True if verify is None else verify))

    def _send(
        self,
        http: S3Http,
        method: str,
        key: str,
        action: str,
        headers: dict[str, str] | None = None,
        **options: Any,
    ) -> Answer:
        """``http.request`` on the object of ``key``, its failures wrapped as botocore's are."""
        try:
            return http.request(method, self.object_name(key), headers, **options)
        except TransportError as err:
            where = f"storage '{self.alias}' (bucket '{self.bucket}')"
            if err.tls:
                raise SignerNotConfigured(
                    f"TLS to {where} failed ({err}); check AWS_S3_ENDPOINT_URL and AWS_S3_VERIFY."
                ) from err
            raise SignerUnavailable(
                f"S3 did not answer when trying to {action} {key} in {where} after retries ({err})."
            ) from err
        except BotoCoreError as err:  # the credentials could not be read or refreshed
            raise self._wrap(err, action, key) from err

    def _refused(self, answer: Answer, action: str, key: str) -> SignerError:
        return self._refusal(answer.error_code or str(answer.status), answer.status, action, key)

    def object_name(self, key: str) -> str:
        """The object's name in the bucket (the storage's ``location`` prefix applied)."""
        normalize = getattr(self.storage, "_normalize_name", None)
        return str(normalize(clean_name(key)) if normalize else clean_name(key))

    # --- signing ------------------------------------------------------------------------

    def presign_upload(self, spec: UploadSpec) -> PresignedUpload:
        expires_in = _seconds_until(spec.expires_at)
        if spec.method == "POST":
            return self._presign_post(spec, expires_in)
        if spec.method != "PUT":
            raise SignerError(f"S3 cannot sign {spec.method} uploads.")
        name = self.object_name(spec.key)
        params, headers = self._put_request(
            name, spec.content_type, spec.size, spec.sha256, spec.metadata
        )
        url, signed = self._presign(
            "put_object",
            "PUT",
            name,
            params,
            expires=expires_in,
            headers=headers,
            doing="sign an upload for",
            key=spec.key,
        )
        _check_sigv4(url, headers, signed)
        return PresignedUpload(url=url, method="PUT", headers=headers)

    def _put_request(
        self,
        name: str,
        content_type: str,
        size: int | None,
        sha256: str | None,
        metadata: dict[str, str],
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """A PutObject's botocore params and the headers they become (all signed)."""
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": name,
            "ContentType": content_type,
            "IfNoneMatch": "*",
        }
        headers = {"Content-Type": content_type}
        if size is not None:
            params["ContentLength"] = size
            headers["Content-Length"] = str(size)
        if sha256:
            params["ChecksumSHA256"] = sha256
            headers["x-amz-checksum-sha256"] = sha256
        if metadata:
            params["Metadata"] = dict(metadata)
            headers |= {f"x-amz-meta-{k.lower()}": v for k, v in metadata.items()}
        headers["If-None-Match"] = "*"
        return params, headers

    def _part_request(
        self, name: str, multipart_id: str, part_number: int, size: int
    ) -> tuple[dict[str, Any], list[tuple[str, str]], dict[str, str]]:
        """An UploadPart's botocore params, the query and the headers they become."""
        params = {
            "Bucket": self.bucket,
            "Key": name,
            "UploadId": multipart_id,
            "PartNumber": part_number,
            "ContentLength": size,
        }
        query = [("uploadId", multipart_id), ("partNumber", str(part_number))]
        return params, query, {"Content-Length": str(size)}

    def _download_request(
        self, name: str, content_type: str, attachment_name: str | None
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """A GetObject's botocore params and the query they become."""
        params = {"Bucket": self.bucket, "Key": name, "ResponseContentType": content_type}
        query = [("response-content-type", content_type)]
        if attachment_name:
            disposition = content_disposition_header(True, attachment_name)
            params["ResponseContentDisposition"] = disposition
            query.append(("response-content-disposition", disposition))
        return params, query

    def _credentials(self) -> sigv4.Credentials:
        """The session's current keys; botocore refreshes expiring role credentials here."""
        credentials = self._session_obj.get_credentials()
        if credentials is None:
            raise NoCredentialsError()
        frozen: sigv4.Credentials = credentials.get_frozen_credentials()
        return frozen

    def _fast_presigner(self) -> sigv4.QueryPresigner | None:
        """The fast presigner, once it signed the probe requests exactly as botocore does;
        None when it did not (botocore then signs)."""
        if self._presigner_checked:
            return self._presigner
        with self._lock:
            if not self._presigner_checked:
                # A botocore error here (no credentials yet, ...) is raised, and the
                # check runs again on the next presign.
                self._presigner = self._checked_presigner()
                self._presigner_checked = True
        return self._presigner

    def _checked_presigner(self) -> sigv4.QueryPresigner | None:
        credentials = self._credentials()
        put_params, put_headers = self._put_request(
            PROBE_NAME, "image/png", 1, PROBE_SHA256, {"Upload-Id": "probe", "owner": "1"}
        )
        part_params, part_query, part_headers = self._part_request(PROBE_NAME, "probe+/=", 7, 1)
        get_params, get_query = self._download_request(
            PROBE_NAME, "application/pdf", "r\u00e9sum\u00e9 1+1.pdf"
        )
        expected = [
            self.client.generate_presigned_url(
                "put_object", Params=put_params, ExpiresIn=PROBE_EXPIRES, HttpMethod="PUT"
            ),
            self.client.generate_presigned_url(
                "upload_part", Params=part_params, ExpiresIn=PROBE_EXPIRES, HttpMethod="PUT"
            ),
            self.client.generate_presigned_url(
                "get_object", Params=get_params, ExpiresIn=PROBE_EXPIRES
            ),
        ]
        region = self.client.meta.region_name
        base = expected[0].partition("?")[0]
        quoted = sigv4.quote_name(PROBE_NAME)
        presigner = None
        if region and base.endswith(quoted):
            try:
                presigner = sigv4.QueryPresigner(base[: -len(quoted)], region)
            except ValueError:
                pass
        if presigner is not None:
            requests = [
                ("PUT", put_headers, []),
                ("PUT", part_headers, part_query),
                ("GET", {}, get_query),
            ]
            signed = [
                presigner.presign(
                    method,
                    PROBE_NAME,
                    credentials=credentials,
                    expires=PROBE_EXPIRES,
                    headers=headers,
                    params=query,
                    date=_amz_date(url),
                )
                for (method, headers, query), url in zip(requests, expected, strict=True)
            ]
            if signed == expected:
                return presigner
        logger.warning(
            "Storage '%s': botocore presigns S3 URLs differently than uploads.signers.sigv4 "
            "for this configuration; this signer keeps presigning through botocore (slower).",
            self.alias,
        )
        return None

    def _presign_post(self, spec: UploadSpec, expires_in: int) -> PresignedUpload:
        low, high = (spec.size, spec.size) if spec.size is not None else (1, spec.max_size)
        fields = {"Content-Type": spec.content_type}
        fields |= {f"x-amz-meta-{k.lower()}": v for k, v in spec.metadata.items()}
        if spec.sha256:
            fields["x-amz-checksum-sha256"] = spec.sha256
        # Every field must equal its value exactly; botocore adds bucket, key (exact) and
        # the signing fields; S3 refuses any field the policy does not name.
        conditions: list[Any] = [{name: value} for name, value in fields.items()]
        conditions.append(["content-length-range", low, high])
        try:
            post = self.client.generate_presigned_post(
                self.bucket,
                self.object_name(spec.key),
                Fields=fields,
                Conditions=conditions,
                ExpiresIn=expires_in,
            )
        except (BotoCoreError, ClientError) as err:
            raise self._wrap(err, "sign an upload for", spec.key) from err
        if post["fields"].get("x-amz-algorithm") != SIGV4:
            raise SignerError("botocore did not sign the POST policy with SigV4.")
        return PresignedUpload(
            url=post["url"], method="POST", headers={}, fields=dict(post["fields"])
        )

    def presign_download(
        self, key: str, *, expires_in: int, content_type: str, attachment_name: str | None
    ) -> str:
        name = self.object_name(key)
        params, query = self._download_request(name, content_type, attachment_name)
        url, _ = self._presign(
            "get_object",
            "GET",
            name,
            params,
            expires=min(max(1, expires_in), MAX_EXPIRY),
            query=query,
            doing="sign a download of",
            key=key,
        )
        return url

    def _presign(
        self,
        operation: str,
        method: str,
        name: str,
        params: dict[str, Any],
        *,
        expires: int,
        headers: dict[str, str] | None = None,
        query: list[tuple[str, str]] | None = None,
        doing: str,
        key: str,
    ) -> tuple[str, str | None]:
        """A presigned URL for botocore's ``operation`` with ``params``, and the headers it
        signs: by the fast presigner (its query and headers being those params), or by
        botocore where the signer fell back (None: the URL says what it signs)."""
        try:
            presigner = self._fast_presigner()
            if presigner is not None:
                url = presigner.presign(
                    method,
                    name,
                    credentials=self._credentials(),
                    expires=expires,
                    headers=headers,
                    params=query or [],
                )
                return url, presigner.signed_headers(headers)
            url = self.client.generate_presigned_url(
                operation, Params=params, ExpiresIn=expires, HttpMethod=method
            )
            return str(url), None
        except (BotoCoreError, ClientError) as err:
            raise self._wrap(err, doing, key) from err

    def public_url(self, key: str) -> str:
        """The CDN base when one is set, else the storage's custom domain, else the
        object's plain (unsigned) URL in the bucket."""
        if app_settings.PUBLIC_BASE_URL:
            return super().public_url(key)
        return self.anonymous_url(key)

    def anonymous_url(self, key: str) -> str:
        name = self.object_name(key)
        domain = getattr(self.storage, "custom_domain", None)
        if domain:
            protocol = getattr(self.storage, "url_protocol", "https:")
            return f"{protocol}//{domain}/{filepath_to_uri(name)}"
        if not self._public_prefix_checked:
            with self._lock:
                if not self._public_prefix_checked:
                    self._unsigned_client = self._build_client(client_config(), unsigned=True)
                    self._public_prefix = self._resolve_public_prefix()
                    self._public_prefix_checked = True
        if self._public_prefix is not None:
            return self._public_prefix + sigv4.quote_name(name)
        return str(
            self._unsigned_client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": name}
            )
        )

    def _resolve_public_prefix(self) -> str | None:
        """The bucket's base URL as the unsigned client gives it, None if a URL there is not
        simply that base and the quoted name (botocore then builds each one)."""
        probe = str(
            self._unsigned_client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": PROBE_NAME}
            )
        )
        quoted = sigv4.quote_name(PROBE_NAME)
        if "?" in probe or "#" in probe or not probe.endswith(quoted):
            return None
        return probe[: -len(quoted)]

    # --- reading back -------------------------------------------------------------------

    def stat(self, key: str) -> StoredObject | None:
        http = self._lean()
        if http is not None:
            answer = self._send(http, "HEAD", key, "read", {"x-amz-checksum-mode": "ENABLED"})
            if answer.status == 404:
                self._check_bucket()
                return None
            if answer.status >= 300:
                raise self._refused(answer, "read", key)
            return _stored(answer, int(answer.headers.get("Content-Length") or 0))
        try:
            head = self.client.head_object(
                Bucket=self.bucket, Key=self.object_name(key), ChecksumMode="ENABLED"
            )
        except ClientError as err:
            if _status(err) == 404:
                # HEAD has no body: a missing bucket answers 404 too. Tell them apart.
                self._check_bucket()
                return None
            raise self._wrap(err, "read", key) from err
        except BotoCoreError as err:
            raise self._wrap(err, "read", key) from err
        return StoredObject(
            size=int(head["ContentLength"]),
            content_type=head.get("ContentType"),
            sha256=_full_object_sha256(head),
            metadata=dict(head.get("Metadata") or {}),
        )

    def read_object(self, key: str, length: int) -> tuple[StoredObject, bytes] | None:
        """One ranged GET: the facts come with the bytes (Content-Range gives the size)."""
        http = self._lean()
        if http is not None:
            answer = self._send(
                http,
                "GET",
                key,
                "read",
                {"Range": f"bytes=0-{max(length, 1) - 1}", "x-amz-checksum-mode": "ENABLED"},
            )
            if answer.status == 416:
                stored = self.stat(key)  # an empty object: no byte to range over
                return None if stored is None else (stored, b"")
            if answer.status == 404 and answer.error_code in ("NoSuchKey", "404"):
                self._check_bucket()  # SeaweedFS answers NoSuchKey in a missing bucket
                return None
            if answer.status >= 300:
                raise self._refused(answer, "read", key)
            data = answer.body
            size = _total_size(answer.headers.get("Content-Range"), len(data))
            return _stored(answer, size, whole=len(data) == size), data
        try:
            answer = self.client.get_object(
                Bucket=self.bucket,
                Key=self.object_name(key),
                Range=f"bytes=0-{max(length, 1) - 1}",
                ChecksumMode="ENABLED",
            )
            body = answer["Body"]
            try:
                data = bytes(body.read())
            finally:
                body.close()
        except ClientError as err:
            if _code(err) in ("InvalidRange", "416"):
                stored = self.stat(key)  # an empty object: no byte to range over
                return None if stored is None else (stored, b"")
            if _code(err) in ("NoSuchKey", "404"):
                self._check_bucket()  # SeaweedFS answers NoSuchKey in a missing bucket
                return None
            raise self._wrap(err, "read", key) from err
        except BotoCoreError as err:
            raise self._wrap(err, "read", key) from err
        size = _total_size(answer.get("ContentRange"), len(data))
        return (
            StoredObject(
                size=size,
                content_type=answer.get("ContentType"),
                sha256=_full_object_sha256(answer) if len(data) == size else None,
                metadata=dict(answer.get("Metadata") or {}),
                etag=answer.get("ETag"),
            ),
            data,
        )

    def _check_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as err:
            if _status(err) == 404:
                raise self._missing_bucket() from err
            # Other answers (403 without ListBucket, ...): the object is simply absent.
        except BotoCoreError as err:
            raise self._wrap(err, "read", self.bucket) from err

    def read_head(self, key: str, length: int) -> bytes:
        return self.read_range(key, 0, length)

    def read_range(self, key: str, start: int, length: int) -> bytes:
        if length < 1:
            return b""
        http = self._lean()
        if http is not None:
            wanted = {"Range": f"bytes={start}-{start + length - 1}"}
            answer = self._send(http, "GET", key, "read", wanted)
            if answer.status == 416 or answer.error_code in ("InvalidRange", "NoSuchKey"):
                return b""
            if answer.status >= 300:
                raise self._refused(answer, "read", key)
            return answer.body[:length]
        try:
            answer = self.client.get_object(
                Bucket=self.bucket,
                Key=self.object_name(key),
                Range=f"bytes={start}-{start + length - 1}",
            )
            body = answer["Body"]
            try:
                return bytes(body.read(length))
            finally:
                body.close()
        except ClientError as err:
            if _code(err) in ("InvalidRange", "NoSuchKey", "416"):
                return b""
            raise self._wrap(err, "read", key) from err
        except BotoCoreError as err:
            raise self._wrap(err, "read", key) from err

    def compute_sha256(self, key: str) -> str:
        """Hash the object by streaming it once with the signer's client, in reads of
        ``hash_read_size``."""
        digest = hashlib.sha256()
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.object_name(key))
            body = answer["Body"]
            try:
                for chunk in body.iter_chunks(self.hash_read_size):
                    digest.update(chunk)
            finally:
                body.close()
        except (ClientError, BotoCoreError) as err:
            raise self._wrap(err, "read", key) from err
        return base64.b64encode(digest.digest()).decode()

    def promote(self, staging_key: str, key: str, headers: ObjectHeaders) -> None:
        """A server-side copy with the server's headers (MetadataDirective REPLACE), and S3
        computing the copy's SHA-256; above ``copy_threshold`` a multipart copy with the
        same headers (its checksum is composite, so complete hashes the copy)."""
        source = self._head_for_copy(staging_key)
        if source is not None and source[0] > self.copy_threshold:
            self._copy_in_parts(staging_key, key, headers, *source)
            return
        try:
            self.copy_client.copy_object(**self._copy_params(staging_key, key, headers))
        except (ClientError, BotoCoreError) as err:
            raise self._wrap(err, "copy to", key) from err

    def copy_verified(
        self, staging_key: str, key: str, headers: ObjectHeaders, source: StoredObject
    ) -> str | None:
        """One CopyObject pinned to the ETag that was read (``x-amz-copy-source-if-match``:
        S3 and SeaweedFS answer 412 once the object was replaced), S3 computing the copy's
        SHA-256 and reporting it (SeaweedFS reports none)."""
        if not source.etag:
            self.promote(staging_key, key, headers)
            return None
        if source.size > self.copy_threshold:
            self._copy_in_parts(staging_key, key, headers, source.size, source.etag)
            return None
        http = self._lean()
        if http is not None:
            answer = self._send(
                http,
                "PUT",
                key,
                "copy to",
                self._copy_headers(staging_key, headers, source.etag),
                read_timeout=float(self.copy_client.meta.config.read_timeout),
            )
            if answer.status >= 300 or answer.error_code:
                raise self._refused(answer, "copy to", key)
            return _full_object_sha256({"ChecksumSHA256": answer.field("ChecksumSHA256")})
        params = self._copy_params(staging_key, key, headers)
        params["CopySourceIfMatch"] = source.etag
        try:
            answer = self.copy_client.copy_object(**params)
        except (ClientError, BotoCoreError) as err:
            raise self._wrap(err, "copy to", key) from err
        return _full_object_sha256(answer.get("CopyObjectResult") or {})

    def _copy_headers(self, staging_key: str, headers: ObjectHeaders, etag: str) -> dict[str, str]:
        """``_copy_params`` pinned to ``etag``, as the headers botocore would send."""
        return {
            "x-amz-copy-source": sigv4.quote_param_path(
                f"{self.bucket}/{self.object_name(staging_key)}"
            ),
            "x-amz-copy-source-if-match": etag,
            "x-amz-metadata-directive": "REPLACE",
            "x-amz-checksum-algorithm": "SHA256",
        } | self._object_headers(headers)

    @staticmethod
    def _object_headers(headers: ObjectHeaders) -> dict[str, str]:
        """``_header_params`` as the headers botocore would send."""
        sent = {"Content-Type": headers.content_type}
        sent |= {f"x-amz-meta-{name}": value for name, value in headers.metadata.items()}
        if headers.content_disposition:
            sent["Content-Disposition"] = headers.content_disposition
        if headers.cache_control:
            sent["Cache-Control"] = headers.cache_control
        return sent

    def _copy_params(self, staging_key: str, key: str, headers: ObjectHeaders) -> dict[str, Any]:
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self.object_name(key),
            "CopySource": {"Bucket": self.bucket, "Key": self.object_name(staging_key)},
            "MetadataDirective": "REPLACE",
            "ChecksumAlgorithm": "SHA256",
            **_header_params(headers),
        }
        return params

    def _head_for_copy(self, key: str) -> tuple[int, str] | None:
        """(size, ETag) of the object to copy; None when it is missing (the copy then
        fails with S3's own answer)."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.object_name(key))
        except ClientError as err:
            if _status(err) == 404:
                return None
            raise self._wrap(err, "read", key) from err
        except BotoCoreError as err:
            raise self._wrap(err, "read", key) from err
        return int(head["ContentLength"]), str(head["ETag"])

    def _copy_in_parts(
        self, staging_key: str, key: str, headers: ObjectHeaders, size: int, etag: str
    ) -> None:
        name = self.object_name(key)
        params = {"Bucket": self.bucket, "Key": name, **_header_params(headers)}
        most = self.part_limits[2]
        part_size = max(self.copy_part_size, math.ceil(size / most))
        ranges = [
            (number, start, min(start + part_size, size) - 1)
            for number, start in enumerate(range(0, size, part_size), start=1)
        ]
        source = {"Bucket": self.bucket, "Key": self.object_name(staging_key)}
        try:
            upload_id = str(self.client.create_multipart_upload(**params)["UploadId"])
        except (ClientError, BotoCoreError) as err:
            raise self._wrap(err, "copy to", key) from err

        def copy_part(part: tuple[int, int, int]) -> dict[str, Any]:
            number, first, last = part
            answer = self.copy_client.upload_part_copy(
                Bucket=self.bucket,
                Key=name,
                UploadId=upload_id,
                PartNumber=number,
                CopySource=source,
                CopySourceRange=f"bytes={first}-{last}",
                # A staging object replaced mid-copy (a POST form sent again) fails the
                # copy rather than mixing two files.
                CopySourceIfMatch=etag,
            )
            return {"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]}

        try:
            with ThreadPoolExecutor(max_workers=min(self.copy_concurrency, len(ranges))) as pool:
                parts = list(pool.map(carried(copy_part), ranges))
            self.copy_client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=name,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except (ClientError, BotoCoreError) as err:
            self._abort_quietly(name, upload_id)
            raise self._wrap(err, "copy to", key) from err
        except BaseException:
            self._abort_quietly(name, upload_id)
            raise

    def _abort_quietly(self, name: str, upload_id: str) -> None:
        """Release a failed copy's parts; the lifecycle rule catches what this misses."""
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
        except (ClientError, BotoCoreError):
            pass

    # --- multipart uploads --------------------------------------------------------------

    def create_multipart(self, spec: UploadSpec) -> str:
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self.object_name(spec.key),
            "ContentType": spec.content_type,
        }
        if spec.metadata:
            params["Metadata"] = dict(spec.metadata)
        if spec.headers is not None:
            params |= _header_params(spec.headers)
        try:
            return str(self.client.create_multipart_upload(**params)["UploadId"])
        except (ClientError, BotoCoreError) as err:
            raise self._wrap(err, "start a multipart upload of", spec.key) from err

    def presign_part(
        self, spec: UploadSpec, multipart_id: str, part_number: int, size: int
    ) -> PresignedUpload:
        _, largest, most = self.part_limits
        if not 1 <= part_number <= most:
            raise SignerError(f"S3 numbers parts from 1 to {most}, not {part_number}.")
        if not 1 <= size <= largest:
            raise SignerError(f"S3 takes parts of 1 to {largest} bytes, not {size}.")
        name = self.object_name(spec.key)
        params, query, headers = self._part_request(name, multipart_id, part_number, size)
        url, signed = self._presign(
            "upload_part",
            "PUT",
            name,
            params,
            expires=_seconds_until(spec.expires_at),
            headers=headers,
            query=query,
            doing="sign a part for",
            key=spec.key,
        )
        _check_sigv4(url, headers, signed)
        return PresignedUpload(url=url, method="PUT", headers=headers)

    def list_parts(self, key: str, multipart_id: str) -> list[StoredPart]:
        parts: dict[int, StoredPart] = {}
        marker = 0
        while True:
            params: dict[str, Any] = {
                "Bucket": self.bucket,
                "Key": self.object_name(key),
                "UploadId": multipart_id,
                "MaxParts": self.list_parts_page,
            }
            if marker:
                params["PartNumberMarker"] = marker
            try:
                page = self.client.list_parts(**params)
            except ClientError as err:
                if _code(err) == "NoSuchUpload":
                    return []
                raise self._wrap(err, "list the parts of", key) from err
            except BotoCoreError as err:
                raise self._wrap(err, "list the parts of", key) from err
            for part in page.get("Parts") or []:
                number = int(part["PartNumber"])
                # SeaweedFS lists a part sent twice twice; S3 keeps the last one sent.
                parts[number] = StoredPart(number, int(part["Size"]), str(part["ETag"]))
            following = int(page.get("NextPartNumberMarker") or 0)
            if not page.get("IsTruncated"):
                break
            if following <= marker:
                raise SignerError(f"S3 listed the parts of {key} without moving on.")
            marker = following
        return [parts[number] for number in sorted(parts)]

    def complete_multipart(self, key: str, multipart_id: str, parts: list[StoredPart]) -> None:
        if not parts:
            raise SignerError(f"A multipart upload of {key} cannot be completed without parts.")
        try:
            self.copy_client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.object_name(key),
                UploadId=multipart_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": part.number, "ETag": part.etag} for part in parts]
                },
            )
        except (ClientError, BotoCoreError) as err:
            raise self._wrap(err, "assemble the parts of", key) from err

    def abort_multipart(self, key: str, multipart_id: str) -> None:
        try:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.object_name(key), UploadId=multipart_id
            )
        except ClientError as err:
            if _code(err) in ("NoSuchUpload", "404"):
                return
            raise self._wrap(err, "abort the multipart upload of", key) from err
        except BotoCoreError as err:
            raise self._wrap(err, "abort the multipart upload of", key) from err

    def bounds_size(self, method: str, size_declared: bool) -> bool:
        # A PUT signs Content-Length only when a size was declared; a POST policy's
        # content-length-range always holds the cap.
        return method == "POST" or size_declared

    def write(self, key: str, data: bytes, headers: ObjectHeaders) -> None:
        """A PutObject with the server's headers and the body's SHA-256, which S3 checks
        against what arrives and keeps, as for a copy (the lean client signs it as the
        payload's hash too)."""
        self.write_hashed(
            key, data, headers, base64.b64encode(hashlib.sha256(data).digest()).decode()
        )

    def write_hashed(self, key: str, data: bytes, headers: ObjectHeaders, sha256: str) -> None:
        # The storage checks the body against this checksum, and against the signed payload
        # hash: bytes other than the ones hashed are refused, never stored.
        checksum = sha256
        digest = base64.b64decode(sha256)
        http = self._lean()
        if http is not None:
            sent = self._object_headers(headers) | {"x-amz-checksum-sha256": checksum}
            answer = self._send(http, "PUT", key, "write", sent, body=data, payload=digest.hex())
            if answer.status >= 300:
                raise self._refused(answer, "write", key)
            return
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self.object_name(key),
            "Body": data,
            "ChecksumSHA256": checksum,
            **_header_params(headers),
        }
        try:
            self.client.put_object(**params)
        except (ClientError, BotoCoreError) as err:
            raise self._wrap(err, "write", key) from err

    def delete(self, key: str) -> None:
        http = self._lean()
        if http is not None:
            answer = self._send(http, "DELETE", key, "delete")
            if answer.status < 300 or answer.error_code in ("NoSuchKey", "404"):
                return
            raise self._refused(answer, "delete", key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.object_name(key))
        except ClientError as err:
            if _code(err) in ("NoSuchKey", "404"):
                return
            raise self._wrap(err, "delete", key) from err
        except BotoCoreError as err:
            raise self._wrap(err, "delete", key) from err

    # --- operators ----------------------------------------------------------------------

    def cors_rule(self, origins: list[str]) -> dict[str, Any]:
        return {
            "ID": CORS_RULE_ID,
            "AllowedOrigins": list(origins),
            "AllowedMethods": list(CORS_METHODS),
            "AllowedHeaders": ["*"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 3600,
        }

    def apply_cors(self, origins: list[str]) -> None:
        """Add (or replace) this app's rule in the bucket's CORS configuration; rules
        that others put there are kept."""
        try:
            try:
                rules = self.client.get_bucket_cors(Bucket=self.bucket).get("CORSRules", [])
            except ClientError as err:
                if _code(err) != "NoSuchCORSConfiguration":
                    raise
                rules = []
            rules = [r for r in rules if r.get("ID") != CORS_RULE_ID]
            rules.append(self.cors_rule(origins))
            self.client.put_bucket_cors(Bucket=self.bucket, CORSConfiguration={"CORSRules": rules})
        except (ClientError, BotoCoreError) as err:
            raise self._wrap(err, "configure CORS on", self.bucket) from err

    # --- errors -------------------------------------------------------------------------

    def _missing_bucket(self) -> SignerNotConfigured:
        where = getattr(self.storage, "endpoint_url", None) or "AWS S3"
        return SignerNotConfigured(
            f"Bucket '{self.bucket}' of storage '{self.alias}' does not exist at {where}. "
            "Create it, or fix AWS_STORAGE_BUCKET_NAME (OPTIONS['bucket_name'])."
        )

    def _refusal(self, code: str, status: int, action: str, key: str) -> SignerError:
        """S3's error answer (its code and HTTP status) as a SignerError naming the fix."""
        where = f"storage '{self.alias}' (bucket '{self.bucket}')"
        if code in MISSING_BUCKET:
            return self._missing_bucket()
        if code == "PreconditionFailed" or status == 412:
            return SourceChanged(
                f"S3 refused to {action} {key} in {where}: the source was replaced ({code})."
            )
        if code in BAD_CREDENTIALS:
            return SignerNotConfigured(
                f"S3 refused the credentials of {where} ({code}): check "
                "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_S3_REGION_NAME and the "
                "server's clock."
            )
        if code in SKEWED:
            return SignerNotConfigured(
                f"S3 refused a request of {where}: this server's clock is off. Sync it (NTP)."
            )
        if code in DENIED or status == 403:
            return SignerNotConfigured(
                f"S3 denied access to {where} ({code}) trying to {action} {key}: the "
                "credentials are wrong or lack a permission (s3:GetObject, s3:PutObject, "
                "s3:DeleteObject, s3:ListBucket on the bucket), or the clock is off."
            )
        if code in TRANSIENT or status >= 500:
            return SignerUnavailable(
                f"S3 failed to {action} {key} in {where} after retries ({code})."
            )
        return SignerError(f"S3 refused to {action} {key} in {where} ({code}).")

    def _wrap(self, err: Exception, action: str, key: str) -> SignerError:
        """The provider's error as a SignerError, naming the fix; never a secret."""
        where = f"storage '{self.alias}' (bucket '{self.bucket}')"
        if isinstance(err, ClientError):
            return self._refusal(_code(err), _status(err), action, key)
        if isinstance(err, SSLError):
            return SignerNotConfigured(
                f"TLS to {where} failed ({err}); check AWS_S3_ENDPOINT_URL and AWS_S3_VERIFY."
            )
        if isinstance(err, (BotoConnectionError, HTTPClientError)):
            return SignerUnavailable(
                f"S3 did not answer when trying to {action} {key} in {where} "
                f"after retries ({type(err).__name__})."
            )
        if isinstance(err, (NoCredentialsError, PartialCredentialsError)):
            return SignerNotConfigured(f"{where} has no usable AWS credentials.")
        return SignerError(f"S3 failed to {action} {key} in {where} ({type(err).__name__}).")


def _header_params(headers: ObjectHeaders) -> dict[str, Any]:
    """The botocore params that give an object exactly ``headers``."""
    params: dict[str, Any] = {
        "ContentType": headers.content_type,
        "Metadata": dict(headers.metadata),
    }
    if headers.content_disposition:
        params["ContentDisposition"] = headers.content_disposition
    if headers.cache_control:
        params["CacheControl"] = headers.cache_control
    return params


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _status(err: ClientError) -> int:
    return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _seconds_until(moment: Any) -> int:
    seconds = math.ceil((moment - timezone.now()).total_seconds())
    return min(max(1, seconds), MAX_EXPIRY)


def _full_object_sha256(head: dict[str, Any]) -> str | None:
    """The stored sha256 of the whole object, when S3 kept one. A multipart upload's
    checksum is a checksum of checksums ("...-N" or ChecksumType COMPOSITE): not usable."""
    value = head.get("ChecksumSHA256")
    if not value or head.get("ChecksumType") == "COMPOSITE" or "-" in value:
        return None
    try:
        if len(base64.b64decode(value, validate=True)) != 32:
            return None
    except (binascii.Error, ValueError):
        return None
    return str(value)


def _stored(answer: Answer, size: int, *, whole: bool = True) -> StoredObject:
    """The facts of an object from the headers of a HEAD or GET answer (of its first bytes:
    ``whole`` False, whose checksum, if any, is not the object's)."""
    headers = answer.headers
    checksum = {
        "ChecksumSHA256": headers.get("x-amz-checksum-sha256"),
        "ChecksumType": headers.get("x-amz-checksum-type"),
    }
    return StoredObject(
        size=size,
        content_type=headers.get("Content-Type"),
        sha256=_full_object_sha256(checksum) if whole else None,
        metadata={
            name[len("x-amz-meta-") :].lower(): value
            for name, value in headers.items()
            if name.lower().startswith("x-amz-meta-")
        },
        etag=headers.get("ETag"),
    )


def _total_size(content_range: str | None, received: int) -> int:
    """The object's size from a ranged answer's Content-Range (``bytes 0-9/42``); an answer
    without one (the whole object) is as long as what arrived."""
    if content_range and "/" in content_range:
        total = content_range.rpartition("/")[2]
        if total.isdigit():
            return int(total)
    return received


def _amz_date(url: str) -> str:
    """The X-Amz-Date a presigned URL was signed at."""
    return parse_qs(urlsplit(url).query).get("X-Amz-Date", [""])[0]


def _check_sigv4(url: str, headers: dict[str, str], signed_headers: str | None = None) -> None:
    """Refuse to hand out a URL that is not SigV4 or that signs other headers than the
    ones the client is told to send (a botocore change must not drop the size limit).
    ``signed_headers`` is the fast presigner's own account of what it signed (its URLs
    are SigV4 by construction); without it, botocore's URL is read."""
    if signed_headers is None:
        query = parse_qs(urlsplit(url).query)
        if query.get("X-Amz-Algorithm") != [SIGV4]:
            raise SignerError("botocore did not presign the upload with SigV4.")
        signed_headers = query.get("X-Amz-SignedHeaders", [""])[0]
    signed = set(signed_headers.split(";"))
    expected = {name.lower() for name in headers} | {"host"}
    if signed != expected:
        raise SignerError(f"S3 URL signs the headers {sorted(signed)}, not {sorted(expected)}.")
