"""Multipart uploads with the GCS signer against fake-gcs-server: each part is an object of its
own, written through a V4 signed PUT (every URL's signature checked as GCS checks it, with the
service account's public key, before the request reaches the emulator), listed for a client
that resumes, composed in rounds of 32 into the staging key with the server's properties, and
deleted on abort; and what a part URL can and cannot reach."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
import requests
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import timezone
from rest_framework.test import APIClient

from tests.backends.gcs import BUCKET, GCSBackend, Refused, verify_v4
from tests.helpers import PRESIGN, assert_error, assert_ok, use_storage
from tests.live import free_port
from uploads.keys import staging_key
from uploads.models import Upload
from uploads.signers import (
    PresignedUpload,
    SignerError,
    SignerUnavailable,
    StoredPart,
    UploadSpec,
    get_signer,
)
from uploads.signers.gcs import GCSSigner

PART = 1024
METADATA = {"upload-id": "5d7a0c1e-0000-4000-8000-000000000001", "owner": "7"}


@pytest.fixture
def gcs(gcs_backend: GCSBackend, settings: Any, monkeypatch: pytest.MonkeyPatch) -> GCSBackend:
    """The default storage on fake-gcs-server (STORAGE_EMULATOR_HOST set for this test)."""
    for name, value in gcs_backend.client_env().items():
        monkeypatch.setenv(name, value)
    use_storage(settings, gcs_backend.storage_config())
    return gcs_backend


@pytest.fixture
def signer(gcs: GCSBackend) -> GCSSigner:
    signer = get_signer("default")
    assert isinstance(signer, GCSSigner)
    return signer


def new_spec(content_type: str = "video/mp4") -> UploadSpec:
    return UploadSpec(
        key=staging_key(f"media/7/{uuid.uuid4()}.mp4"),
        content_type=content_type,
        expires_at=timezone.now() + timedelta(minutes=10),
        max_size=100 * PART,
        metadata=METADATA,
    )


def put(gcs: GCSBackend, signed: PresignedUpload, body: bytes, **headers: str) -> int:
    """PUT as a browser does, refused as GCS refuses a request whose signature fails."""
    sent = {**signed.headers, **headers}
    return gcs.send({"method": signed.method, "uploadUrl": signed.url}, body, sent)


def send(gcs: GCSBackend, signer: GCSSigner, spec: UploadSpec, mp: str, n: int, body: bytes) -> int:
    return put(gcs, signer.presign_part(spec, mp, n, len(body)), body)


def names_under(gcs: GCSBackend, prefix: str) -> list[str]:
    response = requests.get(
        f"{gcs.server.url}/storage/v1/b/{BUCKET}/o", params={"prefix": prefix}, timeout=5
    )
    response.raise_for_status()
    return [item["name"] for item in response.json().get("items", [])]


def object_meta(gcs: GCSBackend, key: str) -> dict[str, Any]:
    response = requests.get(
        f"{gcs.server.url}/storage/v1/b/{BUCKET}/o/{quote(key, safe='')}",
        timeout=5,
    )
    response.raise_for_status()
    return dict(response.json())


def test_seventy_parts_are_composed_in_rounds_into_the_exact_bytes_with_the_servers_properties(
    signer: GCSSigner, gcs: GCSBackend
) -> None:
    spec = new_spec()
    parts = [os.urandom(PART) for _ in range(69)] + [os.urandom(PART // 3)]
    mp = signer.create_multipart(spec)

    # Out of order, as parallel sends finish; 70 parts take three compose calls of 32 or
    # fewer, then one of their three results.
    for n in reversed(range(1, len(parts) + 1)):
        assert send(gcs, signer, spec, mp, n, parts[n - 1]) == 200, n
    listed = signer.list_parts(spec.key, mp)
    signer.complete_multipart(spec.key, mp, listed)

    assert [(p.number, p.size) for p in listed] == [
        *((n, PART) for n in range(1, 70)),
        (70, PART // 3),
    ]
    stored = gcs.read(spec.key)
    assert stored is not None
    assert hashlib.sha256(stored).digest() == hashlib.sha256(b"".join(parts)).digest()
    meta = object_meta(gcs, spec.key)
    assert meta["contentType"] == "video/mp4"
    assert meta["metadata"] == METADATA
    # The parts and the intermediate objects are gone; only the assembled object is left.
    assert names_under(gcs, spec.key) == [spec.key]
    assert signer.list_parts(spec.key, mp) == []


def test_a_part_url_signs_its_own_object_its_exact_length_and_the_type(
    signer: GCSSigner, gcs: GCSBackend
) -> None:
    spec = new_spec()
    mp = signer.create_multipart(spec)

    signed = signer.presign_part(spec, mp, 2, PART)

    assert signed.method == "PUT"
    assert signed.headers == {
        "Content-Type": "video/mp4",
        "x-goog-content-length-range": f"{PART},{PART}",
    }
    assert urlsplit(signed.url).path == f"/{BUCKET}/{spec.key}.parts/{mp[:32]}/00002"
    query = dict(parse_qsl(urlsplit(signed.url).query))
    assert query["X-Goog-SignedHeaders"] == "content-type;host;x-goog-content-length-range"
    assert 598 <= int(query["X-Goog-Expires"]) <= 600  # until spec.expires_at
    verify_v4("PUT", signed.url, signed.headers, {gcs.account.email: gcs.account.public_key})


def test_a_part_url_cannot_write_another_object(signer: GCSSigner, gcs: GCSBackend) -> None:
    spec = new_spec()
    mp = signer.create_multipart(spec)
    signed = signer.presign_part(spec, mp, 1, PART)
    part_path = f"/{spec.key}.parts/{mp[:32]}/00001?"
    final_key = spec.key.split("/", 1)[1]  # the key the upload completes to
    elsewhere = {
        "final key": f"/{final_key}?",
        "staging key": f"/{spec.key}?",
        "another part": f"/{spec.key}.parts/{mp[:32]}/00002?",
        "another upload's part": f"/{spec.key}.parts/{'0' * 32}/00001?",
    }

    for name, path in elsewhere.items():
        moved = PresignedUpload(signed.url.replace(part_path, path), "PUT", signed.headers)
        assert put(gcs, moved, os.urandom(PART)) == 403, name

    assert names_under(gcs, final_key) == []
    assert names_under(gcs, spec.key) == []


def test_a_part_of_another_length_or_type_fails_the_signature(
    signer: GCSSigner, gcs: GCSBackend
) -> None:
    """fake-gcs-server ignores x-goog-content-length-range (GCS answers 400 to a body of
    another length): what is proven here is that the URL binds the header, so a client cannot
    widen it, and below, that complete refuses a part of another size all the same."""
    spec = new_spec()
    mp = signer.create_multipart(spec)
    signed = signer.presign_part(spec, mp, 1, PART)
    keys = {gcs.account.email: gcs.account.public_key}

    for changed in (
        {"x-goog-content-length-range": f"1,{100 * PART}"},
        {"Content-Type": "text/html"},
    ):
        with pytest.raises(Refused) as refused:
            verify_v4("PUT", signed.url, {**signed.headers, **changed}, keys)
        assert refused.value.status == 403
    assert put(gcs, signed, os.urandom(PART), **{"Content-Type": "text/html"}) == 403
    assert signer.list_parts(spec.key, mp) == []


def test_a_client_resuming_sees_the_parts_that_arrived_and_only_this_uploads(
    signer: GCSSigner, gcs: GCSBackend
) -> None:
    spec = new_spec()
    parts = [os.urandom(PART) for _ in range(3)]
    mp = signer.create_multipart(spec)
    other = signer.create_multipart(spec)  # an earlier, abandoned upload of the same key
    assert send(gcs, signer, spec, other, 2, os.urandom(100)) == 200
    assert send(gcs, signer, spec, mp, 1, parts[0]) == 200
    assert send(gcs, signer, spec, mp, 3, parts[2]) == 200

    after_crash = signer.list_parts(spec.key, mp)

    assert [(p.number, p.size) for p in after_crash] == [(1, PART), (3, PART)]
    assert [(p.number, p.size) for p in signer.list_parts(spec.key, other)] == [(2, 100)]
    assert send(gcs, signer, spec, mp, 2, parts[1]) == 200
    # A part sent again (its answer lost on the way) is taken again, not refused.
    assert send(gcs, signer, spec, mp, 3, parts[2]) == 200
    signer.complete_multipart(spec.key, mp, signer.list_parts(spec.key, mp))
    assert gcs.read(spec.key) == b"".join(parts)
    assert [(p.number, p.size) for p in signer.list_parts(spec.key, other)] == [(2, 100)]


def test_a_part_replaced_after_the_listing_is_not_composed_unseen(
    signer: GCSSigner, gcs: GCSBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GCS refuses a compose (412) when a source's generation is not the one named; the
    emulator ignores the precondition, so it is checked here as GCS checks it."""
    from google.api_core.exceptions import PreconditionFailed
    from google.cloud.storage import Blob

    compose = Blob.compose

    def checked(self: Any, sources: list[Any], **kwargs: Any) -> Any:
        for source, expected in zip(sources, kwargs["if_source_generation_match"], strict=True):
            live = object_meta(gcs, source.name)["generation"]
            if int(live) != expected:
                raise PreconditionFailed("conditionNotMet")
        return compose(self, sources, **kwargs)

    monkeypatch.setattr(Blob, "compose", checked)
    spec = new_spec()
    mp = signer.create_multipart(spec)
    first, again = os.urandom(PART), os.urandom(PART)
    assert send(gcs, signer, spec, mp, 1, first) == 200
    listed = signer.list_parts(spec.key, mp)
    assert send(gcs, signer, spec, mp, 1, again) == 200  # sent again meanwhile

    with pytest.raises(SignerUnavailable, match="try again"):
        signer.complete_multipart(spec.key, mp, listed)
    assert gcs.read(spec.key) is None

    signer.complete_multipart(spec.key, mp, signer.list_parts(spec.key, mp))
    assert gcs.read(spec.key) == again


