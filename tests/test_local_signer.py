"""The local signer's receiver (the signed PUT at /uploads/local/put/<token>): it must
refuse what a storage provider refuses, and leave nothing behind when it does."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.storage import storages
from django.test.client import FakePayload
from django.test.utils import override_script_prefix
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import make_png, sha256_b64
from tests.helpers import assert_error, assert_ok, presign_ok, staged, stored, stored_bytes
from uploads.keys import staging_key
from uploads.models import Upload, UploadPolicy
from uploads.policies import bump_version
from uploads.signers import UploadSpec, get_signer


def raw_put(url: str, body: bytes, content_type: str, **environ: str) -> Any:
    return APIClient().generic("PUT", url, body, content_type=content_type, **environ)


@pytest.fixture
def signed(api: APIClient, png: bytes) -> dict[str, Any]:
    """A presign answer for ``png``, with its size and sha256 signed in."""
    return presign_ok(api, png, sha256=sha256_b64(png))


def test_accepted_upload_is_stored_intact(
    signed: dict[str, Any], put: Callable[..., Any], png: bytes
) -> None:
    response = put(signed, png)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True
    assert body["data"] == {
        "key": staging_key(signed["key"]),  # where the URL writes; complete copies it to key
        "size": len(png),
        "sha256": sha256_b64(png),
    }
    assert response["ETag"] == f'"{sha256_b64(png)}"'
    assert stored_bytes(staging_key(signed["key"])) == png


def test_body_larger_than_chunk_size_is_streamed_intact(
    settings: Any, api: APIClient, put: Callable[..., Any]
) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "CHUNK_SIZE": 1024}
    # Reading the whole body at once (request.body) would now fail with RequestDataTooBig.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    big = make_png(8, 8, extra=os.urandom(20 * 1024 + 7))  # many chunks, and a partial last one
    data = presign_ok(api, big, sha256=sha256_b64(big))

    response = put(data, big)

    assert response.status_code == 200, response.content
    assert stored_bytes(staging_key(data["key"])) == big
    assert response.json()["data"]["sha256"] == sha256_b64(big)


def test_tampered_token_is_refused(
    signed: dict[str, Any], put: Callable[..., Any], png: bytes
) -> None:
    url = signed["uploadUrl"]
    token_start = url.index("/put/") + len("/put/")
    i = token_start + 10  # a character of the signed payload
    flipped = "B" if url[i] != "B" else "C"
    tampered = {**signed, "uploadUrl": url[:i] + flipped + url[i + 1 :]}

    assert_error(put(tampered, png), 403, "upload.signature_invalid")
    assert not staged(signed["key"])


def test_tampered_signature_is_refused(
    signed: dict[str, Any], put: Callable[..., Any], png: bytes
) -> None:
    url = signed["uploadUrl"]
    flipped = "x" if url[-5] != "x" else "y"
    tampered = {**signed, "uploadUrl": url[:-5] + flipped + url[-4:]}

    assert_error(put(tampered, png), 403, "upload.signature_invalid")
    assert not staged(signed["key"])


def test_urls_follow_a_rotated_secret_key(
    settings: Any, api: APIClient, put: Callable[..., Any], png: bytes
) -> None:
    """URLs are signed with the secret key of the moment: one signed before a rotation is
    taken while the old key is among SECRET_KEY_FALLBACKS, and refused once it is not."""
    before = presign_ok(api, png)
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "a-rotated-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
    after = presign_ok(api, png)

    assert put(after, png).status_code == 200
    assert_error(put(before, png), 403, "upload.signature_invalid")
    assert not staged(before["key"])
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert put(before, png).status_code == 200


def test_expired_token_is_refused(db: Any, png: bytes) -> None:
    key = "avatars/1/expired.png"
    presigned = get_signer("default").presign_upload(
        UploadSpec(
            key=key,
            content_type="image/png",
            expires_at=timezone.now() - timedelta(seconds=5),
            max_size=5 * 1024 * 1024,
            size=len(png),
        )
    )

    response = raw_put(presigned.url, png, "image/png")

    assert_error(response, 403, "upload.url_expired")
    assert not stored(key)


@pytest.mark.parametrize(
    "content_type", ["image/jpeg", "image/png; charset=x", "image/png;text/html", "text/html", ""]
)
def test_content_type_other_than_signed_is_refused(
    signed: dict[str, Any], put: Callable[..., Any], png: bytes, content_type: str
) -> None:
    response = put(signed, png, **{"Content-Type": content_type})

    assert_error(response, 403, "upload.signature_mismatch")
    assert not staged(signed["key"])


@pytest.mark.parametrize("delta", [-1, +1])
def test_content_length_other_than_signed_is_refused(
    signed: dict[str, Any], put: Callable[..., Any], png: bytes, delta: int
) -> None:
    body = png[:-1] if delta < 0 else png + b"\x00"
    response = put(signed, body, **{"Content-Length": str(len(body))})

    error = assert_error(response, 403, "upload.signature_mismatch")
    assert str(len(png)) in error["message"]
    assert not staged(signed["key"])


def test_unsized_upload_over_the_cap_is_refused(api: APIClient, put: Callable[..., Any]) -> None:
    UploadPolicy.objects.filter(name="avatar").update(require_size=False, max_size=1024)
    bump_version()
    data = presign_ok(api)
    assert "Content-Length" not in data["headers"]
    big = make_png(4, 4, extra=os.urandom(2000))
    assert len(big) > 1024

    error = assert_error(put(data, big), 413, "upload.too_large")

    assert "1024" in error["message"]
    assert not staged(data["key"])
    small = make_png(2, 2)
    assert put(data, small).status_code == 200
    assert stored_bytes(staging_key(data["key"])) == small


def test_missing_content_length_is_refused(signed: dict[str, Any], png: bytes) -> None:
    # A body without Content-Length (as with chunked transfer encoding).
    response = APIClient().generic(
        "PUT",
        signed["uploadUrl"],
        b"",
        content_type="image/png",
        **{"wsgi.input": FakePayload(png)},
    )

    assert_error(response, 411, "upload.length_required")
    assert not staged(signed["key"])


def test_body_not_matching_signed_sha256_is_refused(
    signed: dict[str, Any], put: Callable[..., Any], png: bytes
) -> None:
    other = bytearray(png)
    other[-20] ^= 0xFF  # same length, different bytes
    assert len(other) == len(png)

    response = put(signed, bytes(other))

    assert_error(response, 400, "upload.checksum_mismatch")
    assert not staged(signed["key"])
    # The right bytes are still accepted afterwards.
    assert put(signed, png).status_code == 200


def test_second_put_to_the_same_key_is_refused(
    signed: dict[str, Any], presign: Callable[..., Any], put: Callable[..., Any], png: bytes
) -> None:
    assert put(signed, png).status_code == 200

    assert_error(put(signed, png), 409, "upload.already_exists")

    assert stored_bytes(staging_key(signed["key"])) == png
    assert storages["default"].listdir(os.path.dirname(staging_key(signed["key"])))[1] == [
        os.path.basename(signed["key"])
    ]


def test_second_put_with_other_bytes_leaves_the_first_object(
    presign: Callable[..., Any], put: Callable[..., Any], png: bytes
) -> None:
    answer = presign(size=len(png))
    data = answer.json()["data"]
    assert put(data, png).status_code == 200
    other = bytearray(png)
    other[-20] ^= 0xFF

    assert_error(put(data, bytes(other)), 409, "upload.already_exists")

    assert stored_bytes(staging_key(data["key"])) == png


def test_put_after_the_upload_was_deleted_is_refused(
    api: APIClient, signed: dict[str, Any], put: Callable[..., Any], png: bytes
) -> None:
    assert assert_ok(api.delete(f"/api/v1/uploads/{signed['id']}"))["id"] == signed["id"]

    assert_error(put(signed, png), 409, "upload.invalid_state")

    assert not staged(signed["key"])
    assert Upload.objects.get(pk=signed["id"]).status == Upload.Status.DELETED


def test_get_on_the_put_url_is_not_allowed(signed: dict[str, Any]) -> None:
    response = APIClient().get(signed["uploadUrl"])

    assert_error(response, 405, "method_not_allowed")
    assert not staged(signed["key"])


def test_a_site_under_a_path_prefix_signs_urls_under_it(
    signed: dict[str, Any], put: Callable[..., Any], png: bytes
) -> None:
    """A project served under a prefix (SCRIPT_NAME): the URL carries it, and the same
    process goes on signing URLs without it for requests that have none."""
    spec = UploadSpec(
        key="staging/avatars/1/prefixed.png",
        content_type="image/png",
        expires_at=timezone.now() + timedelta(minutes=5),
        max_size=1024,
    )
    with override_script_prefix("/site/"):
        prefixed = get_signer("default").presign_upload(spec).url
    unprefixed = get_signer("default").presign_upload(spec).url

    assert prefixed.startswith("/site/uploads/local/put/")
    assert unprefixed.startswith("/uploads/local/put/")
    assert signed["uploadUrl"].startswith("http://testserver/uploads/local/put/")
    assert put(signed, png).status_code == 200  # and its token is whole
