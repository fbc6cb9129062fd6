"""The fast SigV4 presigner (uploads.signers.sigv4) in the S3 signer: the same URLs as
botocore, byte for byte, over addressing styles, regions, credentials and awkward keys; the
fallback to botocore when they differ; and SeaweedFS, which verifies the signatures."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from botocore.config import Config
from django.utils import timezone
from storages.backends.s3 import S3Storage

from tests.backends.s3 import BUCKET, S3Backend, http
from tests.conftest import sha256_b64
from tests.helpers import use_storage
from uploads.keys import staging_key
from uploads.signers import get_signer, sigv4
from uploads.signers.base import PresignedUpload, UploadSpec
from uploads.signers.s3 import S3Signer, client_config

NOW = datetime(2026, 3, 4, 23, 59, 58, tzinfo=UTC)
KEYS = [
    "media/7/plain.png",
    "media/7/a b  c.png",
    "media/7/r\u00e9sum\u00e9 \u6587\u4ef6.png",
    "media/7/a+b~c%d%20e.png",
    "media/7/(1)'!*;,=&?#@$.png",
]
CONFIGS = {
    "path-style-endpoint": {
        "bucket_name": "uploads-test",
        "endpoint_url": "http://127.0.0.1:8333",
        "region_name": "us-east-1",
    },
    "path-style-prefix": {
        "bucket_name": "uploads-test",
        "endpoint_url": "https://Storage.Example.com:9443/base",
        "region_name": "auto",
        "addressing_style": "path",
    },
    "virtual-us-east-1": {"bucket_name": "my-uploads-bucket", "region_name": "us-east-1"},
    "virtual-eu-west-1": {"bucket_name": "my-uploads-bucket", "region_name": "eu-west-1"},
}
CREDENTIALS = {
    "keys": {"access_key": "AKIDEXAMPLE", "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCY"},
    "session-token": {
        "access_key": "ASIAEXAMPLE",
        "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCY",
        "security_token": "IQoJb3JpZ2luX2VjE/+=token",
    },
}


@pytest.fixture(autouse=True)
def _frozen(request: pytest.FixtureRequest) -> Iterator[None]:
    # Both signers then sign at the same X-Amz-Date (one second before a new day); not
    # against SeaweedFS, which checks X-Amz-Date against its own clock.
    if "seaweed_signer" in request.fixturenames:
        yield
        return
    with time_machine.travel(NOW, tick=False):
        yield


def build(config: str, credentials: str = "keys", **options: Any) -> S3Signer:
    storage = S3Storage(**(CONFIGS[config] | CREDENTIALS[credentials] | options))
    return S3Signer("test", storage)


def botocore_only(signer: S3Signer) -> S3Signer:
    """The same storage's signer, kept on botocore as if its self-check had failed."""
    twin = S3Signer("twin", signer.storage)
    twin._presigner_checked = True
    twin._presigner = None
    return twin


def spec_for(key: str, **fields: Any) -> UploadSpec:
    return UploadSpec(
        key=staging_key(key),
        content_type=fields.pop("content_type", "image/png"),
        expires_at=timezone.now() + timedelta(minutes=5),
        max_size=10_000,
        **fields,
    )


SPECS = {
    "bare": {},
    "size": {"size": 1234},
    "size-sha256-metadata": {
        "size": 1,
        "sha256": sha256_b64(b"x"),
        "metadata": {"upload-id": str(uuid.UUID(int=1)), "owner": "7", "Mixed-Case": "A  b"},
    },
    "content-type-with-parameters": {"content_type": "text/plain; charset=utf-8", "size": 9},
}


def assert_same(fast: PresignedUpload, slow: PresignedUpload) -> None:
    assert fast.url == slow.url
    assert fast.headers == slow.headers
    assert fast.method == slow.method
    # What the guard trusts instead of reading the URL: the headers the presigner signs.
    signed = parse_qs(urlsplit(fast.url).query)["X-Amz-SignedHeaders"][0]
    assert signed == ";".join(sorted({*(h.lower() for h in fast.headers), "host"}))


