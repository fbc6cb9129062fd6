"""Multipart uploads through the API: on the local signer (parts streamed to disk by its own
PUT endpoint, assembled on complete) and on the fake signer."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import client_for, sha256_b64
from tests.helpers import (
    MP4,
    PRESIGN,
    assert_error,
    assert_ok,
    settled,
    status_of,
    stored,
    stored_bytes,
    use_storage,
)
from tests.test_admin import ADD_URL, policy_form, refused
from uploads import keys
from uploads.models import Upload, UploadPolicy
from uploads.services.cleanup import expire_stale_uploads
from uploads.signers import SignerError, fake
from uploads.signers.local import LocalSigner

KiB = 1024
MiB = 1024 * KiB
PART = 256 * KiB
#: An MP4 of 4 parts: three whole and a short last one.
VIDEO = MP4 + os.urandom(3 * PART + 1000 - len(MP4))


class SmallPartsSigner(LocalSigner):
    """The local signer taking parts from 1 KiB, so that a test file of a few hundred KiB
    goes in several parts."""

    part_limits = (KiB, 5 * 1024 * MiB, 10_000)


class SinglePutSigner(LocalSigner):
    """A storage that cannot take multipart uploads."""

    supports_multipart = False


class StorageWithoutPaths(Storage):
    """The test storage's files through the Storage API alone, with no ``path()``: a
    storage that keeps no files on disk, where the local signer keeps each part in a file
    of its own and concatenates them."""

    def __init__(self, **options: Any) -> None:
        self._disk = FileSystemStorage(**options)

    def _open(self, name: str, mode: str = "rb") -> File:
        return self._disk.open(name, mode)

    def _save(self, name: str, content: File) -> str:
        return str(self._disk.save(name, content))

    def delete(self, name: str) -> None:
        self._disk.delete(name)

    def exists(self, name: str) -> bool:
        # Objects, not directories: an empty directory is nothing here.
        return os.path.isfile(self._disk.path(name))

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        return self._disk.listdir(path)

    def size(self, name: str) -> int:
        return int(self._disk.size(name))


def without_paths(settings: Any) -> None:
    """The default storage as a StorageWithoutPaths of the same files."""
    options = settings.STORAGES["default"]["OPTIONS"]
    use_storage(settings, {"BACKEND": f"{__name__}.StorageWithoutPaths", "OPTIONS": options})


def use_signer(settings: Any, path: str) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "SIGNERS": {"default": path}}


@pytest.fixture(autouse=True)
def small_parts(settings: Any, edit_policy: Any, db: Any) -> None:
    use_signer(settings, f"{__name__}.SmallPartsSigner")
    edit_policy("media", part_size=PART, multipart_threshold=PART)


def presign_video(api: APIClient, body: bytes = VIDEO, **fields: Any) -> dict[str, Any]:
    request = {"type": "media", "contentType": "video/mp4", "size": len(body), **fields}
    return assert_ok(api.post(PRESIGN, request, format="json"), 201)


def sign(api: APIClient, upload_id: str, numbers: list[int]) -> Any:
    return api.post(f"/api/v1/uploads/{upload_id}/parts", {"partNumbers": numbers}, format="json")


def chunk(body: bytes, number: int) -> bytes:
    return body[(number - 1) * PART : number * PART]


def send(part: dict[str, Any], data: bytes, **extra: str) -> Any:
    """PUT a part to its signed URL with exactly the headers it lists, as a client does."""
    headers = dict(part["headers"])
    length = headers.pop("Content-Length", str(len(data)))
    return APIClient().generic(
        part["method"],
        part["url"],
        data,
        content_type="application/octet-stream",
        CONTENT_LENGTH=extra.get("length", length),
    )


def send_parts(api: APIClient, upload_id: str, numbers: list[int], body: bytes = VIDEO) -> None:
    for part in assert_ok(sign(api, upload_id, numbers))["parts"]:
        response = send(part, chunk(body, part["partNumber"]))
        assert response.status_code == 200, response.content


def leftovers(key: str) -> list[str]:
    """Whatever an upload left in storage beside its key: the staging object, and the
    parts' directory."""
    staging = keys.staging_key(key)
    storage = storages["default"]
    found = [name for name in (staging, f"{staging}.parts") if storage.exists(name)]
    return found


