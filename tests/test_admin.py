"""The admin: policies are edited safely, uploads are inspected and acted on, never edited."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.test import Client

from tests.conftest import make_png, sha256_b64
from tests.factories import UserFactory
from tests.helpers import avatar_row, stored
from uploads.models import Upload, UploadPolicy

ADD_URL = "/admin/uploads/uploadpolicy/add/"
UPLOADS_URL = "/admin/uploads/upload/"
MB = 1024 * 1024


#: The management form of the type's variants inline (uploads.admin.VariantSpecInline), with
#: no rows: a post that leaves the type's variants as they are.
VARIANTS_INLINE = {
    "variant_specs-TOTAL_FORMS": "0",
    "variant_specs-INITIAL_FORMS": "0",
    "variant_specs-MIN_NUM_FORMS": "0",
    "variant_specs-MAX_NUM_FORMS": "1000",
}


def policy_form(**overrides: str) -> dict[str, str]:
    """What the add form posts for a sound policy; booleans as checked boxes."""
    data = {
        "name": "report",
        "label": "Report",
        "is_active": "on",
        "allowed_content_types": "application/pdf\nimage/png",
        "max_size": "5 MB",
        "max_pixels": "40000000",
        "require_size": "on",
        "deduplicate": "on",
        "storage": "default",
        "key_prefix": "reports",
        "method": "PUT",
        "expires_in": "300",
        # The variants inline, left as it is.
        **VARIANTS_INLINE,
    }
    data.update(overrides)
    return data


def refused(admin_client: Client, field: str, **overrides: str) -> list[str]:
    """Post the add form; assert it was refused on ``field`` with no row made, and that the
    error is shown on the page. Returns the field's errors."""
    before = UploadPolicy.objects.count()
    response = admin_client.post(ADD_URL, policy_form(**overrides))
    assert response.status_code == 200, "the form was accepted"
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    page = html.unescape(response.content.decode())
    for message in errors[field]:
        assert message in page
    assert UploadPolicy.objects.count() == before
    assert not UploadPolicy.objects.filter(name="report").exists()
    return list(errors[field])


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("image/*", "wildcards"),
        ("image", "not a valid MIME type"),
        ("text/html", "can never be allowed"),
        ("application/xhtml+xml", "can never be allowed"),
        ("image/svg+xml", "can never be allowed"),
        ("application/javascript", "can never be allowed"),
        ("application/octet-stream", "can never be allowed"),
        ("multipart/related", "can never be allowed"),
        ("application/x-msdownload", "can never be allowed"),
        ("application/atom+xml", "can never be allowed"),
        ("application/x-foo", "cannot be recognised"),
        ("image/png; charset=utf-8", "not a valid MIME type"),
        ("image/png\nimage/png", "listed twice"),
        ("", "at least one"),
    ],
)
def test_policy_form_refuses_unsafe_content_types(
    admin_client: Client, value: str, says: str
) -> None:
    errors = refused(admin_client, "allowed_content_types", allowed_content_types=value)
    assert any(says in e for e in errors), errors


def test_policy_form_refuses_a_bad_type_among_good_ones(admin_client: Client) -> None:
    errors = refused(
        admin_client, "allowed_content_types", allowed_content_types="image/png, text/html"
    )
    assert any("text/html" in e for e in errors)


def test_policy_form_refuses_a_size_over_the_ceiling(admin_client: Client, settings: Any) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "MAX_SIZE_CEILING": 10 * MB}

    errors = refused(admin_client, "max_size", max_size="11 MB")

    assert any("10 MB" in e and "MAX_SIZE_CEILING" in e for e in errors), errors
    assert admin_client.post(ADD_URL, policy_form(max_size="10 MB")).status_code == 302


@pytest.mark.parametrize("value", ["6 GB", "lots", "0", "1,5 MB"])
def test_policy_form_refuses_bad_sizes(admin_client: Client, value: str) -> None:
    refused(admin_client, "max_size", max_size=value)


def test_policy_form_refuses_an_expiry_over_the_ceiling(
    admin_client: Client, settings: Any
) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "MAX_EXPIRY_CEILING": 3600}

    errors = refused(admin_client, "expires_in", expires_in="3601")

    assert any("3600" in e for e in errors), errors


def test_policy_form_refuses_an_expiry_over_seven_days(admin_client: Client) -> None:
    errors = refused(admin_client, "expires_in", expires_in=str(7 * 24 * 3600 + 1))

    assert any("7 days" in e for e in errors), errors
    assert admin_client.post(ADD_URL, policy_form(expires_in=str(7 * 24 * 3600))).status_code == 302


def test_policy_form_refuses_an_unknown_storage(admin_client: Client) -> None:
    refused(admin_client, "storage", storage="nope")


def test_policy_form_refuses_a_listed_storage_missing_from_storages(
    admin_client: Client, settings: Any
) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "STORAGES": ["default", "archive"]}

    errors = refused(admin_client, "storage", storage="archive")

    assert any("archive" in e and "STORAGES" in e for e in errors), errors


