"""Multipart uploads through the S3 signer against a real S3 server (SeaweedFS): parts sent
over HTTP as a client sends them, what the storage refuses, resuming, assembling, aborting,
and promoting an object too large for one CopyObject."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests
import time_machine
from django.utils import timezone

from tests.backends.s3 import BUCKET, S3Backend
from tests.conftest import sha256_b64
from tests.helpers import use_storage
from tests.live import free_port
from uploads.keys import staging_key
from uploads.signers import SignerError, SignerUnavailable, get_signer
from uploads.signers.base import MiB, ObjectHeaders, StoredPart, UploadSpec
from uploads.signers.s3 import S3Signer

PART = 5 * MiB  # S3's smallest part but the last


@pytest.fixture
def signer(settings: Any, s3_backend: S3Backend) -> S3Signer:
    use_storage(settings, s3_backend.storage_config())
    built = get_signer("default")
    assert isinstance(built, S3Signer)
    return built


@pytest.fixture
def admin(s3_backend: S3Backend) -> Any:
    return s3_backend.admin


def new_spec(minutes: int = 5, content_type: str = "video/mp4") -> UploadSpec:
    upload_id = uuid.uuid4()
    return UploadSpec(
        key=staging_key(f"media/7/{upload_id}.mp4"),
        content_type=content_type,
        expires_at=timezone.now() + timedelta(minutes=minutes),
        max_size=64 * MiB,
        metadata={"upload-id": str(upload_id), "owner": "7"},
    )


def send_part(signer: S3Signer, spec: UploadSpec, mp: str, number: int, body: bytes) -> int:
    """Sign part ``number`` for ``len(body)`` bytes and PUT it with exactly the listed headers."""
    signed = signer.presign_part(spec, mp, number, len(body))
    return put(signed.url, body, signed.headers)


def put(url: str, body: bytes, headers: dict[str, str] | None = None) -> int:
    # requests sets Content-Length from the body, as a browser does.
    sent = {k: v for k, v in (headers or {}).items() if k != "Content-Length"}
    return requests.put(url, data=body, headers=sent, timeout=10).status_code


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = [(name, changes.get(name, value)) for name, value in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def open_uploads(admin: Any, key: str) -> list[str]:
    listed = admin.list_multipart_uploads(Bucket=BUCKET, Prefix=key).get("Uploads") or []
    return [u["UploadId"] for u in listed if u["Key"] == key]


def read(admin: Any, key: str) -> bytes:
    return bytes(admin.get_object(Bucket=BUCKET, Key=key)["Body"].read())


# --- sending, listing, assembling ------------------------------------------------------------


def test_parts_sent_over_http_assemble_into_the_exact_file(signer: S3Signer, admin: Any) -> None:
    spec = new_spec()
    data = os.urandom(2 * PART + 1234)
    mp = signer.create_multipart(spec)
    assert mp and open_uploads(admin, spec.key) == [mp]

    signed = signer.presign_part(spec, mp, 1, PART)
    assert signed.method == "PUT"
    assert signed.headers == {"Content-Length": str(PART)}
    query = dict(parse_qsl(urlsplit(signed.url).query))
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert sorted(query["X-Amz-SignedHeaders"].split(";")) == ["content-length", "host"]
    assert (query["uploadId"], query["partNumber"]) == (mp, "1")

    chunks = [data[:PART], data[PART : 2 * PART], data[2 * PART :]]
    assert [send_part(signer, spec, mp, n, c) for n, c in enumerate(chunks, 1)] == [200] * 3
    parts = signer.list_parts(spec.key, mp)
    assert [(p.number, p.size) for p in parts] == [(1, PART), (2, PART), (3, 1234)]

    signer.complete_multipart(spec.key, mp, parts)
    assert read(admin, spec.key) == data
    stored = signer.stat(spec.key)
    assert stored is not None
    assert (stored.size, stored.content_type) == (len(data), "video/mp4")
    assert stored.metadata == spec.metadata
    # Composite part checksums are no file sha256: complete hashes the object instead.
    assert stored.sha256 is None
    assert signer.compute_sha256(spec.key) == sha256_b64(data)
    assert open_uploads(admin, spec.key) == []
    assert signer.list_parts(spec.key, mp) == []

    # A part URL used again after complete writes nothing.
    assert put(signed.url, b"\0" * PART) == 404
    assert read(admin, spec.key) == data


def test_a_client_resumes_from_the_parts_listed_after_a_partial_send(
    signer: S3Signer, admin: Any
) -> None:
    spec = new_spec()
    data = os.urandom(3 * PART + 10)
    chunks = [data[i : i + PART] for i in range(0, len(data), PART)]
    mp = signer.create_multipart(spec)
    assert signer.list_parts(spec.key, mp) == []
    assert send_part(signer, spec, mp, 1, chunks[0]) == 200
    assert send_part(signer, spec, mp, 3, chunks[2]) == 200
    # The client crashed here; after a restart it asks what the storage holds.
    held = signer.list_parts(spec.key, mp)
    assert [(p.number, p.size) for p in held] == [(1, PART), (3, PART)]

    missing = sorted({1, 2, 3, 4} - {p.number for p in held})
    for number in missing:
        assert send_part(signer, spec, mp, number, chunks[number - 1]) == 200
    assert send_part(signer, spec, mp, 1, chunks[0]) == 200  # a retry of a part already sent
    parts = signer.list_parts(spec.key, mp)
    assert [(p.number, p.size) for p in parts] == [(1, PART), (2, PART), (3, PART), (4, 10)]

    signer.complete_multipart(spec.key, mp, parts)
    assert hashlib.sha256(read(admin, spec.key)).digest() == hashlib.sha256(data).digest()


def test_list_parts_reads_every_page(signer: S3Signer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(S3Signer, "list_parts_page", 2)
    spec = new_spec()
    mp = signer.create_multipart(spec)
    for number in range(1, 6):
        assert send_part(signer, spec, mp, number, bytes([number]) * number) == 200
    assert [(p.number, p.size) for p in signer.list_parts(spec.key, mp)] == [
        (n, n) for n in range(1, 6)
    ]
    signer.abort_multipart(spec.key, mp)


# --- what the storage refuses ------------------------------------------------------------


@pytest.mark.parametrize("delta", [-1, 1], ids=["shorter", "longer"])
def test_storage_refuses_a_part_of_another_size_than_signed(
    signer: S3Signer, admin: Any, delta: int
) -> None:
    spec = new_spec()
    mp = signer.create_multipart(spec)
    signed = signer.presign_part(spec, mp, 1, PART)
    assert put(signed.url, b"x" * (PART + delta), signed.headers) == 403
    assert signer.list_parts(spec.key, mp) == []
    signer.abort_multipart(spec.key, mp)


def test_a_part_url_writes_no_other_upload_nor_other_part(signer: S3Signer, admin: Any) -> None:
    spec, other_spec = new_spec(), new_spec()
    mp, other = signer.create_multipart(spec), signer.create_multipart(other_spec)
    signed = signer.presign_part(spec, mp, 1, 100)
    body = b"p" * 100

    assert put(with_query(signed.url, uploadId=other), body) == 403
    assert put(with_query(signed.url, partNumber="2"), body) == 403
    other_path = urlsplit(signed.url).path.replace(spec.key, other_spec.key)
    assert other_path != urlsplit(signed.url).path
    moved = urlunsplit(urlsplit(signed.url)._replace(path=other_path))
    assert put(with_query(moved, uploadId=other), body) == 403
    assert signer.list_parts(other_spec.key, other) == []
    assert signer.list_parts(spec.key, mp) == []

    # An upload id is bound to its key: listing it under another key finds nothing.
    assert put(signed.url, body) == 200
    assert signer.list_parts(other_spec.key, mp) == []
    assert [p.number for p in signer.list_parts(spec.key, mp)] == [1]
    for key, upload in ((spec.key, mp), (other_spec.key, other)):
        signer.abort_multipart(key, upload)


def test_storage_refuses_an_expired_part_url(signer: S3Signer) -> None:
    with time_machine.travel(timezone.now() - timedelta(minutes=10), tick=True):
        spec = new_spec(minutes=5)
        mp = signer.create_multipart(spec)
        signed = signer.presign_part(spec, mp, 1, 100)
    answer = requests.put(signed.url, data=b"e" * 100, timeout=10)
    assert answer.status_code == 403
    assert b"expired" in answer.content.lower()
    assert signer.list_parts(spec.key, mp) == []
    signer.abort_multipart(spec.key, mp)


def test_complete_refuses_parts_the_storage_does_not_hold(signer: S3Signer, admin: Any) -> None:
    spec = new_spec()
    mp = signer.create_multipart(spec)
    assert send_part(signer, spec, mp, 1, b"o" * PART) == 200
    held = signer.list_parts(spec.key, mp)
    forged = [StoredPart(1, PART, '"00000000000000000000000000000000"')]
    with pytest.raises(SignerError, match="InvalidPart"):
        signer.complete_multipart(spec.key, mp, forged)
    with pytest.raises(SignerError, match="InvalidPart"):
        signer.complete_multipart(spec.key, mp, [*held, StoredPart(2, 4, held[0].etag)])
    with pytest.raises(SignerError):
        signer.complete_multipart(spec.key, mp, [])
    assert signer.stat(spec.key) is None
    assert signer.list_parts(spec.key, mp) == held  # still open, the parts kept
    signer.abort_multipart(spec.key, mp)


# --- aborting -------------------------------------------------------------------------------


def test_abort_leaves_nothing_listed_and_no_part_writable(signer: S3Signer, admin: Any) -> None:
    spec = new_spec()
    mp = signer.create_multipart(spec)
    assert send_part(signer, spec, mp, 1, b"a" * PART) == 200
    late = signer.presign_part(spec, mp, 2, 10)

    signer.abort_multipart(spec.key, mp)
    assert signer.list_parts(spec.key, mp) == []
    assert open_uploads(admin, spec.key) == []
    assert put(late.url, b"b" * 10, late.headers) == 404
    assert signer.stat(spec.key) is None
    signer.abort_multipart(spec.key, mp)  # already gone: no error


# --- the storage failing --------------------------------------------------------------------


def test_storage_down_fails_each_call_as_unavailable(settings: Any, s3_backend: S3Backend) -> None:
    use_storage(settings, s3_backend.storage_config(endpoint_url=f"http://127.0.0.1:{free_port()}"))
    signer = get_signer("default")
    spec = new_spec()
    calls = [
        lambda: signer.create_multipart(spec),
        lambda: signer.list_parts(spec.key, "mp"),
        lambda: signer.complete_multipart(spec.key, "mp", [StoredPart(1, 1, '"e"')]),
        lambda: signer.abort_multipart(spec.key, "mp"),
    ]
    for call in calls:
        with pytest.raises(SignerUnavailable):
            call()


def test_presign_part_refuses_numbers_and_sizes_s3_does_not_take(signer: S3Signer) -> None:
    spec = new_spec()
    for number, size in ((0, 10), (10_001, 10), (1, 0), (1, 5 * 1024 * MiB + 1)):
        with pytest.raises(SignerError):
            signer.presign_part(spec, "mp", number, size)


# --- promoting an object too large for one copy ---------------------------------------------


@pytest.fixture
def small_copy_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if 11 MiB were over CopyObject's 5 GiB: a copy in 5 MiB parts."""
    monkeypatch.setattr(S3Signer, "copy_threshold", 10 * MiB)
    monkeypatch.setattr(S3Signer, "copy_part_size", PART)


