"""The S3 signer's lean client (uploads.signers.s3_http) and complete's storage calls: header
SigV4 signed as botocore signs it, byte for byte; SeaweedFS (which verifies signatures and
checksums) taking HEAD, GET, CopyObject, PutObject and DELETE from it; a small avatar
completed in three calls, counted at the transport of both clients, with the recorded sha256
that of the stored bytes; bytes damaged on their way to the key refused by the storage, with
either client."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import time_machine
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from rest_framework.test import APIClient

from tests.backends.s3 import BUCKET, S3Backend, send_answer
from tests.conftest import make_png, sha256_b64
from tests.helpers import assert_error, assert_ok, complete, presign_ok, use_storage
from tests.stall_proxy import stall_proxy
from tests.test_sigv4 import CONFIGS, CREDENTIALS, KEYS, NOW, build
from uploads.keys import staging_key
from uploads.models import Upload
from uploads.signers import ObjectHeaders, SourceChanged, StoredObject, get_signer, sigv4
from uploads.signers.s3 import S3Signer

AMZ_NOW = NOW.strftime(sigv4.AMZ_DATE_FORMAT)
BODY = b"\x89PNG written \x00\xff" * 50  # the body of the "put" request, none for the others
REQUESTS = {
    "head": ("HEAD", {"x-amz-checksum-mode": "ENABLED"}, []),
    "ranged-get": ("GET", {"Range": "bytes=0-4095", "x-amz-checksum-mode": "ENABLED"}, []),
    "copy": (
        "PUT",
        {
            "x-amz-copy-source": "uploads-test/staging/a%20b%2B~.png",
            "x-amz-copy-source-if-match": '"5eb63bbbe01eeed093cb22bb8f5acdc3"',
            "x-amz-metadata-directive": "REPLACE",
            "x-amz-checksum-algorithm": "SHA256",
            "Content-Type": "image/png",
            "Content-Disposition": "attachment;  filename*=utf-8''r%C3%A9sum%C3%A9.pdf",
            "Cache-Control": "private, max-age=3600",
            "x-amz-meta-upload-id": str(uuid.UUID(int=1)),
        },
        [],
    ),
    "delete": ("DELETE", {}, []),
    "query": ("GET", {}, [("uploadId", "a+b/=c"), ("partNumber", "7")]),
    "put": (
        "PUT",
        {
            "Content-Type": "image/png",
            "Cache-Control": "private, max-age=3600",
            "x-amz-meta-owner": "7",
            "x-amz-checksum-sha256": sha256_b64(BODY),
        },
        [],
    ),
}


@pytest.mark.parametrize("request_name", list(REQUESTS))
@pytest.mark.parametrize("credentials", list(CREDENTIALS))
@pytest.mark.parametrize("config", list(CONFIGS))
def test_header_signatures_equal_botocore_byte_for_byte(
    config: str, credentials: str, request_name: str
) -> None:
    signer = build(config, credentials)
    presigner = signer._fast_presigner()
    assert presigner is not None
    method, headers, params = REQUESTS[request_name]
    body = BODY if request_name == "put" else None
    payload = hashlib.sha256(body or b"").hexdigest()
    keys = signer._credentials()
    for key in KEYS:
        path, sent = presigner.sign_headers(
            method,
            key,
            credentials=keys,
            headers=headers,
            params=params,
            date=AMZ_NOW,
            payload=payload,
        )
        origin = presigner.prefix.split("/", 3)
        url = "/".join(origin[:3]) + path
        request = AWSRequest(method=method, url=url, headers=headers, data=body)
        with time_machine.travel(NOW, tick=False):
            S3SigV4Auth(keys, "s3", presigner.region).add_auth(request)
        assert sent == dict(request.headers.items()), key


def test_a_proxy_keeps_the_calls_on_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lean client knows no proxy: where botocore would use one, botocore sends."""
    from botocore.config import Config

    assert build("path-style-endpoint")._lean() is not None
    proxied = Config(proxies={"http": "http://127.0.0.1:3128"})
    assert build("path-style-endpoint", client_config=proxied)._lean() is None
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert build("path-style-endpoint")._lean() is None


@pytest.fixture
def seaweed(settings: Any, s3_backend: S3Backend) -> S3Signer:
    use_storage(settings, s3_backend.storage_config())
    signer = get_signer("default")
    assert isinstance(signer, S3Signer)
    return signer


