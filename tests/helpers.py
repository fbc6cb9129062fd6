"""Helpers shared by the tests: the contract's envelopes, presign and complete, what is
stored, uploads made without HTTP, and the storage a test uses. (Fixtures are in
tests/conftest.py; real servers in tests/live.py and tests/backends/.)"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import make_png, sha256_b64
from uploads import keys, services
from uploads.models import Upload, UploadPolicy
from uploads.services.attach import read_field_value

PRESIGN = "/api/v1/uploads/presign"
#: Small files that content sniffing recognises, for the document and media types.
PDF = (
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 40

# --- the contract's envelopes ----------------------------------------------------------


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The contract's error envelope with this status and code; returns its ``error``."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["success"] is False
    error = body["error"]
    assert error["code"] == code
    assert error["i18nKey"] == f"error.{code}"
    assert isinstance(error["message"], str) and error["message"]
    assert error["correlationId"] == response["X-Request-ID"]
    return dict(error)


def assert_ok(response: Any, status: int = 200) -> Any:
    """The contract's success envelope with this status; returns its ``data``."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is True
    assert body["meta"]["requestId"] == response["X-Request-ID"]
    return body["data"]


def assert_verifying(response: Any) -> Any:
    """Complete's answer for a file checked in the background: 202 with the upload
    verifying; returns its ``data``."""
    data = assert_ok(response, 202)
    assert data["status"] == "verifying", data
    return data


def settled(api: Any, capture_on_commit: Any, upload_id: str) -> Any:
    """Complete an upload checked in the background: 202 with it verifying, then the upload
    as GET shows it once the request's transaction has committed (the immediate task
    backend runs the check then). ``capture_on_commit``: pytest-django's
    django_capture_on_commit_callbacks."""
    with capture_on_commit(execute=True):
        assert_verifying(api.post(f"/api/v1/uploads/{upload_id}/complete"))
    return assert_ok(api.get(f"/api/v1/uploads/{upload_id}"))


def without_field_values(data: Any) -> Any:
    """``data`` without its ``fieldValue``s, to compare two answers: each is signed with the
    second it was issued in."""
    if isinstance(data, dict):
        return {k: without_field_values(v) for k, v in data.items() if k != "fieldValue"}
    if isinstance(data, list):
        return [without_field_values(v) for v in data]
    return data


def without_correlation(error: dict[str, Any]) -> dict[str, Any]:
    """An error without its per-request correlation id, to compare two answers."""
    return {k: v for k, v in error.items() if k != "correlationId"}


# --- the API's two upload calls ----------------------------------------------------------


def presign_ok(api: APIClient, body: bytes | None = None, **fields: Any) -> dict[str, Any]:
    """POST presign for an avatar PNG (sized for ``body`` when given), asserting 201;
    returns the answer's data."""
    request = {"type": "avatar", "contentType": "image/png", **fields}
    if body is not None:
        request.setdefault("size", len(body))
    response = api.post(PRESIGN, request, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json()["data"])


def complete(api: APIClient, upload_id: str) -> Any:
    """POST complete for the upload; returns the response."""
    return api.post(f"/api/v1/uploads/{upload_id}/complete")


# --- what is stored ----------------------------------------------------------------------


def status_of(upload: Upload | uuid.UUID | str) -> str:
    """An upload's status as the database has it now."""
    pk = upload.pk if isinstance(upload, Upload) else upload
    return str(Upload.objects.get(pk=pk).status)


def stored(key: str) -> bool:
    """Whether the default storage holds an object at ``key``."""
    return bool(storages["default"].exists(key))


def stored_bytes(key: str) -> bytes:
    with storages["default"].open(key, "rb") as fh:
        return bytes(fh.read())


def write_object(key: str, data: bytes) -> None:
    """Write where the signed URL for ``key`` writes (its staging key), straight into
    storage, as a provider that enforces nothing (such as Azure, which signs no size)
    would let a client do."""
    staging = keys.staging_key(key)
    assert storages["default"].save(staging, ContentFile(data)) == staging


