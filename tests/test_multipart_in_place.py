"""A multipart upload of a private type with nothing to check before publication assembles at
its own key, where no URL can write once it is assembled, and complete verifies it there with
no copy from staging: on S3 (SeaweedFS) and on the local signer. Public types, and uploads
started at their staging key before this (the row says which), go through staging as always;
a file refused at its key leaves nothing there."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.storage import storages
from rest_framework.test import APIClient

from tests.backends.s3 import BUCKET, S3Backend
from tests.conftest import sha256_b64
from tests.helpers import PRESIGN, assert_error, assert_ok, settled, stored, stored_bytes
from tests.helpers import use_storage as use_storage_config
from tests.metadata_images import metadata_in, png_with_text_and_trailer
from tests.test_multipart import SmallPartsSigner, send, use_signer
from uploads.keys import staging_key
from uploads.models import Upload
from uploads.services.promote import object_headers
from uploads.signers import Signer
from uploads.signers.s3 import S3Signer

pytestmark = pytest.mark.django_db

MiB = 1024 * 1024
PART = 5 * MiB  # S3's smallest part but the last
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
BODY = MP4_HEAD + os.urandom(2 * PART + 1000 - len(MP4_HEAD))  # three parts, the last short


def recorder(monkeypatch: pytest.MonkeyPatch, signer_class: type[Signer]) -> list[str]:
    """The names of ``signer_class``'s storage methods as they are called, in order; each
    still does its work."""
    calls: list[str] = []

    def recording(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def recorded(self: Signer, *args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return method(self, *args, **kwargs)

        return recorded

    for name, method in inspect.getmembers(signer_class, inspect.isfunction):
        static = isinstance(inspect.getattr_static(signer_class, name), staticmethod)
        if not name.startswith("_") and not static:
            monkeypatch.setattr(signer_class, name, recording(name, method))
    return calls


@pytest.fixture
def s3(settings: Any, s3_backend: S3Backend, edit_policy: Any) -> S3Backend:
    use_storage_config(settings, s3_backend.storage_config())
    edit_policy("media", is_public=False, part_size=PART, max_size=50 * MiB)
    return s3_backend


@pytest.fixture
def s3_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return recorder(monkeypatch, S3Signer)


def presign(api: APIClient, body: bytes = BODY, sha256: str | None = None) -> dict[str, Any]:
    request = {"type": "media", "contentType": "video/mp4", "size": len(body), "multipart": True}
    request["sha256"] = sha256 or sha256_b64(body)
    return dict(assert_ok(api.post(PRESIGN, request, format="json"), 201))


def sign_all(api: APIClient, answer: dict[str, Any]) -> list[dict[str, Any]]:
    numbers = list(range(1, answer["multipart"]["partCount"] + 1))
    path = f"/api/v1/uploads/{answer['id']}/parts"
    return list(assert_ok(api.post(path, {"partNumbers": numbers}, format="json"))["parts"])


def chunk(body: bytes, number: int, size: int = PART) -> bytes:
    return body[(number - 1) * size : number * size]


def send_s3(backend: S3Backend, parts: list[dict[str, Any]], body: bytes = BODY) -> list[int]:
    """PUT each part to its URL as a client would; the storage's answers."""
    return [
        backend.send(
            {"method": p["method"], "uploadUrl": p["url"]},
            chunk(body, p["partNumber"]),
            p["headers"],
        )
        for p in parts
    ]


def open_uploads(backend: S3Backend, key: str) -> list[str]:
    listed = backend.admin.list_multipart_uploads(Bucket=BUCKET, Prefix=key).get("Uploads")
    return [u["UploadId"] for u in listed or [] if u["Key"] == key]


# --- S3 ------------------------------------------------------------------------------------