def complete(api: APIClient, upload_id: str) -> Any:
    return api.post(f"/api/v1/uploads/{upload_id}/complete")


# --- the flow ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_large_file_goes_in_parts_assembled_verified_and_promoted(
    api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    types = {t["type"]: t for t in assert_ok(api.get("/api/v1/uploads/types"))}
    assert (types["media"]["multipartThreshold"], types["media"]["partSize"]) == (PART, PART)
    assert (types["avatar"]["multipartThreshold"], types["avatar"]["partSize"]) == (None, 16 * MiB)

    answer = presign_video(api, sha256=sha256_b64(VIDEO))
    assert answer["multipart"] == {"partSize": PART, "partCount": 4}
    assert "uploadUrl" not in answer
    assert answer["status"] == "pending"
    # The upload lives the multipart lifetime (24 h), its part URLs the type's expiry.
    lifetime = Upload.objects.get(pk=answer["id"]).expires_at - timezone.now()
    assert timedelta(hours=23) < lifetime <= timedelta(hours=24)

    signed = assert_ok(sign(api, answer["id"], [4, 1, 2, 3]))
    assert signed["expiresIn"] == 300
    assert [p["partNumber"] for p in signed["parts"]] == [4, 1, 2, 3]
    assert signed["parts"][0]["headers"] == {"Content-Length": "1000"}
    for part in signed["parts"]:
        assert part["url"].startswith("http://testserver/")
        assert send(part, chunk(VIDEO, part["partNumber"])).status_code == 200

    done = settled(api, django_capture_on_commit_callbacks, answer["id"])
    assert (done["status"], done["size"], done["sha256"]) == (
        "completed",
        len(VIDEO),
        sha256_b64(VIDEO),
    )
    assert stored_bytes(answer["key"]) == VIDEO
    assert leftovers(answer["key"]) == []

    again = assert_ok(complete(api, answer["id"]))  # completing twice changes nothing
    assert again["status"] == "completed" and stored_bytes(answer["key"]) == VIDEO
    assert_error(sign(api, answer["id"], [1]), 409, "upload.invalid_state")