def staged(key: str) -> bool:
    """Whether the default storage holds an object at ``key``'s staging key."""
    return stored(keys.staging_key(key))


# --- uploads made without HTTP -----------------------------------------------------------


def make_upload(
    owner: Any,
    type: str = "avatar",
    body: bytes | None = None,
    content_type: str = "image/png",
    *,
    complete: bool = True,
    put: bool = True,
    file_name: str | None = None,
) -> Upload:
    """An upload made by the services (faster than HTTP for set-ups): presigned, its bytes
    in storage where the signed URL would have put them, and completed."""
    body = make_png(2, 2, uuid.uuid4().bytes) if body is None else body
    result = services.presign_upload(
        owner,
        services.PresignRequest(
            type=type,
            content_type=content_type,
            size=len(body),
            file_name=file_name or f"file.{type}",
        ),
    )
    upload = result.upload
    if put:
        write_object(upload.key, body)
    if complete:
        upload = services.complete_upload(owner, upload.pk)
    return Upload.objects.select_related("policy").get(pk=upload.pk)


def completed_row(owner: Any, type: str = "avatar", body: bytes | None = None) -> Upload:
    """A completed PNG upload written straight to the database and storage, as complete
    leaves one: for set-ups that need many (the matrix), where the services' checks would
    only cost time."""
    body = make_png(2, 2, uuid.uuid4().bytes) if body is None else body
    policy = UploadPolicy.objects.get(name=type)
    upload_id = uuid.uuid4()
    key = keys.build_key(policy.key_prefix, owner.pk, upload_id, "image/png")
    assert storages[policy.storage].save(key, ContentFile(body)) == key
    now = timezone.now()
    return Upload.objects.create(
        id=upload_id,
        owner=owner,
        policy=policy,
        key=key,
        storage=policy.storage,
        is_public=policy.is_public,
        status=Upload.Status.COMPLETED,
        expires_at=now,
        max_size=policy.max_size,
        content_type="image/png",
        size=len(body),
        verified_size=len(body),
        verified_content_type="image/png",
        verified_sha256=sha256_b64(body),
        file_name=f"file.{type}",
        completed_at=now,
    )


def avatar_row(
    owner: Any,
    status: str = "pending",
    body: bytes | None = None,
    *,
    expires_in: timedelta = timedelta(minutes=5),
    **fields: Any,
) -> Upload:
    """An avatar Upload row in any status, written straight to the database (with ``body``
    stored when given: at its key, verified, when the status is completed, else where its
    URL writes)."""
    policy = UploadPolicy.objects.get(name="avatar")
    upload = Upload(
        owner=owner,
        policy=policy,
        storage="default",
        is_public=True,
        status=status,
        expires_at=timezone.now() + expires_in,
        max_size=policy.max_size,
        content_type="image/png",
        **fields,
    )
    upload.key = f"avatars/{owner.pk}/{upload.id}.png"
    if body is not None:
        where = upload.key if status == "completed" else keys.staging_key(upload.key)
        storages["default"].save(where, ContentFile(body))
        if upload.size is None:
            upload.size = len(body)
        if status == "completed":
            upload.verified_size = len(body)
            upload.verified_content_type = "image/png"
            upload.verified_sha256 = sha256_b64(body)
            upload.completed_at = timezone.now()
    upload.save()
    return upload


def absolute_public_url(upload: Upload) -> str:
    url = services.public_url(upload)
    assert url is not None
    return f"http://testserver{url}" if url.startswith("/") else url


# --- settings ----------------------------------------------------------------------------


def use_storage(settings: Any, config: dict[str, Any], alias: str = "default") -> None:
    """Make ``config`` the settings.STORAGES entry ``alias`` for this test."""
    settings.STORAGES = {**settings.STORAGES, alias: config}


def issued(value: str) -> tuple[str, str]:
    """(upload id, pk of the user it is issued to) of a form's upload value, still valid."""
    signed = read_field_value(value)
    assert signed is not None and not signed.expired, value
    return str(signed.upload_id), signed.issued_to
