"""The fake signer that users put in their own test suites."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.conftest import make_png, sha256_b64
from tests.helpers import assert_error, assert_ok
from uploads.signers import fake

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
def test_records_the_presign_and_completes_what_put_stored(api: APIClient) -> None:
    answer = presign(api, sha256=sha256_b64(PNG))
    (spec,) = fake.outbox
    assert (spec.key, spec.size, spec.sha256) == (answer["key"], len(PNG), sha256_b64(PNG))
    assert answer["uploadUrl"].startswith(fake.FAKE_ORIGIN)

    assert_error(api.post(f"/api/v1/uploads/{answer['id']}/complete"), 409, "upload.not_uploaded")
    fake.put(answer["key"], PNG, "image/png")
    done = assert_ok(api.post(f"/api/v1/uploads/{answer['id']}/complete"))
    assert (done["status"], done["sha256"]) == ("completed", sha256_b64(PNG))

    assert_ok(api.delete(f"/api/v1/uploads/{answer['id']}"))
    assert answer["key"] not in fake.objects


@pytest.mark.django_db
def test_complete_still_verifies_what_was_stored(api: APIClient) -> None:
    answer = presign(api)
    fake.put(answer["key"], b"<html>" + b" " * (len(PNG) - 6))
    response = api.post(f"/api/v1/uploads/{answer['id']}/complete")
    assert_error(response, 422, "upload.verification_failed")
    assert answer["key"] not in fake.objects