@pytest.mark.parametrize("location", ["", "tenant a/\u00fc"])
@pytest.mark.parametrize("credentials", list(CREDENTIALS))
@pytest.mark.parametrize("config", list(CONFIGS))
def test_fast_urls_equal_botocore_byte_for_byte(
    config: str, credentials: str, location: str
) -> None:
    signer = build(config, credentials, location=location)
    slow = botocore_only(signer)
    for key in KEYS:
        for fields in SPECS.values():
            spec = spec_for(key, **fields)
            assert_same(signer.presign_upload(spec), slow.presign_upload(spec))
        spec = spec_for(key)
        for number, size in ((1, 5 * 1024 * 1024), (10_000, 1)):
            assert_same(
                signer.presign_part(spec, "up+load/id=", number, size),
                slow.presign_part(spec, "up+load/id=", number, size),
            )
        for content_type, name in (
            ("application/pdf", None),
            ("application/pdf", "Q3 report.pdf"),
            ("image/svg+xml", "r\u00e9sum\u00e9 \u2014 \u6587\u4ef6 1+1=2.svg"),
        ):
            args = {"expires_in": 300, "content_type": content_type, "attachment_name": name}
            assert signer.presign_download(key, **args) == slow.presign_download(key, **args)
    # The fast path signed, not a fallback.
    assert signer._presigner is not None
    assert slow._presigner is None


@pytest.mark.parametrize("location", ["", "tenant a/\u00fc"])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_public_url_is_what_the_unsigned_client_gives(config: str, location: str) -> None:
    signer = build(config, location=location)
    unsigned = signer._build_client(client_config(), unsigned=True)
    for key in KEYS:
        expected = unsigned.generate_presigned_url(
            "get_object", Params={"Bucket": signer.bucket, "Key": signer.object_name(key)}
        )
        assert signer.public_url(key) == expected
    assert signer._public_prefix is not None


def test_urls_match_over_a_day_boundary_and_the_key_cache() -> None:
    signer = build("virtual-eu-west-1")
    slow = botocore_only(signer)
    spec = spec_for(KEYS[2], size=3)
    before = signer.presign_upload(spec).url
    assert before == slow.presign_upload(spec).url
    with time_machine.travel(NOW + timedelta(seconds=3), tick=False):
        after = signer.presign_upload(spec).url
        assert after == slow.presign_upload(spec).url
    assert "X-Amz-Credential=AKIDEXAMPLE%2F20260304%2F" in before
    assert "X-Amz-Credential=AKIDEXAMPLE%2F20260305%2F" in after


def test_credentials_are_read_on_every_call() -> None:
    signer = build("virtual-us-east-1", "session-token")
    slow = botocore_only(signer)
    slow.client = signer.client  # the same session's credentials
    spec = spec_for(KEYS[0], size=3)
    first = signer.presign_upload(spec).url
    # A refreshed role credential: same session object, new keys.
    credentials = signer._session_obj.get_credentials()
    credentials.access_key, credentials.token = "ASIAROTATED", "rotated-token"
    second = signer.presign_upload(spec).url
    assert "ASIAEXAMPLE" in first and "ASIAROTATED" in second
    assert "X-Amz-Security-Token=rotated-token" in second
    assert second == slow.presign_upload(spec).url


def test_accelerate_endpoint_is_resolved_from_botocore_and_matches() -> None:
    signer = build("virtual-eu-west-1", client_config=Config(s3={"use_accelerate_endpoint": True}))
    spec = spec_for(KEYS[1], size=3)
    url = signer.presign_upload(spec).url
    assert url.startswith("https://my-uploads-bucket.s3-accelerate.amazonaws.com/")
    assert signer._presigner is not None
    assert url == botocore_only(signer).presign_upload(spec).url


def test_a_mismatch_falls_back_to_botocore_and_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = sigv4.QueryPresigner.presign

    def off_by_one_header(self: sigv4.QueryPresigner, *args: Any, **kwargs: Any) -> str:
        headers = dict(kwargs.pop("headers", None) or {})
        headers["x-amz-extra"] = "1"
        return real(self, *args, headers=headers, **kwargs)

    monkeypatch.setattr(sigv4.QueryPresigner, "presign", off_by_one_header)
    signer = build("virtual-eu-west-1")
    slow = botocore_only(signer)
    spec = spec_for(KEYS[0], size=3, sha256=sha256_b64(b"abc"))
    with caplog.at_level(logging.WARNING, logger="uploads"):
        first = signer.presign_upload(spec)
        assert_same(first, slow.presign_upload(spec))
        assert signer.presign_part(spec, "u", 1, 3).url == slow.presign_part(spec, "u", 1, 3).url
        args = {"expires_in": 60, "content_type": "image/png", "attachment_name": "a.png"}
        assert signer.presign_download(KEYS[0], **args) == slow.presign_download(KEYS[0], **args)
    assert "x-amz-extra" not in first.url
    warnings = [r for r in caplog.records if "presigning through botocore" in r.getMessage()]
    assert len(warnings) == 1
    assert "'test'" in warnings[0].getMessage()
    assert signer._presigner_checked and signer._presigner is None