def test_nothing_sent_lists_no_parts(signer: GCSSigner) -> None:
    spec = new_spec()
    assert signer.list_parts(spec.key, signer.create_multipart(spec)) == []


def test_abort_deletes_the_parts_and_a_crashed_composes_leftovers(
    signer: GCSSigner, gcs: GCSBackend
) -> None:
    spec = new_spec()
    mp = signer.create_multipart(spec)
    for n in (1, 2, 3):
        assert send(gcs, signer, spec, mp, n, os.urandom(PART)) == 200
    # What a compose that crashed between rounds leaves under the prefix.
    storages["default"].save(f"{spec.key}.parts/{mp[:32]}/compose-1-00000", ContentFile(b"x"))
    assert len(names_under(gcs, spec.key)) == 4

    signer.abort_multipart(spec.key, mp)

    assert names_under(gcs, spec.key) == []
    assert signer.list_parts(spec.key, mp) == []
    signer.abort_multipart(spec.key, mp)  # again: no error
    signer.abort_multipart(spec.key, signer.create_multipart(spec))  # nothing sent: no error


def test_the_storage_location_prefixes_the_parts_and_the_assembled_object(
    gcs: GCSBackend, settings: Any
) -> None:
    use_storage(settings, gcs.storage_config(location="tenant-a"))
    signer = get_signer("default")
    assert isinstance(signer, GCSSigner)
    spec = new_spec()
    parts = [os.urandom(PART), os.urandom(10)]
    mp = signer.create_multipart(spec)
    for n, body in enumerate(parts, 1):
        assert send(gcs, signer, spec, mp, n, body) == 200

    signer.complete_multipart(spec.key, mp, signer.list_parts(spec.key, mp))

    assert gcs.read(f"tenant-a/{spec.key}") == b"".join(parts)
    assert names_under(gcs, f"tenant-a/{spec.key}") == [f"tenant-a/{spec.key}"]
    assert names_under(gcs, spec.key) == []


