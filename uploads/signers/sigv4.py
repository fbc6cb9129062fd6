"""SigV4 query-string presigning (AWS4-HMAC-SHA256, ``UNSIGNED-PAYLOAD``) for S3, and header
signing of the requests the S3 signer sends itself (``S3Http``), without botocore's per-call
request pipeline.

It reproduces, byte for byte, the URLs botocore's ``S3SigV4QueryAuth`` gives through
``generate_presigned_url``: the operation's query parameters first, in the order given,
then X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders (and -Security-Token),
then X-Amz-Signature; every query name and value quoted with ``-_.~`` safe; the path taken
as it is (S3 does not normalise nor double-encode it), the object name quoted with ``/~``
safe; the ``host`` header always signed. ``S3Signer`` checks it against botocore on first
use and falls back to botocore when they differ.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Protocol
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
# The payload hash botocore's S3SigV4Auth signs for a request without a body (http or https).
EMPTY_PAYLOAD = hashlib.sha256(b"").hexdigest()
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
DEFAULT_PORTS = {"http": 80, "https": 443}
# Headers botocore never signs (botocore.auth.SIGNED_HEADERS_BLACKLIST).
UNSIGNED_HEADERS = frozenset(
    {
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)
# botocore drops this Content-Type from a presigned request, taking it for the default it
# sets on query-protocol bodies; mirrored so that the URLs stay identical.
BOTOCORE_FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"


class Credentials(Protocol):
    """What botocore's ``ReadOnlyCredentials`` (``get_frozen_credentials()``) carries."""

    @property
    def access_key(self) -> str: ...

    @property
    def secret_key(self) -> str: ...

    @property
    def token(self) -> str | None: ...


def quote_param(value: str) -> str:
    """A query name or value as botocore's ``percent_encode`` quotes it."""
    return quote(value, safe="-_.~")


@lru_cache(maxsize=256)
def _quote_repeated(value: str) -> str:
    """quote_param of a value signed again and again (a credential scope, a session token,
    a list of signed headers): quoting is most of the cost of a URL otherwise."""
    return quote_param(value)


def quote_param_path(value: str) -> str:
    """``bucket/name`` as botocore quotes it in x-amz-copy-source."""
    return quote(value, safe="-_.~/")


def quote_name(name: str) -> str:
    """An object name in the URL path, as botocore's REST serializer quotes a ``{Key+}``."""
    return quote(name, safe="/~")


def amz_date() -> str:
    """Now, as X-Amz-Date (UTC)."""
    return time.strftime(AMZ_DATE_FORMAT, time.gmtime())


