"""Per-user caps on unfinished uploads: how many live URLs, and how many bytes they may write."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import client_for, sha256_b64
from tests.helpers import assert_error, assert_ok, complete, presign_ok
from tests.test_checks import uploads_messages
from uploads.models import Upload, UploadPolicy
from uploads.policies import bump_version

KB = 1024


@pytest.fixture
def quota(settings: Any) -> Any:
    def set_(**limits: int) -> None:
        settings.UPLOADS = {**settings.UPLOADS, **limits}

    return set_


def presign(api: APIClient, **fields: Any) -> Any:
    body = {"type": "avatar", "contentType": "image/png", "size": KB, **fields}
    return api.post("/api/v1/uploads/presign", body, format="json")


def test_the_upload_past_the_open_cap_is_refused_and_leaves_nothing(
    api: APIClient, user: Any, quota: Any
) -> None:
    quota(MAX_OPEN_UPLOADS=3)
    for _ in range(3):
        assert presign(api).status_code == 201

    error = assert_error(presign(api), 429, "upload.quota_exceeded")

    assert error["i18nVars"]["openUploads"] == 3
    assert error["i18nVars"]["maxOpenUploads"] == 3
    assert Upload.objects.filter(owner=user).count() == 3


def test_completing_deleting_or_letting_a_url_expire_frees_a_slot(
    api: APIClient, quota: Any, uploaded: Any
) -> None:
    quota(MAX_OPEN_UPLOADS=3)
    done, gone, lapsed = uploaded(), uploaded(), uploaded()
    assert_error(presign(api), 429, "upload.quota_exceeded")

    assert complete(api, done["id"]).status_code == 200
    assert presign(api).status_code == 201
    assert_error(presign(api), 429, "upload.quota_exceeded")

    assert assert_ok(api.delete(f"/api/v1/uploads/{gone['id']}"))["id"] == gone["id"]
    assert presign(api).status_code == 201

    Upload.objects.filter(pk=lapsed["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert presign(api).status_code == 201
    assert_error(presign(api), 429, "upload.quota_exceeded")


def test_each_user_has_a_cap_of_their_own(api: APIClient, other_user: Any, quota: Any) -> None:
    quota(MAX_OPEN_UPLOADS=1)
    assert presign(api).status_code == 201
    assert_error(presign(api), 429, "upload.quota_exceeded")

    assert presign(client_for(other_user)).status_code == 201


def test_pending_bytes_count_declared_sizes(api: APIClient, user: Any, quota: Any) -> None:
    quota(MAX_PENDING_BYTES=10 * KB)
    assert presign(api, size=6 * KB).status_code == 201
    assert presign(api, size=4 * KB).status_code == 201

    error = assert_error(presign(api, size=1), 429, "upload.quota_exceeded")

    assert error["i18nVars"]["pendingBytes"] == 10 * KB
    assert error["i18nVars"]["maxPendingBytes"] == 10 * KB
    assert Upload.objects.filter(owner=user).count() == 2


def test_an_undeclared_size_counts_the_types_max_size(api: APIClient, quota: Any) -> None:
    UploadPolicy.objects.filter(name="avatar").update(require_size=False, max_size=8 * KB)
    bump_version()
    quota(MAX_PENDING_BYTES=20 * KB)
    assert presign(api, size=None).status_code == 201  # counts 8 KB
    assert presign(api, size=None).status_code == 201  # 16 KB

    error = assert_error(presign(api, size=None), 429, "upload.quota_exceeded")
    assert error["i18nVars"]["pendingBytes"] == 16 * KB

    assert presign(api, size=4 * KB).status_code == 201  # exactly 20 KB


def test_a_deduplicated_presign_needs_no_free_slot(
    api: APIClient, quota: Any, uploaded: Any, png: bytes
) -> None:
    quota(MAX_OPEN_UPLOADS=1)
    first = uploaded(sha256=sha256_b64(png))
    assert complete(api, first["id"]).status_code == 200
    presign_ok(api, png)  # the one open upload

    again = api.post(
        "/api/v1/uploads/presign",
        {"type": "avatar", "contentType": "image/png", "size": len(png), "sha256": sha256_b64(png)},
        format="json",
    )

    assert again.status_code == 200, again.content
    assert again.json()["data"]["id"] == first["id"]


@pytest.mark.parametrize("key", ["MAX_OPEN_UPLOADS", "MAX_PENDING_BYTES", "VERIFY_READ_LIMIT"])
def test_a_limit_below_one_is_e001(settings: Any, key: str) -> None:
    settings.UPLOADS = {**settings.UPLOADS, key: 0}

    found = uploads_messages()

    assert "uploads.E001" in found and key in found["uploads.E001"][0]