def test_parts_out_of_range_and_ids_not_of_this_signer_are_refused(signer: GCSSigner) -> None:
    spec = new_spec()
    mp = signer.create_multipart(spec)
    smallest, largest, most = signer.part_limits

    assert (signer.supports_multipart, signer.part_limits) == (True, (1, 5 << 30, 10_000))
    with pytest.raises(SignerError, match="parts 1 to 10000"):
        signer.presign_part(spec, mp, most + 1, PART)
    with pytest.raises(SignerError, match="parts of 1 to"):
        signer.presign_part(spec, mp, 1, largest + 1)
    with pytest.raises(SignerError, match="parts of 1 to"):
        signer.presign_part(spec, mp, 1, smallest - 1)
    with pytest.raises(SignerError, match="multipart upload id"):
        signer.list_parts(spec.key, "not-an-id")
    with pytest.raises(SignerError, match="no GCS generation"):
        signer.complete_multipart(spec.key, mp, [StoredPart(number=1, size=PART, etag='"abc"')])
    with pytest.raises(SignerError, match="at least one part"):
        signer.complete_multipart(spec.key, mp, [])


def test_storage_down_is_a_signer_unavailable_error(
    gcs: GCSBackend, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{free_port()}")
    use_storage(settings, gcs.storage_config())
    signer = get_signer("default")
    spec = new_spec()
    mp = signer.create_multipart(spec)  # nothing to ask GCS yet
    signer.presign_part(spec, mp, 1, PART)  # signing needs no server

    with pytest.raises(SignerUnavailable):
        signer.list_parts(spec.key, mp)
    with pytest.raises(SignerUnavailable):
        signer.complete_multipart(spec.key, mp, [StoredPart(number=1, size=PART, etag="1")])
    with pytest.raises(SignerUnavailable):
        signer.abort_multipart(spec.key, mp)


# --- through the API ---------------------------------------------------------------------------

# An MP4 (the media type's magic bytes) of three parts, the last short.
API_PART = 64 * 1024
BODY = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + os.urandom(2 * API_PART + 100)


@pytest.mark.django_db
def test_a_part_of_another_size_is_refused_by_complete_and_every_part_released(
    gcs: GCSBackend,
    api: APIClient,
    edit_policy: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    edit_policy("media", part_size=API_PART, multipart_threshold=API_PART)
    body = {"type": "media", "contentType": "video/mp4", "size": len(BODY)}
    plan = assert_ok(api.post(PRESIGN, body, format="json"), 201)
    assert plan["multipart"] == {"partSize": API_PART, "partCount": 3}
    signed = assert_ok(
        api.post(f"/api/v1/uploads/{plan['id']}/parts", {"partNumbers": [1, 2, 3]}, format="json")
    )["parts"]
    for part in signed[1:]:
        n = part["partNumber"]
        chunk = BODY[(n - 1) * API_PART : n * API_PART]
        assert gcs.send({"method": "PUT", "uploadUrl": part["url"]}, chunk, part["headers"]) == 200
    # Part 1 longer than planned, straight to the emulator, which ignores the length range
    # GCS enforces (and the signature binds, see above).
    longer = requests.put(
        signed[0]["url"], data=BODY[:API_PART] + b"!", headers=signed[0]["headers"], timeout=5
    )
    assert longer.status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        error = assert_error(
            api.post(f"/api/v1/uploads/{plan['id']}/complete"), 422, "upload.verification_failed"
        )

    assert error["details"][0]["field"] == "size"
    assert f"Part 1 is {API_PART + 1} bytes" in error["details"][0]["message"]
    assert Upload.objects.get(pk=plan["id"]).status == Upload.Status.REJECTED
    assert names_under(gcs, staging_key(plan["key"])) == []
    assert gcs.read(plan["key"]) is None