HEADERS = ObjectHeaders(
    content_type="video/mp4",
    content_disposition='attachment; filename="clip.mp4"',
    cache_control="private, max-age=31536000, immutable",
    metadata={"upload-id": "u", "owner": "7"},
)


def test_promote_above_the_threshold_copies_in_parts_with_the_servers_headers(
    signer: S3Signer, admin: Any, small_copy_threshold: None
) -> None:
    key = f"media/7/{uuid.uuid4()}.mp4"
    data = os.urandom(2 * PART + MiB)
    admin.put_object(
        Bucket=BUCKET,
        Key=staging_key(key),
        Body=data,
        ContentType="text/html",
        CacheControl="no-transform",
        ContentDisposition="inline",
        Metadata={"owner": "0"},
    )
    signer.promote(staging_key(key), key, HEADERS)

    assert read(admin, key) == data
    head = admin.head_object(Bucket=BUCKET, Key=key)
    assert head["ETag"].strip('"').endswith("-3")  # three copied parts
    assert head["ContentType"] == HEADERS.content_type
    assert head["ContentDisposition"] == HEADERS.content_disposition
    assert head["CacheControl"] == HEADERS.cache_control
    assert head["Metadata"] == HEADERS.metadata
    assert open_uploads(admin, key) == []
    assert read(admin, staging_key(key)) == data  # the caller deletes staging after commit

    # Replacing what is at the key, as a promote does.
    again = os.urandom(2 * PART + 7)
    admin.put_object(Bucket=BUCKET, Key=staging_key(key), Body=again)
    signer.promote(staging_key(key), key, HEADERS)
    assert read(admin, key) == again


