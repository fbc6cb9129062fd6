"""The fake signer that users put in their own test suites."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.conftest import make_png, sha256_b64
from tests.helpers import assert_error, assert_ok
from uploads.keys import staging_key
from uploads.models import Upload
from uploads.signers import SignerError, fake

PNG = make_png(3, 3)


@pytest.fixture(autouse=True)
def fake_storage(settings: Any) -> Iterator[None]:
    settings.UPLOADS = {
        **settings.UPLOADS,
        "SIGNERS": {"default": "uploads.signers.fake.FakeSigner"},
    }
    fake.reset()
    yield
    fake.reset()


def presign(api: APIClient, **fields: Any) -> dict[str, Any]:
    body = {"type": "avatar", "contentType": "image/png", "size": len(PNG), **fields}
    return assert_ok(api.post("/api/v1/uploads/presign", body, format="json"), 201)


@pytest.mark.django_db
def test_records_the_presign_and_completes_what_put_stored(
    api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    answer = presign(api, sha256=sha256_b64(PNG))
    (spec,) = fake.outbox
    assert (spec.key, spec.size, spec.sha256) == (
        staging_key(answer["key"]),
        len(PNG),
        sha256_b64(PNG),
    )
    assert answer["uploadUrl"].startswith(fake.FAKE_ORIGIN)

    assert_error(api.post(f"/api/v1/uploads/{answer['id']}/complete"), 409, "upload.not_uploaded")
    fake.put(answer["key"], PNG, "image/png")
    done = assert_ok(api.post(f"/api/v1/uploads/{answer['id']}/complete"))
    assert (done["status"], done["sha256"]) == ("completed", sha256_b64(PNG))

    with django_capture_on_commit_callbacks(execute=True):  # the object goes after commit
        assert_ok(api.delete(f"/api/v1/uploads/{answer['id']}"))
    assert answer["key"] not in fake.objects


@pytest.mark.django_db
def test_complete_still_verifies_what_was_stored(api: APIClient) -> None:
    answer = presign(api)
    fake.put(answer["key"], b"<html>" + b" " * (len(PNG) - 6))
    response = api.post(f"/api/v1/uploads/{answer['id']}/complete")
    assert_error(response, 422, "upload.verification_failed")
    assert answer["key"] not in fake.objects


class RefusingSigner(fake.FakeSigner):
    """A provider that refuses for a reason of its own (fault injection)."""

    def presign_upload(self, spec: Any) -> Any:
        raise SignerError("the provider said no")

    def delete(self, key: str) -> None:
        raise SignerError("the provider said no")


@pytest.mark.django_db
def test_a_provider_refusal_is_storage_unavailable_and_a_delete_still_final(
    api: APIClient, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    answer = presign(api)
    fake.put(answer["key"], PNG, "image/png")
    settings.UPLOADS = {
        **settings.UPLOADS,
        "SIGNERS": {"default": f"{__name__}.RefusingSigner"},
    }
    body = {"type": "avatar", "contentType": "image/png", "size": len(PNG)}
    assert_error(
        api.post("/api/v1/uploads/presign", body, format="json"), 503, "storage.unavailable"
    )
    assert Upload.objects.count() == 1
    assert Upload.objects.get().status == Upload.Status.PENDING
    # A delete does not wait on the storage: the upload is deleted, and the object it could
    # not remove is left to uploads_cleanup.
    with django_capture_on_commit_callbacks(execute=True):
        assert_ok(api.delete(f"/api/v1/uploads/{answer['id']}"))
    assert Upload.objects.get().status == Upload.Status.DELETED
    assert staging_key(answer["key"]) in fake.objects


@pytest.mark.django_db
def test_dedup_reuses_only_the_same_bytes_declared_as_the_same_type(api: APIClient) -> None:
    first = presign(api, sha256=sha256_b64(PNG))
    fake.put(first["key"], PNG, "image/png")
    assert_ok(api.post(f"/api/v1/uploads/{first['id']}/complete"))

    again = api.post(
        "/api/v1/uploads/presign",
        {"type": "avatar", "contentType": "image/png", "size": len(PNG), "sha256": sha256_b64(PNG)},
        format="json",
    )
    assert assert_ok(again)["id"] == first["id"]
    as_jpeg = presign(api, contentType="image/jpeg", sha256=sha256_b64(PNG))
    assert as_jpeg["id"] != first["id"] and as_jpeg["status"] == "pending"
