"""Completed uploads put to use: the avatar, media items, releasing unused uploads, and
deduplicated presigns (PATCH/DELETE /users/me/avatar, GET /users/me, /media)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import MediaItem
from tests.conftest import client_for, make_png, sha256_b64
from tests.helpers import (
    MP4,
    PDF,
    absolute_public_url,
    assert_error,
    assert_ok,
    make_upload,
    staged,
    status_of,
    stored,
    without_correlation,
    without_field_values,
)
from uploads.models import Upload, UploadPolicy

# --- helpers ---------------------------------------------------------------------------


@pytest.fixture
def presigned_put(
    presign: Callable[..., Any], put: Callable[..., Any]
) -> Callable[..., dict[str, Any]]:
    """Presign and PUT through HTTP, without completing; returns the presign answer."""

    def do(body: bytes | None = None, **fields: Any) -> dict[str, Any]:
        body = make_png(3, 3, uuid.uuid4().bytes) if body is None else body
        fields.setdefault("size", len(body))
        data = assert_ok(presign(**fields), 201)
        assert put(data, body).status_code == 200
        return data

    return do


# --- avatar ----------------------------------------------------------------------------


def test_patch_avatar_with_a_pending_upload_completes_it_and_shows_it(
    api: APIClient, presigned_put: Callable[..., dict[str, Any]], user: Any
) -> None:
    png = make_png(5, 5)
    presigned = presigned_put(png)
    assert status_of(presigned["id"]) == "pending"

    profile = assert_ok(
        api.patch("/api/v1/users/me/avatar", {"upload": presigned["id"]}, format="json")
    )

    assert status_of(presigned["id"]) == "completed"
    assert profile["avatarUrl"] == presigned["publicUrl"]
    assert profile["avatarUpload"]["id"] == presigned["id"]
    assert profile["avatarUpload"]["status"] == "completed"
    assert profile["username"] == user.username
    me = assert_ok(api.get("/api/v1/users/me"))
    assert without_field_values(me) == without_field_values(profile)
    served = api.get(me["avatarUrl"])
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == png


def test_avatar_by_key_then_by_avatar_url_releases_each_previous_one(
    api: APIClient, user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    first, second, third = (make_upload(user) for _ in range(3))

    assert_ok(api.patch("/api/v1/users/me/avatar", {"upload": str(first.pk)}, format="json"))
    with django_capture_on_commit_callbacks(execute=True):
        profile = assert_ok(
            api.patch("/api/v1/users/me/avatar", {"key": second.key}, format="json")
        )
    assert profile["avatarUpload"]["id"] == str(second.pk)
    assert status_of(first.pk) == "deleted" and not stored(first.key)

    url = absolute_public_url(third)
    with django_capture_on_commit_callbacks(execute=True):
        profile = assert_ok(api.patch("/api/v1/users/me/avatar", {"avatarUrl": url}, format="json"))
    assert profile["avatarUrl"] == url
    assert status_of(second.pk) == "deleted" and not stored(second.key)
    assert status_of(third.pk) == "completed" and stored(third.key)


def test_avatar_url_behind_a_cdn_is_accepted_as_issued(
    api: APIClient, user: Any, settings: Any
) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "PUBLIC_BASE_URL": "https://cdn.example.com/files/"}
    upload = make_upload(user)
    url = f"https://cdn.example.com/files/{upload.key}"

    profile = assert_ok(api.patch("/api/v1/users/me/avatar", {"avatarUrl": url}, format="json"))

    assert profile["avatarUrl"] == url
    assert profile["avatarUpload"]["id"] == str(upload.pk)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(
            lambda url: url.replace("http://testserver", "http://elsewhere.example"),
            id="other-host",
        ),
        pytest.param(lambda url: url.replace("http://", "https://"), id="other-scheme"),
        pytest.param(lambda url: url + "?v=1", id="query"),
        pytest.param(lambda url: url.replace("http://testserver", ""), id="relative"),
        pytest.param(lambda url: url.replace("/uploads/files/", "/elsewhere/"), id="other-path"),
        pytest.param(lambda url: url.rsplit(".", 1)[0] + ".jpg", id="other-extension"),
        pytest.param(lambda url: url.rsplit("/", 1)[0] + "/", id="no-name"),
        pytest.param(lambda url: "not a url", id="garbage"),
    ],
)
def test_avatar_url_must_be_exactly_the_issued_public_url(
    api: APIClient, user: Any, mangle: Callable[[str], str]
) -> None:
    current, candidate = make_upload(user), make_upload(user)
    assert_ok(api.patch("/api/v1/users/me/avatar", {"upload": str(current.pk)}, format="json"))

    response = api.patch(
        "/api/v1/users/me/avatar",
        {"avatarUrl": mangle(absolute_public_url(candidate))},
        format="json",
    )

    assert_error(response, 404, "upload.not_found")
    user.refresh_from_db()
    assert user.avatar_id == current.pk
    assert stored(current.key) and stored(candidate.key)


def test_avatar_must_be_of_the_avatar_type_and_a_refused_one_is_left_as_it_was(
    api: APIClient, user: Any, presigned_put: Callable[..., dict[str, Any]]
) -> None:
    media = presigned_put(type="media")

    assert_error(
        api.patch("/api/v1/users/me/avatar", {"upload": media["id"]}, format="json"),
        409,
        "upload.invalid_state",
    )

    assert status_of(media["id"]) == "pending"  # not completed on the way to a refusal
    assert staged(media["key"]) and not stored(media["key"])
    assert assert_ok(api.get("/api/v1/users/me"))["avatarUrl"] is None


def test_avatar_of_a_pending_upload_without_its_file_is_not_uploaded(
    api: APIClient, user: Any, presign: Callable[..., Any]
) -> None:
    pending = assert_ok(presign(size=100), 201)

    assert_error(
        api.patch("/api/v1/users/me/avatar", {"upload": pending["id"]}, format="json"),
        409,
        "upload.not_uploaded",
    )

    assert status_of(pending["id"]) == "pending"
    user.refresh_from_db()
    assert user.avatar_id is None


def test_avatar_of_an_expired_pending_upload_is_expired(api: APIClient, user: Any) -> None:
    pending = make_upload(user, complete=False, put=False)
    Upload.objects.filter(pk=pending.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    assert_error(
        api.patch("/api/v1/users/me/avatar", {"upload": str(pending.pk)}, format="json"),
        410,
        "upload.expired",
    )

    assert status_of(pending.pk) == "expired"
    user.refresh_from_db()
    assert user.avatar_id is None


def test_avatar_whose_bytes_lie_is_rejected_and_the_old_avatar_stays(
    api: APIClient, user: Any, presign: Callable[..., Any], put: Callable[..., Any]
) -> None:
    current = make_upload(user)
    assert_ok(api.patch("/api/v1/users/me/avatar", {"upload": str(current.pk)}, format="json"))
    lie = b"GIF89a" + b"\x00" * 40  # declared as a PNG
    presigned = assert_ok(presign(size=len(lie)), 201)
    assert put(presigned, lie).status_code == 200

    error = assert_error(
        api.patch("/api/v1/users/me/avatar", {"upload": presigned["id"]}, format="json"),
        422,
        "upload.verification_failed",
    )

    assert error["details"]
    assert status_of(presigned["id"]) == "rejected" and not stored(presigned["key"])
    user.refresh_from_db()
    assert user.avatar_id == current.pk and stored(current.key)


def test_a_rejected_upload_cannot_become_the_avatar(api: APIClient, user: Any) -> None:
    upload = make_upload(user)
    Upload.objects.filter(pk=upload.pk).update(status="rejected")

    assert_error(
        api.patch("/api/v1/users/me/avatar", {"upload": str(upload.pk)}, format="json"),
        409,
        "upload.invalid_state",
    )

    user.refresh_from_db()
    assert user.avatar_id is None


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="empty"),
        pytest.param({"upload": "{id}", "key": "{key}"}, id="two-identifiers"),
        pytest.param({"upload": "{id}", "title": "me"}, id="unknown-field"),
        pytest.param({"upload": 5}, id="not-a-string"),
        pytest.param({"upload": None}, id="null"),
    ],
)
def test_avatar_body_needs_exactly_one_identifier(
    api: APIClient, user: Any, body: dict[str, Any]
) -> None:
    upload = make_upload(user)
    body = {
        k: v.format(id=upload.pk, key=upload.key) if isinstance(v, str) else v
        for k, v in body.items()
    }

    assert_error(
        api.patch("/api/v1/users/me/avatar", body, format="json"), 400, "validation.failed"
    )

    user.refresh_from_db()
    assert user.avatar_id is None


def test_delete_avatar_releases_its_upload_and_is_idempotent(
    api: APIClient, user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    upload = make_upload(user)
    assert_ok(api.patch("/api/v1/users/me/avatar", {"upload": str(upload.pk)}, format="json"))

    with django_capture_on_commit_callbacks(execute=True):
        profile = assert_ok(api.delete("/api/v1/users/me/avatar"))

    assert profile["avatarUrl"] is None and profile["avatarUpload"] is None
    assert status_of(upload.pk) == "deleted" and not stored(upload.key)
    assert assert_ok(api.get("/api/v1/users/me"))["avatarUrl"] is None
    assert assert_ok(api.delete("/api/v1/users/me/avatar")) == profile


def test_setting_the_same_avatar_again_keeps_it(api: APIClient, user: Any) -> None:
    upload = make_upload(user)
    for _ in range(2):
        assert_ok(api.patch("/api/v1/users/me/avatar", {"upload": str(upload.pk)}, format="json"))

    assert status_of(upload.pk) == "completed" and stored(upload.key)
    user.refresh_from_db()
    assert user.avatar_id == upload.pk


def test_a_deduplicated_presign_of_the_current_avatar_links_the_same_upload(
    api: APIClient,
    user: Any,
    presign: Callable[..., Any],
    presigned_put: Callable[..., dict[str, Any]],
) -> None:
    png = make_png(6, 6)
    first = presigned_put(png, sha256=sha256_b64(png))
    assert_ok(api.patch("/api/v1/users/me/avatar", {"upload": first["id"]}, format="json"))

    again = assert_ok(presign(size=len(png), sha256=sha256_b64(png)), 200)
    assert again["deduplicated"] is True and again["id"] == first["id"]
    assert_ok(api.patch("/api/v1/users/me/avatar", {"upload": again["id"]}, format="json"))

    assert status_of(first["id"]) == "completed" and stored(first["key"])


def test_an_avatar_upload_cannot_be_deleted_while_it_is_the_avatar(
    api: APIClient, user: Any
) -> None:
    upload = make_upload(user)
    assert_ok(api.patch("/api/v1/users/me/avatar", {"upload": str(upload.pk)}, format="json"))

    assert_error(api.delete(f"/api/v1/uploads/{upload.pk}"), 409, "upload.invalid_state")

    assert status_of(upload.pk) == "completed" and stored(upload.key)
    assert assert_ok(api.get("/api/v1/users/me"))["avatarUpload"]["id"] == str(upload.pk)


def test_an_avatar_whose_upload_was_rejected_later_is_not_shown(api: APIClient, user: Any) -> None:
    upload = make_upload(user)
    assert_ok(api.patch("/api/v1/users/me/avatar", {"upload": str(upload.pk)}, format="json"))
    Upload.objects.filter(pk=upload.pk).update(status="rejected")  # as the admin's re-verify does

    me = assert_ok(api.get("/api/v1/users/me"))

    assert me["avatarUrl"] is None and me["avatarUpload"] is None


def test_another_users_upload_cannot_be_the_avatar_by_any_identifier(
    api: APIClient, user: Any, other_user: Any
) -> None:
    theirs = make_upload(other_user)
    missing_id = str(uuid.uuid4())
    missing = {
        "upload": missing_id,
        "key": f"avatars/{other_user.pk}/{missing_id}.png",
        "avatarUrl": f"http://testserver/uploads/files/avatars/{other_user.pk}/{missing_id}.png",
    }

    for field, value in {
        "upload": str(theirs.pk),
        "key": theirs.key,
        "avatarUrl": absolute_public_url(theirs),
    }.items():
        error = assert_error(
            api.patch("/api/v1/users/me/avatar", {field: value}, format="json"),
            404,
            "upload.not_found",
        )
        error_missing = assert_error(
            api.patch("/api/v1/users/me/avatar", {field: missing[field]}, format="json"),
            404,
            "upload.not_found",
        )
        assert without_correlation(error) == without_correlation(error_missing), field

    user.refresh_from_db()
    assert user.avatar_id is None
    assert status_of(theirs.pk) == "completed" and stored(theirs.key)


# --- media -----------------------------------------------------------------------------


def test_media_create_list_get_rename_delete(
    api: APIClient,
    user: Any,
    presigned_put: Callable[..., dict[str, Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    presigned = presigned_put(MP4, type="media", contentType="video/mp4", fileName="clip.mp4")
    assert_ok(api.post(f"/api/v1/uploads/{presigned['id']}/complete"))

    item = assert_ok(
        api.post("/api/v1/media", {"upload": presigned["id"], "title": "Holiday"}, format="json"),
        201,
    )
    assert item["title"] == "Holiday"
    assert item["upload"]["id"] == presigned["id"] and item["upload"]["status"] == "completed"
    assert item["upload"]["publicUrl"] == presigned["publicUrl"]
    uuid.UUID(item["id"])

    listed = api.get("/api/v1/media")
    assert without_field_values(assert_ok(listed)) == [without_field_values(item)]
    assert listed.json()["meta"]["pagination"]["total"] == 1
    again = assert_ok(api.get(f"/api/v1/media/{item['id']}"))
    assert without_field_values(again) == without_field_values(item)

    renamed = assert_ok(
        api.patch(f"/api/v1/media/{item['id']}", {"title": "Summer"}, format="json")
    )
    assert renamed["title"] == "Summer"
    assert assert_ok(api.get(f"/api/v1/media/{item['id']}"))["title"] == "Summer"

    with django_capture_on_commit_callbacks(execute=True):
        deleted = assert_ok(api.delete(f"/api/v1/media/{item['id']}"))
    assert deleted["id"] == item["id"] and deleted["upload"]["status"] == "deleted"
    assert not MediaItem.objects.exists()
    assert status_of(presigned["id"]) == "deleted" and not stored(presigned["key"])
    assert_error(api.get(f"/api/v1/media/{item['id']}"), 404, "media.not_found")
    assert assert_ok(api.get("/api/v1/media")) == []


def test_media_create_completes_a_pending_upload_and_titles_it_by_its_file_name(
    api: APIClient, presigned_put: Callable[..., dict[str, Any]]
) -> None:
    presigned = presigned_put(type="media", fileName="sunset.png")

    item = assert_ok(api.post("/api/v1/media", {"upload": presigned["id"]}, format="json"), 201)

    assert item["title"] == "sunset.png"
    assert item["upload"]["status"] == "completed"
    assert status_of(presigned["id"]) == "completed"


def test_media_takes_media_uploads_and_the_types_the_project_adds(
    api: APIClient, user: Any, settings: Any
) -> None:
    avatar, document = make_upload(user), make_upload(user, "document", PDF, "application/pdf")

    for upload in (avatar, document):
        error = assert_error(
            api.post("/api/v1/media", {"upload": str(upload.pk)}, format="json"),
            409,
            "upload.invalid_state",
        )
        assert error["i18nVars"]["expected"] == ["media"]
    assert not MediaItem.objects.exists()

    settings.ACCOUNTS_MEDIA_TYPES = ["media", "avatar"]
    assert_ok(api.post("/api/v1/media", {"upload": str(avatar.pk)}, format="json"), 201)
    assert_error(
        api.post("/api/v1/media", {"upload": str(document.pk)}, format="json"),
        409,
        "upload.invalid_state",
    )


def test_a_linked_upload_cannot_be_deleted_until_its_last_item_goes(
    api: APIClient, user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    upload = make_upload(user, "media")
    first = assert_ok(
        api.post("/api/v1/media", {"upload": str(upload.pk), "title": "a"}, format="json"), 201
    )
    second = assert_ok(
        api.post("/api/v1/media", {"upload": str(upload.pk), "title": "b"}, format="json"), 201
    )

    assert_error(api.delete(f"/api/v1/uploads/{upload.pk}"), 409, "upload.invalid_state")
    assert status_of(upload.pk) == "completed" and stored(upload.key)

    with django_capture_on_commit_callbacks(execute=True):
        assert_ok(api.delete(f"/api/v1/media/{first['id']}"))
    assert status_of(upload.pk) == "completed" and stored(upload.key)
    assert_error(api.delete(f"/api/v1/uploads/{upload.pk}"), 409, "upload.invalid_state")

    with django_capture_on_commit_callbacks(execute=True):
        assert_ok(api.delete(f"/api/v1/media/{second['id']}"))
    assert status_of(upload.pk) == "deleted" and not stored(upload.key)


def test_an_upload_both_avatar_and_media_goes_only_with_its_last_use(
    api: APIClient, user: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.ACCOUNTS_MEDIA_TYPES = ["media", "avatar"]
    upload = make_upload(user)
    assert_ok(api.patch("/api/v1/users/me/avatar", {"upload": str(upload.pk)}, format="json"))
    item = assert_ok(api.post("/api/v1/media", {"upload": str(upload.pk)}, format="json"), 201)

    with django_capture_on_commit_callbacks(execute=True):
        assert_ok(
            api.patch(
                "/api/v1/users/me/avatar", {"upload": str(make_upload(user).pk)}, format="json"
            )
        )
    assert status_of(upload.pk) == "completed" and stored(upload.key)

    with django_capture_on_commit_callbacks(execute=True):
        assert_ok(api.delete(f"/api/v1/media/{item['id']}"))
    assert status_of(upload.pk) == "deleted" and not stored(upload.key)


def test_media_create_refuses_bad_bodies(api: APIClient, user: Any) -> None:
    upload = make_upload(user, "media")
    for body in (
        {},
        {"title": "x"},
        {"upload": str(upload.pk), "extra": 1},
        {"upload": str(upload.pk), "title": 5},
        {"upload": str(upload.pk), "title": "x" * 201},
    ):
        assert_error(api.post("/api/v1/media", body, format="json"), 400, "validation.failed")
    assert_error(
        api.post("/api/v1/media", {"upload": "not-a-uuid"}, format="json"), 404, "upload.not_found"
    )
    assert_error(
        api.post("/api/v1/media", {"upload": str(uuid.uuid4())}, format="json"),
        404,
        "upload.not_found",
    )
    assert not MediaItem.objects.exists()


def test_media_rename_refuses_bad_bodies_and_keeps_the_title(api: APIClient, user: Any) -> None:
    item = assert_ok(
        api.post(
            "/api/v1/media",
            {"upload": str(make_upload(user, "media").pk), "title": "kept"},
            format="json",
        ),
        201,
    )
    for body in ({}, {"title": None}, {"title": "x", "upload": str(uuid.uuid4())}):
        assert_error(
            api.patch(f"/api/v1/media/{item['id']}", body, format="json"), 400, "validation.failed"
        )
    assert MediaItem.objects.get().title == "kept"


@pytest.mark.parametrize("item_id", ["not-a-uuid", str(uuid.uuid4()), "0"])
def test_a_missing_media_item_is_media_not_found(api: APIClient, item_id: str) -> None:
    for method in ("get", "patch", "delete"):
        assert_error(
            getattr(api, method)(f"/api/v1/media/{item_id}", {"title": "x"}, format="json"),
            404,
            "media.not_found",
        )


def test_media_list_is_the_callers_newest_first_and_paginated(
    api: APIClient, user: Any, other_user: Any
) -> None:
    ids = [
        assert_ok(
            api.post(
                "/api/v1/media",
                {"upload": str(make_upload(user, "media").pk), "title": str(n)},
                format="json",
            ),
            201,
        )["id"]
        for n in range(3)
    ]
    assert_ok(
        client_for(other_user).post(
            "/api/v1/media", {"upload": str(make_upload(other_user, "media").pk)}, format="json"
        ),
        201,
    )

    first = api.get("/api/v1/media?pageSize=2")
    assert [i["id"] for i in assert_ok(first)] == ids[::-1][:2]
    assert first.json()["meta"]["pagination"]["total"] == 3
    assert [i["id"] for i in assert_ok(api.get("/api/v1/media?pageSize=2&page=2"))] == ids[:1]


def test_media_list_costs_the_same_queries_for_many_items(
    api: APIClient, user: Any, django_assert_max_num_queries: Any
) -> None:
    for _ in range(5):
        MediaItem.objects.create(owner=user, upload=make_upload(user, "media"), title="t")
    # the user, the count, the page (with uploads and types), the types' variant declarations
    # and the uploads' variants
    with django_assert_max_num_queries(6):
        assert len(assert_ok(api.get("/api/v1/media"))) == 5


def test_deleting_the_user_deletes_their_media_items_and_uploads(api: APIClient, user: Any) -> None:
    upload = make_upload(user, "media")
    assert_ok(api.post("/api/v1/media", {"upload": str(upload.pk)}, format="json"), 201)
    assert_ok(
        api.patch("/api/v1/users/me/avatar", {"upload": str(make_upload(user).pk)}, format="json")
    )

    user.delete()

    assert not MediaItem.objects.exists() and not Upload.objects.exists()


# --- deduplication ---------------------------------------------------------------------


def test_presign_of_a_file_the_caller_completed_before_answers_200_with_that_upload(
    api: APIClient, presign: Callable[..., Any], presigned_put: Callable[..., dict[str, Any]]
) -> None:
    png = make_png(7, 7)
    first = presigned_put(png, sha256=sha256_b64(png))
    done = assert_ok(api.post(f"/api/v1/uploads/{first['id']}/complete"))

    again = assert_ok(presign(size=len(png), sha256=sha256_b64(png), fileName="again.png"), 200)

    assert again["deduplicated"] is True
    assert again["id"] == first["id"] and again["status"] == "completed"
    assert "uploadUrl" not in again
    # Presign answers leave variants to GET /uploads/{id}: no query on presign's path.
    assert "variants" not in again
    assert {k: again[k] for k in done if k != "variants"} == {
        k: v for k, v in done.items() if k != "variants"
    }
    assert Upload.objects.count() == 1


def test_deduplication_is_per_caller_type_and_completed_upload(
    api: APIClient,
    presign: Callable[..., Any],
    presigned_put: Callable[..., dict[str, Any]],
    other_user: Any,
) -> None:
    png = make_png(8, 8)
    digest = sha256_b64(png)
    pending = presigned_put(png, sha256=digest)

    # Not completed yet: a new upload.
    assert assert_ok(presign(size=len(png), sha256=digest), 201)["id"] != pending["id"]
    assert_ok(api.post(f"/api/v1/uploads/{pending['id']}/complete"))
    # Another type, another user: new uploads.
    assert "deduplicated" not in assert_ok(presign(type="media", size=len(png), sha256=digest), 201)
    theirs = client_for(other_user).post(
        "/api/v1/uploads/presign",
        {"type": "avatar", "contentType": "image/png", "size": len(png), "sha256": digest},
        format="json",
    )
    assert assert_ok(theirs, 201)["id"] != pending["id"]
    # Without a sha256 there is nothing to match.
    assert assert_ok(presign(size=len(png)), 201)["id"] != pending["id"]


def test_deduplication_can_be_switched_off_per_type(
    api: APIClient,
    presign: Callable[..., Any],
    presigned_put: Callable[..., dict[str, Any]],
    edit_policy: Callable[..., UploadPolicy],
) -> None:
    png = make_png(9, 9)
    first = presigned_put(png, sha256=sha256_b64(png))
    assert_ok(api.post(f"/api/v1/uploads/{first['id']}/complete"))

    edit_policy("avatar", deduplicate=False)
    answer = assert_ok(presign(size=len(png), sha256=sha256_b64(png)), 201)

    assert answer["id"] != first["id"] and "deduplicated" not in answer
    assert answer["status"] == "pending" and answer["uploadUrl"]


def test_openapi_schema_lists_the_users_and_media_paths_and_api_keys(db: Any) -> None:
    import yaml

    schema = yaml.safe_load(APIClient().get("/api/v1/schema").content)
    assert {
        "/api/v1/users/me",
        "/api/v1/users/me/avatar",
        "/api/v1/media",
        "/api/v1/media/{item_id}",
    } <= set(schema["paths"])
    assert set(schema["paths"]["/api/v1/users/me/avatar"]) == {"patch", "delete"}
    assert set(schema["paths"]["/api/v1/media/{item_id}"]) == {"get", "patch", "delete"}
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert {"apiKey": []} in schema["paths"]["/api/v1/media"]["get"]["security"]