@pytest.mark.parametrize("prefix", ["../x", "/a", "A B", "a/", "a//b", ""])
def test_policy_form_refuses_a_bad_key_prefix(admin_client: Client, prefix: str) -> None:
    refused(admin_client, "key_prefix", key_prefix=prefix)


@pytest.mark.parametrize(
    "prefix", ["staging", "staging/avatars", " Staging/avatars", "/staging/", "STAGING"]
)
def test_policy_form_refuses_a_key_prefix_under_the_staging_prefix(
    admin_client: Client, prefix: str
) -> None:
    errors = refused(admin_client, "key_prefix", key_prefix=prefix)

    assert any("inside the staging prefix 'staging'" in e for e in errors), errors


def test_policy_change_form_refuses_moving_a_type_under_the_staging_prefix(
    admin_client: Client, settings: Any
) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "STAGING_PREFIX": "incoming"}
    policy = UploadPolicy.objects.get(name="avatar")
    form = policy_form(name="avatar", key_prefix="incoming/avatars")

    response = admin_client.post(f"/admin/uploads/uploadpolicy/{policy.pk}/change/", form)

    assert response.status_code == 200, "the form was accepted"
    errors = response.context["adminform"].form.errors["key_prefix"]
    assert any("inside the staging prefix 'incoming'" in e for e in errors), errors
    assert UploadPolicy.objects.get(pk=policy.pk).key_prefix == policy.key_prefix
    # "staging" is an ordinary prefix once the staging prefix is another one.
    assert admin_client.post(ADD_URL, policy_form(key_prefix="staging")).status_code == 302


def test_policy_form_accepts_human_sizes_and_shows_them_back(admin_client: Client) -> None:
    response = admin_client.post(ADD_URL, policy_form(max_size="5 MB"))

    assert response.status_code == 302, response.context["adminform"].form.errors
    policy = UploadPolicy.objects.get(name="report")
    assert policy.max_size == 5 * MB
    assert policy.allowed_content_types == ["application/pdf", "image/png"]
    change = admin_client.get(f"/admin/uploads/uploadpolicy/{policy.pk}/change/")
    assert change.status_code == 200
    assert 'value="5 MB"' in change.content.decode()
    assert "application/pdf\nimage/png" in change.content.decode()
    # Saving the change form unchanged keeps the size.
    admin_client.post(
        f"/admin/uploads/uploadpolicy/{policy.pk}/change/", policy_form(label="Reports")
    )
    policy.refresh_from_db()
    assert (policy.label, policy.max_size) == ("Reports", 5 * MB)