def test_promote_below_the_threshold_is_one_copy(
    signer: S3Signer, admin: Any, small_copy_threshold: None
) -> None:
    key = f"media/7/{uuid.uuid4()}.mp4"
    data = os.urandom(10 * MiB)
    admin.put_object(Bucket=BUCKET, Key=staging_key(key), Body=data)
    signer.promote(staging_key(key), key, HEADERS)
    assert read(admin, key) == data
    assert "-" not in admin.head_object(Bucket=BUCKET, Key=key)["ETag"]


def test_promote_of_a_missing_staging_object_fails_and_copies_nothing(
    signer: S3Signer, admin: Any, small_copy_threshold: None
) -> None:
    key = f"media/7/{uuid.uuid4()}.mp4"
    with pytest.raises(SignerError):
        signer.promote(staging_key(key), key, HEADERS)
    assert signer.stat(key) is None


def test_a_staging_object_replaced_mid_copy_fails_the_copy_and_leaves_no_parts(
    signer: S3Signer, admin: Any, small_copy_threshold: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = f"media/7/{uuid.uuid4()}.mp4"
    admin.put_object(Bucket=BUCKET, Key=staging_key(key), Body=os.urandom(2 * PART + 1))
    # As if the object changed after promote looked at it: its ETag no longer matches.
    size = 2 * PART + 1
    monkeypatch.setattr(signer, "_head_for_copy", lambda _key: (size, '"0123456789abcdef"'))
    with pytest.raises(SignerError, match="PreconditionFailed"):
        signer.promote(staging_key(key), key, HEADERS)
    assert signer.stat(key) is None
    assert open_uploads(admin, key) == []


def test_multipart_upload_under_the_storages_location(
    settings: Any, s3_backend: S3Backend, admin: Any
) -> None:
    use_storage(settings, s3_backend.storage_config(location="tenant-a"))
    signer = get_signer("default")
    spec = new_spec()
    mp = signer.create_multipart(spec)
    assert send_part(signer, spec, mp, 1, b"located") == 200
    signer.complete_multipart(spec.key, mp, signer.list_parts(spec.key, mp))
    assert read(admin, f"tenant-a/{spec.key}") == b"located"
    assert signer.stat(spec.key) is not None