def test_a_prefix_that_is_not_the_name_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    signer = build("virtual-us-east-1")
    real = signer.client.generate_presigned_url

    def elsewhere(*args: Any, **kwargs: Any) -> str:
        return str(real(*args, **kwargs)).replace("/uploads-sigv4-probe/", "/moved/", 1)

    signer.client.generate_presigned_url = elsewhere
    with caplog.at_level(logging.WARNING, logger="uploads"):
        url = signer.presign_upload(spec_for(KEYS[0], size=3)).url
    assert signer._presigner is None
    assert "presigning through botocore" in caplog.text
    assert urlsplit(url).path == "/" + signer.object_name(staging_key(KEYS[0]))


def test_a_probe_that_botocore_cannot_sign_is_wrapped_and_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from uploads.signers import SignerNotConfigured

    signer = build("virtual-us-east-1")
    monkeypatch.setattr(signer._session_obj, "get_credentials", lambda: None)
    with pytest.raises(SignerNotConfigured, match="no usable AWS credentials"):
        signer.presign_upload(spec_for(KEYS[0], size=3))
    assert not signer._presigner_checked
    monkeypatch.undo()
    signer.presign_upload(spec_for(KEYS[0], size=3))
    assert signer._presigner is not None


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "botocore"])
def test_a_content_type_botocore_would_not_sign_is_refused_either_way(fast: bool) -> None:
    from uploads.signers import SignerError

    signer = build("virtual-eu-west-1")
    if not fast:
        signer = botocore_only(signer)
    form = "application/x-www-form-urlencoded; charset=utf-8"
    with pytest.raises(SignerError, match="signs the headers"):
        signer.presign_upload(spec_for(KEYS[0], size=3, content_type=form))
    assert (signer._presigner is not None) is fast


def test_signing_key_is_cached_per_day_region_and_secret() -> None:
    sigv4.signing_key.cache_clear()
    signer = build("virtual-eu-west-1")
    for key in KEYS:
        signer.presign_upload(spec_for(key, size=3))
    info = sigv4.signing_key.cache_info()
    assert info.misses == 1 and info.hits >= len(KEYS) - 1


def test_host_header_rules() -> None:
    assert sigv4.host_header("https://B.Example.com:443/x/") == "b.example.com"
    assert sigv4.host_header("http://h:80/") == "h"
    assert sigv4.host_header("http://user:pw@h:8080/") == "h:8080"
    assert sigv4.host_header("http://[::1]:9000/b/") == "[::1]:9000"


# --- SeaweedFS, which verifies SigV4 ------------------------------------------------------


@pytest.fixture
def seaweed_signer(settings: Any, s3_backend: S3Backend) -> S3Signer:
    use_storage(settings, s3_backend.storage_config())
    built = get_signer("default")
    assert isinstance(built, S3Signer)
    return built


@pytest.mark.django_db
def test_seaweedfs_takes_a_fast_path_put_and_refuses_a_wrong_length(
    seaweed_signer: S3Signer, s3_backend: S3Backend
) -> None:
    body = b"sigv4 body \x00\xff" * 10
    spec = spec_for(
        f"media/7/{uuid.uuid4()} r\u00e9sum\u00e9+~%.bin",
        content_type="application/octet-stream",
        size=len(body),
        sha256=sha256_b64(body),
        metadata={"upload-id": "u1", "owner": "7"},
    )
    signed = seaweed_signer.presign_upload(spec)
    assert seaweed_signer._presigner is not None
    assert parse_qs(urlsplit(signed.url).query)["X-Amz-Algorithm"] == [sigv4.ALGORITHM]

    wrong = {**signed.headers, "Content-Length": str(len(body) + 1)}
    refused = http("PUT", signed.url, body + b"!", wrong)
    assert refused.status == 403, refused.body
    assert s3_backend.read(spec.key) is None

    taken = http("PUT", signed.url, body, signed.headers)
    assert taken.status == 200, taken.body
    assert s3_backend.read(spec.key) == body

    url = seaweed_signer.presign_download(
        spec.key, expires_in=60, content_type="text/plain", attachment_name="\u00fc 1+1.txt"
    )
    served = http("GET", url)
    assert served.status == 200 and served.body == body
    assert served.headers["Content-Type"] == "text/plain"
    assert http("GET", url.replace("text%2Fplain", "text%2Fhtml")).status == 403
    assert seaweed_signer.public_url(spec.key).startswith(f"{s3_backend.server.endpoint}/{BUCKET}/")