@lru_cache(maxsize=64)
def signing_key(secret_key: str, day: str, region: str, service: str) -> bytes:
    """The derived key of one day (``YYYYMMDD``), region and service; it changes daily, so
    a small cache keyed by all four holds the few in use."""
    key = hmac.new(f"AWS4{secret_key}".encode(), day.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def host_header(url: str) -> str:
    """The ``host`` botocore signs for ``url``: lower case, no default port, no userinfo."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


class QueryPresigner:
    """Presigns URLs under one prefix (``scheme://host[:port]/path/``, the bucket's base as
    botocore resolves it) in one region: ``prefix + quoted object name``."""

    def __init__(self, prefix: str, region: str, service: str = "s3") -> None:
        parts = urlsplit(prefix)
        if not parts.scheme or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"Not a URL prefix: {prefix!r}")
        self.prefix = prefix
        self.region = region
        self.service = service
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._path = parts.path
        self._host = host_header(prefix)

    def canonical_headers(self, headers: Mapping[str, str] | None) -> dict[str, str]:
        """The headers a presign with ``headers`` signs, by lower-cased name, ``host``
        included, values trimmed as SigV4 canonicalises them."""
        canonical = {"host": self._host}
        for header, value in (headers or {}).items():
            lower = header.lower()
            if lower in UNSIGNED_HEADERS or (
                lower == "content-type" and value == BOTOCORE_FORM_CONTENT_TYPE
            ):
                continue
            canonical[lower] = " ".join(value.split())
        return canonical

    def signed_headers(self, headers: Mapping[str, str] | None) -> str:
        """X-Amz-SignedHeaders of a presign with ``headers``."""
        return ";".join(sorted(self.canonical_headers(headers)))

    def url(self, name: str) -> str:
        """The object's plain, unsigned URL."""
        return self.prefix + quote_name(name)

    def presign(
        self,
        method: str,
        name: str,
        *,
        credentials: Credentials,
        expires: int,
        headers: Mapping[str, str] | None = None,
        params: Sequence[tuple[str, str]] = (),
        date: str | None = None,
    ) -> str:
        """The presigned URL of ``method`` on object ``name``: it binds ``headers`` (which
        the client must send as they are) and carries ``params`` in its query, in order.
        ``date`` is the X-Amz-Date to sign at (now by default)."""
        date = date or amz_date()  # digits and letters only: nothing to quote
        day = date[:8]
        path = self._path + quote_name(name)
        scope = f"{day}/{self.region}/{self.service}/aws4_request"

        canonical = self.canonical_headers(headers)
        names = sorted(canonical)
        signed_headers = ";".join(names)

        query = [(quote_param(key), quote_param(value)) for key, value in params]
        query += [
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", _quote_repeated(f"{credentials.access_key}/{scope}")),
            ("X-Amz-Date", date),
            ("X-Amz-Expires", str(int(expires))),
            ("X-Amz-SignedHeaders", _quote_repeated(signed_headers)),
        ]
        if credentials.token is not None:
            query.append(("X-Amz-Security-Token", _quote_repeated(credentials.token)))

        signature = self._signature(
            method,
            path,
            "&".join(f"{param}={value}" for param, value in sorted(query)),
            canonical,
            UNSIGNED_PAYLOAD,
            date,
            credentials.secret_key,
        )
        rendered = "&".join(f"{param}={value}" for param, value in query)
        return f"{self._origin}{path}?{rendered}&X-Amz-Signature={signature}"

    def sign_headers(
        self,
        method: str,
        name: str,
        *,
        credentials: Credentials,
        headers: Mapping[str, str],
        params: Sequence[tuple[str, str]] = (),
        date: str | None = None,
        payload: str = EMPTY_PAYLOAD,
    ) -> tuple[str, dict[str, str]]:
        """The path and query (``/bucket/name?a=b``, relative to the prefix's origin) of a
        ``method`` request on object ``name``, and its headers: ``headers``, the date, the
        payload hash (``payload``, the hex SHA-256 of the body; none by default), the session
        token and the Authorization that signs them all, as botocore's S3SigV4Auth signs
        them."""
        date = date or amz_date()
        path = self._path + quote_name(name)
        query = sorted((quote_param(key), quote_param(value)) for key, value in params)
        rendered = "&".join(f"{param}={value}" for param, value in query)
        sent = dict(headers)
        sent["X-Amz-Date"] = date
        sent["X-Amz-Content-SHA256"] = payload
        if credentials.token is not None:
            sent["X-Amz-Security-Token"] = credentials.token
        canonical = self.canonical_headers(sent)
        signature = self._signature(
            method, path, rendered, canonical, payload, date, credentials.secret_key
        )
        scope = f"{date[:8]}/{self.region}/{self.service}/aws4_request"
        sent["Authorization"] = (
            f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={';'.join(sorted(canonical))}, Signature={signature}"
        )
        return (f"{path}?{rendered}" if rendered else path), sent

    def _signature(
        self,
        method: str,
        path: str,
        query: str,
        canonical: Mapping[str, str],
        payload: str,
        date: str,
        secret_key: str,
    ) -> str:
        names = sorted(canonical)
        canonical_request = "\n".join(
            (
                method.upper(),
                path,
                query,
                "".join(f"{header}:{canonical[header]}\n" for header in names),
                ";".join(names),
                payload,
            )
        )
        string_to_sign = "\n".join(
            (
                ALGORITHM,
                date,
                f"{date[:8]}/{self.region}/{self.service}/aws4_request",
                hashlib.sha256(canonical_request.encode()).hexdigest(),
            )
        )
        derived = signing_key(secret_key, date[:8], self.region, self.service)
        return hmac.new(derived, string_to_sign.encode(), hashlib.sha256).hexdigest()
