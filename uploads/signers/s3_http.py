"""A lean HTTP client for the S3 signer's calls on one object (HEAD, ranged GET, CopyObject,
DELETE, and PutObject of bytes held in memory): one pooled urllib3 connection pool to the
bucket's endpoint, each request signed with SigV4 headers by ``uploads.signers.sigv4``.
botocore spends milliseconds of CPU per call in its request pipeline; complete makes several
calls per upload.

It keeps botocore's contract for these calls: the same connect and read timeouts and attempts
(taken from the signer's botocore client, so the storage's own ``client_config`` applies), the
read timeout cut to the request's storage deadline before each attempt, retries with jittered
backoff on a connection failure, a timeout or an answer S3 means to be retried (5xx,
SlowDown), and a CopyObject's error inside a 200 answer read as the error it is.
"""

from __future__ import annotations

import random
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import urllib3
from urllib3.exceptions import HTTPError, SSLError

from uploads.signers import sigv4
from uploads.signers.base import Signer

#: Answers S3 means to be tried again (botocore's standard retry mode).
RETRIED_STATUSES = frozenset({500, 502, 503, 504})
RETRIED_CODES = frozenset({"SlowDown", "Throttling", "RequestTimeout", "InternalError"})
MAX_BACKOFF = 20.0


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def error_code(self) -> str | None:
        """S3's error code (``NoSuchKey``...), from the XML body or, without one (a HEAD),
        the status; None for a success."""
        # A CopyObject that fails once S3 has answered 200 says so in the body, after the
        # spaces S3 sends to keep a long copy's connection open.
        if self.status < 300 and b"<Error>" not in self.body.lstrip()[:512]:
            return None
        return xml_field(self.body, "Code") or str(self.status)

    def field(self, name: str) -> str | None:
        return xml_field(self.body, name)


class TransportError(Exception):
    """No answer after every attempt; ``tls`` when TLS itself failed (a configuration
    error, never retried)."""

    def __init__(self, message: str, *, tls: bool = False) -> None:
        super().__init__(message)
        self.tls = tls


def xml_field(body: bytes, name: str) -> str | None:
    """The text of the first element called ``name`` (any namespace) in an XML body."""
    if not body.lstrip().startswith(b"<"):
        return None
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    for element in root.iter():
        if element.tag.rpartition("}")[2] == name:
            return element.text
    return None


class S3Http:
    def __init__(
        self,
        presigner: sigv4.QueryPresigner,
        credentials: Callable[[], sigv4.Credentials],
        *,
        connect_timeout: float,
        read_timeout: float,
        attempts: int,
        verify: bool | str,
        pool_size: int = 10,
    ) -> None:
        self.presigner = presigner
        self.credentials = credentials
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.attempts = max(1, attempts)
        options: dict[str, object] = {"maxsize": pool_size, "block": False, "retries": False}
        if presigner.prefix.startswith("https:"):
            if verify is False:
                options["cert_reqs"] = "CERT_NONE"
            elif isinstance(verify, str):
                options["ca_certs"] = verify
        self.pool = urllib3.connection_from_url(presigner.prefix, **options)

    def request(
        self,
        method: str,
        name: str,
        headers: Mapping[str, str] | None = None,
        *,
        params: Sequence[tuple[str, str]] = (),
        read_timeout: float | None = None,
        body: bytes | None = None,
        payload: str = sigv4.EMPTY_PAYLOAD,
    ) -> Answer:
        """Send ``method`` on object ``name`` (with ``body``, whose hex SHA-256 is ``payload``)
        until it is answered with something other than a failure worth retrying, or the
        attempts (or the request's deadline) run out."""
        read = self.read_timeout if read_timeout is None else read_timeout
        failure, retried = "", None
        for attempt in range(self.attempts):
            if attempt:
                # Jittered exponential backoff, as botocore's standard mode, never past the
                # request's deadline (deadline_bound raises once it has passed).
                backoff = min(random.random() * 2 ** (attempt - 1), MAX_BACKOFF)
                time.sleep(min(backoff, Signer.deadline_bound(backoff)))
            bound = Signer.deadline_bound(read)
            path, sent = self.presigner.sign_headers(
                method,
                name,
                credentials=self.credentials(),
                headers=headers or {},
                params=params,
                payload=payload,
            )
            try:
                response = self.pool.urlopen(
                    method,
                    path,
                    body=body,
                    headers=sent,
                    retries=False,
                    redirect=False,
                    assert_same_host=False,
                    timeout=urllib3.Timeout(connect=min(self.connect_timeout, bound), read=bound),
                )
            except SSLError as err:
                raise TransportError(f"TLS failed: {err}", tls=True) from err
            except (HTTPError, OSError) as err:
                failure, retried = type(err).__name__, None
                continue
            answer = Answer(response.status, response.headers, response.data or b"")
            if answer.status in RETRIED_STATUSES or answer.error_code in RETRIED_CODES:
                retried = answer
                continue
            return answer
        if retried is not None:
            return retried  # the storage's own failure, for the caller to name
        raise TransportError(f"no answer ({failure})")