def test_a_private_upload_assembles_at_its_key_and_completes_with_no_copy(
    s3: S3Backend, api: APIClient, s3_calls: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    answer = presign(api)
    key, staging = answer["key"], staging_key(answer["key"])
    upload = Upload.objects.get(pk=answer["id"])
    assert upload.assembles_at_key
    assert open_uploads(s3, key) == [upload.multipart_id]
    assert open_uploads(s3, staging) == []

    assert send_s3(s3, sign_all(api, answer)) == [200, 200, 200]
    assert s3.read(key) is None  # parts, not an object, until complete assembles them

    s3_calls.clear()
    done = settled(api, django_capture_on_commit_callbacks, answer["id"])
    assert (done["status"], done["size"], done["sha256"]) == (
        "completed",
        len(BODY),
        sha256_b64(BODY),
    )
    assert s3.read(key) == BODY
    assert s3.read(staging) is None and open_uploads(s3, staging) == []
    # Nothing copied or written: the object was verified where it was assembled, read whole
    # once (to hash it).
    assert not {"promote", "copy_verified", "write"} & set(s3_calls), s3_calls
    assert s3_calls.count("complete_multipart") == 1
    assert s3_calls.count("compute_sha256") == 1
    # With the headers the server sets, none of the uploader's, as a copy would have them.
    headers = object_headers(upload)
    assert s3.served_headers(key) == {
        "content-type": "video/mp4",
        "content-disposition": headers.content_disposition,
        "cache-control": headers.cache_control,
    }
    assert s3.admin.head_object(Bucket=BUCKET, Key=key)["Metadata"] == headers.metadata


def test_part_urls_write_nothing_once_assembled_at_the_key(
    s3: S3Backend, api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    answer = presign(api)
    parts = sign_all(api, answer)
    assert send_s3(s3, parts) == [200, 200, 200]
    assert settled(api, django_capture_on_commit_callbacks, answer["id"])["status"] == "completed"

    other = MP4_HEAD + os.urandom(len(BODY) - len(MP4_HEAD))
    # The storage refuses each: the multipart upload they name ended when it was assembled.
    assert send_s3(s3, parts, other) == [404, 404, 404]
    assert s3.read(answer["key"]) == BODY
    assert open_uploads(s3, answer["key"]) == []
    assert_error(
        api.post(f"/api/v1/uploads/{answer['id']}/parts", {"partNumbers": [1]}, format="json"),
        409,
        "upload.invalid_state",
    )


def test_a_public_type_assembles_in_staging_and_is_copied_to_its_key(
    s3: S3Backend,
    api: APIClient,
    s3_calls: list[str],
    edit_policy: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    edit_policy("media", is_public=True)
    answer = presign(api)
    key, staging = answer["key"], staging_key(answer["key"])
    upload = Upload.objects.get(pk=answer["id"])
    assert not upload.assembles_at_key
    assert open_uploads(s3, staging) == [upload.multipart_id]
    assert open_uploads(s3, key) == []

    assert send_s3(s3, sign_all(api, answer)) == [200, 200, 200]
    s3_calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert_ok(api.post(f"/api/v1/uploads/{answer['id']}/complete"), 202)
        # Assembled in staging: nothing at the key, which anyone may read, until verified.
        assert s3.read(key) is None
    done = assert_ok(api.get(f"/api/v1/uploads/{answer['id']}"))
    assert (done["status"], done["sha256"]) == ("completed", sha256_b64(BODY))
    assert s3.read(key) == BODY
    assert s3.read(staging) is None
    assert {"promote", "copy_verified"} & set(s3_calls), s3_calls  # copied from staging


def test_an_upload_started_at_its_staging_key_before_the_change_completes(
    s3: S3Backend,
    api: APIClient,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with monkeypatch.context() as before:
        # The code before this change: every multipart upload started at the staging key.
        before.setattr(S3Signer, "assembles_at_key", False)
        answer = presign(api)
    upload = Upload.objects.get(pk=answer["id"])
    assert not upload.assembles_at_key
    assert open_uploads(s3, staging_key(answer["key"])) == [upload.multipart_id]

    # Deployed: the row still sends its parts, and its assembly, to the staging key.
    assert send_s3(s3, sign_all(api, answer)) == [200, 200, 200]
    done = settled(api, django_capture_on_commit_callbacks, answer["id"])
    assert (done["status"], done["sha256"]) == ("completed", sha256_b64(BODY))
    assert s3.read(answer["key"]) == BODY
    assert s3.read(staging_key(answer["key"])) is None


@pytest.mark.parametrize(
    "sent, refusal",
    [
        (b"\x00" * len(BODY), "bytes are not video/mp4"),
        (MP4_HEAD + os.urandom(len(BODY) - len(MP4_HEAD)), "sha256 differs"),
    ],
    ids=["not-an-mp4", "another-sha256"],
)
def test_a_file_refused_at_its_key_leaves_nothing_there(
    s3: S3Backend,
    api: APIClient,
    django_capture_on_commit_callbacks: Any,
    sent: bytes,
    refusal: str,
) -> None:
    answer = presign(api, sha256=sha256_b64(BODY))
    assert send_s3(s3, sign_all(api, answer), sent) == [200, 200, 200]
    done = settled(api, django_capture_on_commit_callbacks, answer["id"])
    assert done["status"] == "rejected"
    assert refusal in done["rejectionReason"]
    assert s3.read(answer["key"]) is None
    assert s3.read(staging_key(answer["key"])) is None
    assert open_uploads(s3, answer["key"]) == []


# --- the local signer ------------------------------------------------------------------------

LOCAL_PART = 256 * 1024
LOCAL_BODY = MP4_HEAD + os.urandom(3 * LOCAL_PART + 1000 - len(MP4_HEAD))


@pytest.fixture
def local(settings: Any, edit_policy: Any) -> None:
    use_signer(settings, f"{SmallPartsSigner.__module__}.SmallPartsSigner")
    edit_policy("media", is_public=False, part_size=LOCAL_PART)


def send_local(parts: list[dict[str, Any]], body: bytes) -> None:
    for part in parts:
        response = send(part, chunk(body, part["partNumber"], LOCAL_PART))
        assert response.status_code == 200, response.content


def in_staging(key: str) -> list[str]:
    """What lies under the upload's staging key: the object, and the parts' directory."""
    staging = staging_key(key)
    return [name for name in (staging, f"{staging}.parts") if storages["default"].exists(name)]


@pytest.mark.usefixtures("local")
def test_on_the_local_signer_parts_wait_in_staging_and_assemble_at_the_key(
    api: APIClient, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    calls = recorder(monkeypatch, SmallPartsSigner)
    answer = presign(api, LOCAL_BODY)
    assert Upload.objects.get(pk=answer["id"]).assembles_at_key
    parts = sign_all(api, answer)
    send_local(parts, LOCAL_BODY)
    # Beside the staging key, never beside the key that is served.
    assert in_staging(answer["key"]) == [f"{staging_key(answer['key'])}.parts"]
    assert not stored(answer["key"])

    calls.clear()
    done = settled(api, django_capture_on_commit_callbacks, answer["id"])
    assert (done["status"], done["sha256"]) == ("completed", sha256_b64(LOCAL_BODY))
    assert stored_bytes(answer["key"]) == LOCAL_BODY
    assert in_staging(answer["key"]) == []
    assert not {"promote", "copy_verified", "write"} & set(calls), calls
    # A part URL used again writes nothing: the upload is no longer pending.
    assert_error(send(parts[0], chunk(LOCAL_BODY, 1, LOCAL_PART)), 409, "upload.invalid_state")
    assert stored_bytes(answer["key"]) == LOCAL_BODY and in_staging(answer["key"]) == []


@pytest.mark.usefixtures("local")
def test_a_check_the_type_gained_since_presign_still_runs_before_completion(
    api: APIClient,
    settings: Any,
    edit_policy: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.UPLOADS = {
        **settings.UPLOADS,
        "CHECKS": {"no-macros": "tests.hostapp.file_checks.no_macros"},
    }
    body = LOCAL_BODY[:-100] + b"Sub AutoOpen()".ljust(100, b"\0")
    answer = presign(api, body)
    assert Upload.objects.get(pk=answer["id"]).assembles_at_key
    send_local(sign_all(api, answer), body)
    edit_policy("media", checks=["no-macros"])  # after presign, before complete

    done = settled(api, django_capture_on_commit_callbacks, answer["id"])
    assert done["status"] == "rejected"
    assert done["rejectionReason"] == "The file contains a macro that runs when it is opened."
    assert not stored(answer["key"]) and in_staging(answer["key"]) == []


@pytest.mark.parametrize(
    "fields, content_type, at_key",
    [
        ({}, "video/mp4", True),
        ({"is_public": True}, "video/mp4", False),  # anyone reads a public key
        ({"checks": ["no-macros"]}, "video/mp4", False),  # nothing refused is ever at the key
        ({"strip_metadata": True}, "image/png", False),  # complete writes the image anew
        ({"strip_metadata": True}, "video/mp4", True),  # images only
    ],
    ids=["private", "public", "checks", "strip-image", "strip-video"],
)
def test_where_a_type_assembles_its_parts(
    api: APIClient,
    settings: Any,
    edit_policy: Any,
    local: None,
    fields: dict[str, Any],
    content_type: str,
    at_key: bool,
) -> None:
    settings.UPLOADS = {
        **settings.UPLOADS,
        "CHECKS": {"no-macros": "tests.hostapp.file_checks.no_macros"},
    }
    edit_policy("media", **fields)
    request = {"type": "media", "contentType": content_type, "size": 2 * LOCAL_PART}
    answer = assert_ok(api.post(PRESIGN, {**request, "multipart": True}, format="json"), 201)
    upload = Upload.objects.get(pk=answer["id"])
    assert upload.assembles_at_key is at_key
    assert upload.multipart_key == (answer["key"] if at_key else staging_key(answer["key"]))


@pytest.mark.usefixtures("local")
def test_metadata_stripping_the_type_gained_since_presign_still_applies(
    api: APIClient, edit_policy: Any, django_capture_on_commit_callbacks: Any
) -> None:
    png = png_with_text_and_trailer()
    request = {"type": "media", "contentType": "image/png", "size": len(png), "multipart": True}
    answer = assert_ok(api.post(PRESIGN, request, format="json"), 201)
    assert Upload.objects.get(pk=answer["id"]).assembles_at_key
    send_local(sign_all(api, answer), png)
    edit_policy("media", strip_metadata=True)  # after presign, before complete

    done = settled(api, django_capture_on_commit_callbacks, answer["id"])
    assert done["status"] == "completed"
    kept = stored_bytes(answer["key"])
    assert metadata_in(kept) == {} and kept != png
    assert done["sha256"] == sha256_b64(kept)