@pytest.mark.django_db
def test_seaweedfs_takes_every_call_of_the_lean_client(
    seaweed: S3Signer, s3_backend: S3Backend
) -> None:
    body = b"\x89PNG lean \x00\xff" * 300
    staging = staging_key(f"media/7/{uuid.uuid4()} r\u00e9sum\u00e9+~%(1).png")
    key = staging.split("/", 1)[1]
    s3_backend.admin.put_object(
        Bucket=BUCKET, Key=staging, Body=body, ContentType="image/png", Metadata={"owner": "7"}
    )

    stored, head = seaweed.read_object(staging, 100) or (None, b"")
    assert seaweed._http is not None  # the lean client, not botocore, sent it
    assert stored is not None and (stored.size, head) == (len(body), body[:100])
    assert (stored.content_type, stored.metadata) == ("image/png", {"owner": "7"})
    assert stored.etag == f'"{hashlib.md5(body).hexdigest()}"'  # S3's ETag: the MD5
    assert seaweed.read_object(staging, len(body)) == (stored, body)
    assert seaweed.stat(staging) == stored
    assert seaweed.read_range(staging, 10, 5) == body[10:15]

    headers = ObjectHeaders("image/png", "inline", "private, max-age=60", {"owner": "7"})
    assert seaweed.copy_verified(staging, key, headers, stored) is None  # SeaweedFS keeps none
    assert s3_backend.read(key) == body
    assert s3_backend.served_headers(key) == {
        "content-type": "image/png",
        "cache-control": "private, max-age=60",
        "content-disposition": "inline",
    }

    s3_backend.admin.put_object(Bucket=BUCKET, Key=staging, Body=body + b"!")
    with pytest.raises(SourceChanged):
        seaweed.copy_verified(staging, key, headers, stored)

    seaweed.write(key, body[::-1], headers)
    assert s3_backend.read(key) == body[::-1]
    assert s3_backend.served_headers(key) == {
        "content-type": "image/png",
        "cache-control": "private, max-age=60",
        "content-disposition": "inline",
    }
    assert seaweed.read_object(key, len(body))[0].metadata == {"owner": "7"}  # type: ignore[index]

    seaweed.delete(staging)
    seaweed.delete(staging)  # already gone: no error
    assert seaweed.read_object(staging, 100) is None and seaweed.stat(staging) is None
    assert seaweed.read_range(staging, 0, 5) == b""