@pytest.mark.django_db
def test_a_client_resumes_from_the_parts_storage_holds(
    api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    answer = presign_video(api)
    send_parts(api, answer["id"], [1, 3])

    listed = assert_ok(api.get(f"/api/v1/uploads/{answer['id']}/parts"))
    assert listed == {
        "partSize": PART,
        "partCount": 4,
        "parts": [{"partNumber": 1, "size": PART}, {"partNumber": 3, "size": PART}],
    }
    error = assert_error(complete(api, answer["id"]), 409, "upload.parts_missing")
    assert error["i18nVars"]["missing"] == [2, 4]
    assert status_of(answer["id"]) == "pending"

    # A part sent again replaces the first.
    send_parts(api, answer["id"], [1, 2, 4])
    assert settled(api, django_capture_on_commit_callbacks, answer["id"])["status"] == "completed"
    assert stored_bytes(answer["key"]) == VIDEO
    assert leftovers(answer["key"]) == []


@pytest.mark.django_db
def test_asking_for_parts_takes_a_small_file_in_one_part(
    api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    small = MP4 + b"\x00" * 100
    answer = presign_video(api, small, multipart=True)
    assert answer["multipart"] == {"partSize": PART, "partCount": 1}
    (part,) = assert_ok(sign(api, answer["id"], [1]))["parts"]
    assert send(part, small).status_code == 200
    assert settled(api, django_capture_on_commit_callbacks, answer["id"])["status"] == "completed"
    assert stored_bytes(answer["key"]) == small


@pytest.mark.django_db
def test_under_the_threshold_a_file_gets_a_single_url(api: APIClient) -> None:
    small = MP4 + b"\x00" * 100
    answer = presign_video(api, small)
    assert "multipart" not in answer and answer["uploadUrl"]


# --- what a part URL allows ----------------------------------------------------------------


@pytest.mark.django_db
def test_a_part_url_takes_exactly_its_planned_size(api: APIClient) -> None:
    answer = presign_video(api)
    (part,) = assert_ok(sign(api, answer["id"], [2]))["parts"]
    assert_error(
        send(part, chunk(VIDEO, 2)[:-1], length=str(PART - 1)), 403, "upload.signature_mismatch"
    )
    assert_error(
        send(part, chunk(VIDEO, 2) + b"x", length=str(PART + 1)), 403, "upload.signature_mismatch"
    )
    assert assert_ok(api.get(f"/api/v1/uploads/{answer['id']}/parts"))["parts"] == []


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_multipart_needs_a_declared_size(api: APIClient, edit_policy: Any) -> None:
    edit_policy("media", require_size=False)
    body = {"type": "media", "contentType": "video/mp4", "multipart": True}
    assert_error(api.post(PRESIGN, body, format="json"), 400, "upload.invalid_size")
    error = assert_error(
        api.post(PRESIGN, {**body, "size": 10, "multipart": "yes"}, format="json"),
        400,
        "validation.failed",
    )
    assert error["details"][0]["field"] == "multipart"
    assert not Upload.objects.exists()


@pytest.mark.django_db
def test_a_storage_without_multipart(api: APIClient, settings: Any) -> None:
    use_signer(settings, f"{__name__}.SinglePutSigner")
    error = assert_error(
        api.post(
            PRESIGN,
            {"type": "media", "contentType": "video/mp4", "size": len(VIDEO), "multipart": True},
            format="json",
        ),
        400,
        "upload.multipart_unsupported",
    )
    assert error["i18nVars"] == {"type": "media"}
    assert not Upload.objects.exists()
    # Over the threshold alone, the file goes with a single URL.
    answer = presign_video(api)
    assert "multipart" not in answer and answer["uploadUrl"]


@pytest.mark.django_db
def test_part_numbers_must_be_in_the_plan(api: APIClient) -> None:
    answer = presign_video(api)
    error = assert_error(sign(api, answer["id"], [1, 5, 9]), 400, "validation.failed")
    assert error["i18nVars"]["partNumbers"] == [5, 9]
    assert "5, 9" in error["message"]
    for bad in ([], [1, 1], [0], ["1"], [1.5], [True], list(range(1, 102)), "1"):
        assert_error(sign(api, answer["id"], bad), 400, "validation.failed")  # type: ignore[arg-type]
    # 1.0 is the integer 1 in JSON Schema, and so for the server.
    assert [p["partNumber"] for p in assert_ok(sign(api, answer["id"], [1.0]))["parts"]] == [1]  # type: ignore[list-item]
    assert_error(
        api.post(f"/api/v1/uploads/{answer['id']}/parts", {"parts": [1]}, format="json"),
        400,
        "validation.failed",
    )


@pytest.mark.django_db
def test_parts_of_a_single_upload_or_another_users(
    api: APIClient, other_user: Any, png: bytes
) -> None:
    single = assert_ok(
        api.post(
            PRESIGN, {"type": "avatar", "contentType": "image/png", "size": len(png)}, format="json"
        ),
        201,
    )
    assert_error(sign(api, single["id"], [1]), 409, "upload.invalid_state")
    assert_error(api.get(f"/api/v1/uploads/{single['id']}/parts"), 409, "upload.invalid_state")

    answer = presign_video(api)
    other = client_for(other_user)
    assert_error(sign(other, answer["id"], [1]), 404, "upload.not_found")
    assert_error(other.get(f"/api/v1/uploads/{answer['id']}/parts"), 404, "upload.not_found")
    assert_error(sign(api, "not-a-uuid", [1]), 404, "upload.not_found")


@pytest.mark.django_db
def test_a_part_of_the_wrong_size_rejects_the_upload_and_leaves_nothing(
    api: APIClient, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # Where the parts are files of their own (a storage without files on disk; on disk,
    # tests/test_multipart_local.py).
    without_paths(settings)
    answer = presign_video(api)
    send_parts(api, answer["id"], [1, 2, 4])
    # Part 3 written short where the storage keeps it, as a storage that binds no size lets
    # a client do.
    upload = Upload.objects.get(pk=answer["id"])
    staging = keys.staging_key(upload.key)
    storages["default"].save(
        f"{staging}.parts/{upload.multipart_id}/00003", ContentFile(b"\x00" * 10)
    )

    with django_capture_on_commit_callbacks(execute=True):
        error = assert_error(complete(api, answer["id"]), 422, "upload.verification_failed")
    assert error["details"][0]["field"] == "size"
    assert "Part 3 is 10 bytes" in error["details"][0]["message"]
    assert status_of(answer["id"]) == "rejected"
    assert leftovers(answer["key"]) == [] and not stored(answer["key"])
    assert_error(sign(api, answer["id"], [3]), 409, "upload.invalid_state")


@pytest.mark.django_db
def test_a_file_that_is_not_what_it_claims_is_rejected_after_assembly(
    api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    body = b"\x00" * len(VIDEO)  # not an MP4
    answer = presign_video(api, body)
    send_parts(api, answer["id"], [1, 2, 3, 4], body)
    done = settled(api, django_capture_on_commit_callbacks, answer["id"])
    assert done["status"] == "rejected"
    assert "bytes are not video/mp4" in done["rejectionReason"]
    assert leftovers(answer["key"]) == [] and not stored(answer["key"])


# --- delete, the sweep, the quota -----------------------------------------------------------


@pytest.mark.django_db
def test_deleting_aborts_the_parts_after_commit(
    api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    answer = presign_video(api)
    (late,) = assert_ok(sign(api, answer["id"], [2]))["parts"]
    send_parts(api, answer["id"], [1])
    assert leftovers(answer["key"]) != []

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert_ok(api.delete(f"/api/v1/uploads/{answer['id']}"))
    assert leftovers(answer["key"]) != []  # not before the deletion commits
    for callback in callbacks:
        callback()
    assert leftovers(answer["key"]) == []
    # A part URL signed before writes nothing now.
    assert_error(send(late, chunk(VIDEO, 2)), 409, "upload.invalid_state")
    assert leftovers(answer["key"]) == []
    assert_error(sign(api, answer["id"], [1]), 409, "upload.invalid_state")
    assert_error(complete(api, answer["id"]), 404, "upload.not_found")


@pytest.mark.django_db
def test_the_sweep_aborts_expired_multipart_uploads_and_retries(
    api: APIClient, monkeypatch: Any
) -> None:
    answer = presign_video(api)
    send_parts(api, answer["id"], [1, 2])
    Upload.objects.filter(pk=answer["id"]).update(expires_at=timezone.now() - timedelta(days=1))
    assert_error(sign(api, answer["id"], [3]), 410, "upload.expired")

    def refuse(self: Any, key: str, multipart_id: str) -> None:
        raise SignerError("the storage refused")

    with monkeypatch.context() as patch:
        patch.setattr(SmallPartsSigner, "abort_multipart", refuse)
        report = expire_stale_uploads()
    assert (report.failed, report.multipart_aborted) == (1, 0)
    assert status_of(answer["id"]) == "pending" and leftovers(answer["key"]) != []

    report = expire_stale_uploads()
    assert (report.failed, report.multipart_aborted, report.expired) == (0, 1, 1)
    assert status_of(answer["id"]) == "expired"
    assert leftovers(answer["key"]) == []
    assert_error(complete(api, answer["id"]), 410, "upload.expired")


@pytest.mark.django_db
def test_complete_after_the_lifetime_with_parts_missing_expires_the_upload(
    api: APIClient,
) -> None:
    answer = presign_video(api)
    send_parts(api, answer["id"], [1])
    Upload.objects.filter(pk=answer["id"]).update(expires_at=timezone.now())
    assert_error(complete(api, answer["id"]), 410, "upload.expired")
    assert status_of(answer["id"]) == "expired"


@pytest.mark.django_db
def test_a_pending_multipart_upload_counts_its_declared_size(api: APIClient, settings: Any) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "MAX_PENDING_BYTES": len(VIDEO) + 500 * KiB}
    presign_video(api)
    error = assert_error(
        api.post(
            PRESIGN,
            {"type": "media", "contentType": "video/mp4", "size": len(VIDEO)},
            format="json",
        ),
        429,
        "upload.quota_exceeded",
    )
    assert error["i18nVars"]["pendingBytes"] == len(VIDEO)


# --- the admin -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_keeps_the_part_size_within_the_storage_limits(admin_client: Any) -> None:
    errors = refused(admin_client, "part_size", storage="default", part_size="512 bytes")
    assert any("at least 1 KB" in e for e in errors), errors
    errors = refused(admin_client, "part_size", max_size="5 GB", part_size="1 KB")
    assert any("10000" in e and "5 GB" in e for e in errors), errors
    response = admin_client.post(
        ADD_URL, policy_form(part_size="8 MB", multipart_threshold="64 MB")
    )
    assert response.status_code == 302
    policy = UploadPolicy.objects.get(name="report")
    assert (policy.part_size, policy.multipart_threshold) == (8 * MiB, 64 * MiB)


# --- the fake signer -------------------------------------------------------------------------


@pytest.fixture
def fake_storage(settings: Any) -> Iterator[None]:
    use_signer(settings, "uploads.signers.fake.FakeSigner")
    fake.reset()
    yield
    fake.reset()


@pytest.mark.django_db
@pytest.mark.usefixtures("fake_storage")
def test_the_fake_signer_takes_multipart_uploads(
    api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    answer = presign_video(api)
    assert fake.outbox[-1].key == keys.staging_key(answer["key"])
    signed = assert_ok(sign(api, answer["id"], [1, 2, 3, 4]))["parts"]
    assert [n for _, _, n, _ in fake.parts_signed] == [1, 2, 3, 4]
    assert signed[0]["url"].startswith(fake.FAKE_ORIGIN)
    for number in (1, 2, 3):
        fake.put_part(answer["key"], number, chunk(VIDEO, number))
    assert_error(complete(api, answer["id"]), 409, "upload.parts_missing")
    fake.put_part(answer["key"], 4, chunk(VIDEO, 4))
    assert settled(api, django_capture_on_commit_callbacks, answer["id"])["status"] == "completed"
    assert fake.objects[answer["key"]][0] == VIDEO
    assert fake.multiparts == {}


@pytest.mark.django_db
@pytest.mark.usefixtures("fake_storage")
def test_the_fake_signer_rejects_a_part_of_the_wrong_size(api: APIClient) -> None:
    answer = presign_video(api)
    for number in (1, 2, 3, 4):
        fake.put_part(answer["key"], number, chunk(VIDEO, number)[:-1])
    assert_error(complete(api, answer["id"]), 422, "upload.verification_failed")
    assert status_of(answer["id"]) == "rejected"
    assert fake.multiparts == {} and fake.objects == {}


@pytest.mark.django_db
@pytest.mark.usefixtures("fake_storage")
def test_the_sweep_releases_parts_written_after_complete_once_the_urls_expired(
    api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    """On GCS a part URL writes an object of its own, and on Azure a block, even after the
    assembly: until the URLs expire, complete cannot be the last word on them."""
    answer = presign_video(api)
    for number in (1, 2, 3, 4):
        fake.put_part(answer["key"], number, chunk(VIDEO, number))
    with django_capture_on_commit_callbacks(execute=True):  # the task runs on commit
        assert_ok(complete(api, answer["id"]), 202)
    upload = Upload.objects.get(pk=answer["id"])
    assert upload.status == "completed"
    late = (keys.staging_key(upload.key), upload.multipart_id)
    fake.multiparts[late] = {1: b"written after complete"}

    expire_stale_uploads(now=timezone.now())
    assert late in fake.multiparts  # the URLs are still live: nothing to say yet

    expire_stale_uploads(now=upload.expires_at + timedelta(days=1))
    assert late not in fake.multiparts
    assert status_of(upload) == "completed" and fake.objects[upload.key][0] == VIDEO


@pytest.mark.django_db
def test_the_checks_warn_of_a_part_size_the_storage_would_refuse() -> None:
    from uploads.checks import check_upload_types

    assert not [e for e in check_upload_types(databases=["default"]) if e.id == "uploads.W004"]
    UploadPolicy.objects.filter(name="media").update(part_size=512)
    (warning,) = [e for e in check_upload_types(databases=["default"]) if e.id == "uploads.W004"]
    assert "'media'" in warning.msg and "at least 1 KB" in warning.msg


@pytest.mark.django_db
def test_parts_grow_to_what_the_storage_takes(api: APIClient) -> None:
    # A part size set before the storage changed, below what it now takes.
    UploadPolicy.objects.filter(name="media").update(part_size=512)
    answer = presign_video(api)
    assert answer["multipart"] == {"partSize": KiB, "partCount": -(-len(VIDEO) // KiB)}


@pytest.mark.django_db
def test_deleting_the_user_releases_the_parts_of_their_unfinished_upload(
    api: APIClient, user: Any
) -> None:
    upload = presign_video(api)
    send_parts(api, upload["id"], [1, 2])
    assert leftovers(upload["key"]) == [f"{keys.staging_key(upload['key'])}.parts"]

    user.delete()

    assert leftovers(upload["key"]) == []