def test_policy_changelist_shows_sizes(admin_client: Client) -> None:
    response = admin_client.get("/admin/uploads/uploadpolicy/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "avatar" in page and "5 MB" in page and "50 MB" in page


# uploads -------------------------------------------------------------------------------


def run_action(admin_client: Client, action: str, uploads: list[Upload]) -> Any:
    return admin_client.post(
        UPLOADS_URL,
        {"action": action, "_selected_action": [str(u.pk) for u in uploads], "index": "0"},
        follow=True,
    )


def test_uploads_changelist_renders(admin_client: Client, user: Any, png: bytes) -> None:
    avatar_row(user, "completed", png)
    avatar_row(user)

    response = admin_client.get(UPLOADS_URL)

    assert response.status_code == 200
    assert response.context["cl"].result_count == 2


def test_uploads_admin_is_read_only(admin_client: Client, user: Any, png: bytes) -> None:
    upload = avatar_row(user, "completed", png)

    assert admin_client.get(f"{UPLOADS_URL}add/").status_code == 403
    change = admin_client.get(f"{UPLOADS_URL}{upload.pk}/change/")
    assert change.status_code == 200
    assert not change.context["has_change_permission"]
    admin_client.post(f"{UPLOADS_URL}{upload.pk}/change/", {"status": "pending", "key": "x"})
    upload.refresh_from_db()
    assert (upload.status, upload.key) == ("completed", f"avatars/{user.pk}/{upload.pk}.png")
    listing = admin_client.get(UPLOADS_URL)
    assert "delete_selected" not in listing.content.decode()


def test_delete_with_objects_marks_rows_deleted_and_removes_files(
    admin_client: Client, user: Any, png: bytes, django_capture_on_commit_callbacks: Any
) -> None:
    doomed = [
        avatar_row(user, "completed", png),
        avatar_row(user, "pending", png),
        avatar_row(user),
    ]
    kept = avatar_row(user, "completed", png)

    with django_capture_on_commit_callbacks(execute=True):  # files go after commit
        response = run_action(admin_client, "delete_with_objects", doomed)

    assert response.status_code == 200
    assert "Deleted 3 uploads" in response.content.decode()
    # The rows stay, marked deleted: the sweep retries a file whose removal failed.
    assert list(Upload.objects.exclude(status="deleted")) == [kept]
    for upload in doomed:
        assert not storages["default"].exists(upload.key)
    assert storages["default"].exists(kept.key)


def test_reverify_completes_a_sound_pending_upload(
    admin_client: Client, user: Any, png: bytes
) -> None:
    upload = avatar_row(user, "pending", png)

    response = run_action(admin_client, "reverify", [upload])

    assert "1 completed" in response.content.decode()
    upload.refresh_from_db()
    assert upload.status == "completed"
    assert upload.verified_sha256 == sha256_b64(png)
    assert storages["default"].exists(upload.key)


def test_reverify_rejects_a_completed_upload_whose_file_was_replaced(
    admin_client: Client, user: Any, png: bytes
) -> None:
    upload = avatar_row(user, "completed", png)
    sound = avatar_row(user, "completed", make_png(3, 3))
    other = bytearray(png)  # same size, other bytes
    other[-20] ^= 0xFF
    storages["default"].delete(upload.key)
    storages["default"].save(upload.key, ContentFile(bytes(other)))

    response = run_action(admin_client, "reverify", [upload, sound])

    assert "1 rejected" in response.content.decode()
    upload.refresh_from_db()
    assert upload.status == "rejected"
    assert "changed" in upload.rejection_reason
    assert not storages["default"].exists(upload.key)
    sound.refresh_from_db()
    assert sound.status == "completed" and storages["default"].exists(sound.key)


def test_reverify_rejects_a_completed_upload_whose_file_is_gone(
    admin_client: Client, user: Any, png: bytes
) -> None:
    upload = avatar_row(user, "completed", png)
    storages["default"].delete(upload.key)

    run_action(admin_client, "reverify", [upload])

    upload.refresh_from_db()
    assert upload.status == "rejected" and "gone" in upload.rejection_reason


def staff_with(*codenames: str) -> Client:
    from django.contrib.auth.models import Permission

    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(staff)
    return client


def test_reverify_needs_the_change_permission_and_leaves_the_page_read_only(
    user: Any, png: bytes
) -> None:
    viewer = staff_with("view_upload")
    operator = staff_with("view_upload", "change_upload")
    upload = avatar_row(user, "pending", png)

    page = viewer.get(f"{UPLOADS_URL}{upload.pk}/change/").content.decode()
    listing = viewer.get(UPLOADS_URL).content.decode()
    action = run_action(viewer, "reverify", [upload])
    posted = viewer.post(f"{UPLOADS_URL}{upload.pk}/reverify/")
    fetched = viewer.get(f"{UPLOADS_URL}{upload.pk}/reverify/")

    assert "Re-verify against storage" not in page
    assert 'value="reverify"' not in listing
    assert "Re-verified" not in action.content.decode()
    assert (posted.status_code, fetched.status_code) == (403, 403)
    upload.refresh_from_db()
    assert upload.status == "pending" and upload.completed_at is None

    page_of_operator = operator.get(f"{UPLOADS_URL}{upload.pk}/change/")
    assert "Re-verify against storage" in page_of_operator.content.decode()
    assert not page_of_operator.context["has_change_permission"]  # still nothing editable
    assert "1 completed" in run_action(operator, "reverify", [upload]).content.decode()
    assert Upload.objects.get(pk=upload.pk).status == "completed"


def test_search_by_key_and_owner_username(admin_client: Client, user: Any, png: bytes) -> None:
    other = UserFactory(username="zebra-owner")
    mine = avatar_row(user, "completed", png)
    theirs = [avatar_row(other), avatar_row(other)]

    by_owner = admin_client.get(UPLOADS_URL, {"q": "zebra-owner"})
    by_key = admin_client.get(UPLOADS_URL, {"q": str(mine.pk)[:13]})

    assert by_owner.status_code == 200
    assert {u.pk for u in by_owner.context["cl"].result_list} == {u.pk for u in theirs}
    assert [u.pk for u in by_key.context["cl"].result_list] == [mine.pk]


def test_non_staff_cannot_reach_the_admin(client: Client, user: Any) -> None:
    client.force_login(user)

    response = client.get(ADD_URL)

    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_policy_form_refuses_a_method_the_storage_cannot_sign(admin_client: Client) -> None:
    errors = refused(admin_client, "method", method="POST")

    assert any("cannot sign POST" in e for e in errors), errors


@pytest.mark.django_db
def test_no_delete_that_would_leave_the_file(admin_client: Any, user: Any) -> None:
    """The change page offers no plain delete: it would remove the row and keep the file."""
    upload = avatar_row(user, "completed", make_png(2, 2))
    page = admin_client.get(f"/admin/uploads/upload/{upload.pk}/change/")
    assert page.status_code == 200
    assert f"/admin/uploads/upload/{upload.pk}/delete/" not in page.content.decode()
    assert (
        admin_client.post(f"/admin/uploads/upload/{upload.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert Upload.objects.filter(pk=upload.pk).exists() and stored(upload.key)