@contextmanager
def storage_calls(signer: S3Signer) -> Iterator[list[str]]:
    """Every request either client of ``signer`` sends, in order, by client and method: the
    lean client's as its urllib3 pool sends them, botocore's at its before-send event."""
    sent: list[str] = []

    def botocore_sent(request: Any, **_: Any) -> None:
        sent.append(f"botocore {request.method}")

    http = signer._lean()
    assert http is not None
    urlopen = http.pool.urlopen

    def lean_sent(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(f"lean {method}")
        return urlopen(method, url, *args, **kwargs)

    for client in (signer.client, signer.copy_client):
        client.meta.events.register("before-send.s3", botocore_sent)
    http.pool.urlopen = lean_sent  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        http.pool.urlopen = urlopen  # type: ignore[method-assign]
        for client in (signer.client, signer.copy_client):
            client.meta.events.unregister("before-send.s3", botocore_sent)


@pytest.mark.django_db
def test_a_small_avatar_completes_in_three_storage_calls_with_the_stored_bytes_sha256(
    seaweed: S3Signer,
    s3_backend: S3Backend,
    api: APIClient,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    png = make_png(16, 16, b"three calls")
    answer = presign_ok(api, png)
    assert send_answer(answer, png, answer["headers"]).status == 200

    with storage_calls(seaweed) as sent:
        with django_capture_on_commit_callbacks() as after_commit:
            data = assert_ok(complete(api, answer["id"]))
        # The staging object read whole, then the bytes read written to the key with their
        # sha256: no copy, and so nothing to read back.
        assert sent == ["lean GET", "lean PUT"]
        after_commit[0]()  # the staging object's removal, registered first
        assert sent[2:] == ["lean DELETE"]

    assert data["status"] == "completed"
    upload = Upload.objects.get(pk=answer["id"])
    at_key = s3_backend.read(upload.key)
    assert at_key is not None
    assert upload.verified_sha256 == sha256_b64(png) == sha256_b64(at_key)
    assert s3_backend.read(staging_key(upload.key)) is None


@pytest.mark.django_db
def test_a_file_over_write_verified_up_to_is_copied_and_read_back(
    settings: Any,
    s3_backend: S3Backend,
    api: APIClient,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "WRITE_VERIFIED_UP_TO": 0}
    use_storage(settings, s3_backend.storage_config())
    signer = get_signer("default")
    assert isinstance(signer, S3Signer)
    png = make_png(16, 16, b"copied")
    answer = presign_ok(api, png)
    assert send_answer(answer, png, answer["headers"]).status == 200

    with storage_calls(signer) as sent:
        with django_capture_on_commit_callbacks() as after_commit:
            assert_ok(complete(api, answer["id"]))
        after_commit[0]()  # the staging object's removal
    # The copy pinned to the ETag read, and the key read back: SeaweedFS reports no sha256
    # for a copy (S3 does, and saves that GET).
    assert sent == ["lean GET", "lean PUT", "lean GET", "lean DELETE"]
    assert Upload.objects.get(pk=answer["id"]).verified_sha256 == sha256_b64(png)
    assert s3_backend.read(answer["key"]) == png


@pytest.mark.parametrize("client", ["lean", "botocore"])
@pytest.mark.django_db
def test_bytes_damaged_on_their_way_to_the_key_are_refused_by_the_storage(
    client: str,
    settings: Any,
    s3_backend: S3Backend,
    api: APIClient,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    """The write carries the verified bytes' sha256, which SeaweedFS, as S3, checks against
    what arrives: damaged bytes are refused (BadDigest), complete answers that the storage
    failed, as any refusal of the storage, and the upload can be completed again."""
    png = make_png(16, 16, b"sent whole")
    port = int(s3_backend.server.endpoint.rsplit(":", 1)[1])
    with stall_proxy(port, b"never held") as proxy:
        use_storage(settings, s3_backend.storage_config(endpoint_url=proxy.url))
        signer = get_signer("default")
        assert isinstance(signer, S3Signer) and signer._lean() is not None
        if client == "botocore":  # as where the lean client is off
            signer._http = None
        answer = presign_ok(api, png)
        assert send_answer(answer, png, answer["headers"]).status == 200

        proxy.damage = (b"sent whole", b"sent WHOLE")
        with django_capture_on_commit_callbacks(execute=True):
            response = complete(api, answer["id"])

        assert_error(response, 503, "storage.unavailable")
        refused = [r.getMessage() for r in caplog.records if r.name == "uploads"]
        assert refused == [
            f"Storage failed: S3 refused to write {answer['key']} in storage 'default' "
            f"(bucket '{BUCKET}') (BadDigest)."
        ]
        assert s3_backend.read(answer["key"]) is None
        assert Upload.objects.get(pk=answer["id"]).status == "pending"

        proxy.damage = None
        with django_capture_on_commit_callbacks(execute=True):
            assert assert_ok(complete(api, answer["id"]))["status"] == "completed"
    assert s3_backend.read(answer["key"]) == png
    assert s3_backend.read(staging_key(answer["key"])) is None


@pytest.fixture
def untrusted_tls_port(tmp_path: Any) -> Iterator[int]:
    """A port that speaks TLS with a self-signed certificate no CA bundle trusts."""
    import socket
    import ssl
    import subprocess
    import threading

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                context.wrap_socket(client, server_side=True).close()
            except (OSError, ssl.SSLError):
                client.close()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


@pytest.mark.django_db
def test_an_untrusted_certificate_is_a_configuration_error_as_with_botocore(
    settings: Any, s3_backend: S3Backend, untrusted_tls_port: int
) -> None:
    from uploads.signers import SignerNotConfigured

    use_storage(
        settings, s3_backend.storage_config(endpoint_url=f"https://127.0.0.1:{untrusted_tls_port}")
    )
    signer = get_signer("default")
    assert isinstance(signer, S3Signer) and signer._lean() is not None
    with pytest.raises(SignerNotConfigured, match="TLS to storage 'default'"):
        signer.read_object(staging_key("avatars/1/x.png"), 10)
    with pytest.raises(SignerNotConfigured, match="TLS to storage 'default'"):
        signer.write("avatars/1/x.png", b"x", ObjectHeaders("image/png"))  # botocore's


@pytest.fixture
def scripted_s3() -> Iterator[tuple[str, list[tuple[int, bytes]], list[str]]]:
    """An HTTP server answering each request with the next (status, body) of its script,
    the last one over and over; records each request's method."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    script: list[tuple[int, bytes]] = []
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            seen.append(self.command)
            status, body = script.pop(0) if len(script) > 1 else script[0]
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            if status == 206:
                self.send_header("Content-Range", f"bytes 0-{len(body) - 1}/{len(body)}")
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = do_DELETE = answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", script, seen
    server.shutdown()


SLOW_DOWN = b"<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>"


@pytest.mark.django_db
def test_a_storage_that_asks_to_slow_down_is_tried_again_then_unavailable(
    settings: Any, s3_backend: S3Backend, scripted_s3: Any
) -> None:
    from uploads.signers import SignerUnavailable

    url, script, seen = scripted_s3
    settings.UPLOADS = {**settings.UPLOADS, "STORAGE_ATTEMPTS": 2}
    use_storage(settings, s3_backend.storage_config(endpoint_url=url))
    signer = get_signer("default")
    assert isinstance(signer, S3Signer)

    script[:] = [(503, SLOW_DOWN), (206, b"\x89PNG")]
    found = signer.read_object("avatars/1/x.png", 10)
    assert found is not None and (found[0].size, found[1]) == (4, b"\x89PNG")
    assert seen == ["GET", "GET"]

    script[:] = [(503, SLOW_DOWN)]
    with pytest.raises(SignerUnavailable, match="SlowDown"):
        signer.delete("avatars/1/x.png")
    assert seen[2:] == ["DELETE", "DELETE"]

    # A CopyObject that fails after S3 answered 200 says so in its body.
    script[:] = [
        (200, b"  \n<Error><Code>InternalError</Code></Error>"),
        (200, b"<CopyObjectResult/>"),
    ]
    source = StoredObject(4, "image/png", etag='"e"')
    assert (
        signer.copy_verified("staging/x.png", "x.png", ObjectHeaders("image/png"), source) is None
    )
    assert seen[4:] == ["PUT", "PUT"]
