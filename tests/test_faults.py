"""Faults the app meets in production: a storage that fails or answers late while an upload
is deleted, a shared cache or a database connection that drops, a killed local PUT, hostile
request bodies, and staff reaching for keys that are not theirs."""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import close_old_connections, connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import apikeys
from accounts.models import ApiKey, MediaItem
from tests.backends.s3 import BUCKET, S3Backend, seaweedfs
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.helpers import (
    PRESIGN,
    assert_error,
    assert_ok,
    avatar_row,
    make_upload,
    presign_ok,
    status_of,
    stored,
    use_storage,
)
from tests.live import free_port
from tests.requirements import require_postgres
from uploads.keys import staging_key
from uploads.models import Upload
from uploads.services.cleanup import expire_stale_uploads


def sweep() -> str:
    out = io.StringIO()
    call_command("uploads_cleanup", stdout=out)
    return out.getvalue()


# --- deleting while the storage fails ------------------------------------------------------


@pytest.fixture(scope="module")
def own_seaweedfs() -> Iterator[Any]:
    """A SeaweedFS of this module's own, which a test may stop and start again."""
    with seaweedfs() as server:
        yield server


def test_deleting_while_the_storage_is_down_answers_and_the_sweep_removes_the_object(
    settings: Any,
    own_seaweedfs: Any,
    user: Any,
    api: APIClient,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from botocore.config import Config

    backend = S3Backend(own_seaweedfs)
    # One attempt: a storage that is down fails at once instead of after backoff.
    use_storage(
        settings, backend.storage_config(client_config=Config(retries={"total_max_attempts": 1}))
    )
    upload = make_upload(user)
    assert backend.read(upload.key) is not None

    from tests.live import stop_process

    assert own_seaweedfs.process is not None
    stop_process(own_seaweedfs.process, group=True)
    try:
        with django_capture_on_commit_callbacks(execute=True) as after_commit:
            data = assert_ok(api.delete(f"/api/v1/uploads/{upload.pk}"))
        assert after_commit  # the object's removal was tried, and failed
    finally:
        own_seaweedfs.start()  # the same ports and data directory

    # The answer is final: the upload is deleted, and no row points at a missing object.
    assert data["status"] == "deleted"
    assert status_of(upload) == "deleted"
    assert_error(api.get(f"/api/v1/uploads/{upload.pk}"), 404, "upload.not_found")
    assert backend.admin.head_object(Bucket=BUCKET, Key=upload.key)  # still there, for now

    # The sweep does not wait for the URL to expire to remove a deleted upload's object.
    assert Upload.objects.get(pk=upload.pk).expires_at > timezone.now()
    sweep()
    assert backend.read(upload.key) is None
    assert backend.read(staging_key(upload.key)) is None


def test_a_delete_that_storage_carries_out_late_leaves_no_reference(
    user: Any,
    api: APIClient,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The storage deletes the object, but its answer comes too late (an error): the
    upload is deleted all the same, never kept pointing at nothing."""
    from uploads.signers.base import SignerUnavailable
    from uploads.signers.local import LocalSigner

    upload = make_upload(user)
    real_delete = LocalSigner.delete

    def late(self: LocalSigner, key: str) -> None:
        real_delete(self, key)
        raise SignerUnavailable("read timed out")

    monkeypatch.setattr(LocalSigner, "delete", late)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/v1/uploads/{upload.pk}")
    assert assert_ok(response)["status"] == "deleted"
    assert status_of(upload) == "deleted" and not stored(upload.key)


def test_a_deleted_upload_is_swept_at_once_and_again_after_its_url_expires(
    user: Any, png: bytes
) -> None:
    upload = avatar_row(user, "deleted", png, expires_in=timedelta(minutes=5))

    assert expire_stale_uploads().objects_deleted == 1
    assert not stored(upload.key)
    assert expire_stale_uploads().swept == 0  # nothing more until the URL expires
    # Its URL could still write the key meanwhile; once it has expired, it is cleared again.
    later = timezone.now() + timedelta(hours=2)
    assert expire_stale_uploads(now=later).swept == 1
    assert expire_stale_uploads(now=later).swept == 0


def test_storage_unavailable_says_when_to_retry(
    user: Any, api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from uploads.signers.base import SignerUnavailable
    from uploads.signers.local import LocalSigner

    upload = make_upload(user)

    def down(self: LocalSigner, *args: Any, **kwargs: Any) -> None:
        raise SignerUnavailable("connect timeout")

    monkeypatch.setattr(LocalSigner, "presign_download", down)
    response = api.get(f"/api/v1/uploads/{upload.pk}/download")
    assert_error(response, 503, "storage.unavailable")
    assert int(response["Retry-After"]) > 0


def test_the_admin_delete_action_marks_first_and_leaves_failures_to_the_sweep(
    admin_client: Client,
    user: Any,
    png: bytes,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from uploads.signers.base import SignerUnavailable
    from uploads.signers.local import LocalSigner

    upload = avatar_row(user, "completed", png)

    def down(self: LocalSigner, key: str) -> None:
        raise SignerUnavailable("connect timeout")

    with monkeypatch.context() as patch, django_capture_on_commit_callbacks(execute=True):
        patch.setattr(LocalSigner, "delete", down)
        response = admin_client.post(
            "/admin/uploads/upload/",
            {"action": "delete_with_objects", "_selected_action": [str(upload.pk)]},
            follow=True,
        )
    assert "Deleted 1 uploads" in response.content.decode()
    assert status_of(upload) == "deleted" and stored(upload.key)

    sweep()
    assert not stored(upload.key)


# --- the shared cache and the database --------------------------------------------------


@pytest.fixture(
    params=["django.core.cache.backends.redis.RedisCache", "config.cache.ReusedClientRedisCache"]
)
def cache_down(settings: Any, request: Any) -> None:
    """The shared cache is Redis at a port where nothing listens (Django's backend, and the
    project's)."""
    settings.CACHES = {
        "default": {
            "BACKEND": request.param,
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }


def test_a_cache_that_does_not_answer_is_a_503_not_a_500(
    user: Any, api: APIClient, cache_down: None
) -> None:
    for response in (
        api.get("/api/v1/uploads/types"),
        api.post(PRESIGN, {"type": "avatar", "contentType": "image/png"}, format="json"),
    ):
        assert_error(response, 503, "service.unavailable")
        assert int(response["Retry-After"]) > 0
    assert not Upload.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_dropped_database_connection_costs_no_request(user: Any) -> None:
    require_postgres()
    api = client_for(user)
    assert_ok(api.get("/api/v1/uploads"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    other = connection.copy()
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()

    close_old_connections()  # what Django does as every request starts
    assert_ok(api.get("/api/v1/uploads"))


# --- what a killed local PUT leaves ---------------------------------------------------------


def test_the_sweep_removes_temporary_files_of_killed_local_puts(
    settings: Any, tmp_path: Path, db: Any
) -> None:
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    # Where the local signer streams a PUT (Django's TemporaryUploadedFile), left by a
    # process that was killed an hour and more ago, and one of a PUT still running.
    killed = tempfile.NamedTemporaryFile(suffix=".upload.png", dir=tmp_path, delete=False)
    running = tempfile.NamedTemporaryFile(suffix=".upload.png", dir=tmp_path, delete=False)
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("mine")
    long_ago = time.time() - 2 * 3600
    for path in (killed.name, str(unrelated)):
        os.utime(path, (long_ago, long_ago))

    assert "1 stale temporary files of local uploads removed." in sweep()
    assert not Path(killed.name).exists()
    assert Path(running.name).exists() and unrelated.exists()


# --- hostile request bodies ---------------------------------------------------------------


def test_a_json_body_over_the_limit_is_413(api: APIClient) -> None:
    body = json.dumps({"type": "avatar", "fileName": "x" * (3 * 1024 * 1024)})
    response = api.post(PRESIGN, body, content_type="application/json")
    assert_error(response, 413, "request.too_large")


def test_a_json_body_nested_too_deep_is_400(api: APIClient) -> None:
    body = "[" * 100_000 + "]" * 100_000
    response = api.post(PRESIGN, body, content_type="application/json")
    assert_error(response, 400, "validation.failed")


@pytest.mark.parametrize("length", ["²", "١٢", "+12", " 12"])
def test_a_local_put_with_a_malformed_content_length_is_400(
    api: APIClient, png: bytes, length: str
) -> None:
    answer = presign_ok(api, png)
    response = APIClient().generic(
        "PUT", answer["uploadUrl"], png, content_type="image/png", CONTENT_LENGTH=length
    )
    assert_error(response, 400, "validation.failed")
    assert not stored(answer["key"])


def test_a_post_to_an_unknown_api_path_is_the_json_404(user: Any) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    for client in (browser, Client(enforce_csrf_checks=True)):
        response = client.post("/api/v1/no-such-thing", {}, content_type="application/json")
        assert_error(response, 404, "not_found")


# --- pages ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/uploads", "/api/v1/media"])
def test_a_page_past_the_last_is_empty_and_says_how_many_there_are(
    api: APIClient, user: Any, path: str
) -> None:
    for _ in range(3):
        upload = make_upload(user, "media")
        MediaItem.objects.create(owner=user, upload=upload, title="t")

    response = api.get(path, {"page": 5, "pageSize": 2})
    assert assert_ok(response) == []
    assert response.json()["meta"]["pagination"] == {
        "page": 5,
        "pageSize": 2,
        "total": 3,
        "totalPages": 2,
        "next": None,
        "previous": f"http://testserver{path}?page=2&pageSize=2",
    }


@pytest.mark.parametrize("path", ["/api/v1/uploads", "/api/v1/media"])
@pytest.mark.parametrize(
    "query", [{"pageSize": "0"}, {"pageSize": "101"}, {"page": "0"}, {"page": "last"}]
)
def test_bad_page_parameters_are_refused_alike(
    api: APIClient, path: str, query: dict[str, str]
) -> None:
    error = assert_error(api.get(path, query), 400, "validation.failed")
    assert error["details"][0]["field"] == next(iter(query))


# --- API keys in the admin ----------------------------------------------------------------

KEYS_URL = "/admin/accounts/apikey/"


@pytest.fixture
def key_staff(user: Any) -> Client:
    """A staff member allowed to view, change, delete and revoke API keys."""
    from django.contrib.auth.models import Permission

    user.is_staff = True
    user.save()
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_apikey", "change_apikey", "delete_apikey"])
    )
    staff = Client()
    staff.force_login(user)
    return staff


def test_staff_cannot_widen_another_users_key(key_staff: Client, other_user: Any) -> None:
    row, _ = apikeys.create_api_key(other_user, "job", ["media:read"])
    response = key_staff.post(
        f"{KEYS_URL}{row.pk}/change/", {"name": "job", "scopes": ["media:read", "media:write"]}
    )
    assert response.status_code == 403
    row.refresh_from_db()
    assert row.scopes == ["media:read"]


def test_staff_change_their_own_key(key_staff: Client, user: Any) -> None:
    row, _ = apikeys.create_api_key(user, "mine", ["media:read"])
    response = key_staff.post(
        f"{KEYS_URL}{row.pk}/change/", {"name": "mine", "scopes": ["media:read", "media:write"]}
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.scopes == ["media:read", "media:write"]


def test_staff_cannot_touch_a_superusers_key(key_staff: Client) -> None:
    boss = UserFactory(is_superuser=True, is_staff=True)
    row, key = apikeys.create_api_key(boss, "root job", ["media:read"])

    for response in (
        key_staff.post(f"{KEYS_URL}{row.pk}/change/", {"name": "x", "scopes": SCOPES_ALL}),
        key_staff.post(f"{KEYS_URL}{row.pk}/delete/", {"post": "yes"}),
    ):
        assert response.status_code == 403
    revoke = key_staff.post(
        KEYS_URL, {"action": "revoke_keys", "_selected_action": [row.pk]}, follow=True
    )
    assert "only a superuser may revoke them" in revoke.content.decode()
    row.refresh_from_db()
    assert (row.name, row.scopes, row.revoked_at) == ("root job", ["media:read"], None)
    assert ApiKey.objects.filter(pk=row.pk).exists()


SCOPES_ALL = ["uploads:read", "uploads:write", "profile:write", "media:read", "media:write"]
