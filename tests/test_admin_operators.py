"""The admin as operators use it: uploads listed with name, type, a small preview and why one
was refused; an upload's page with sizes in human units, a preview or download link, what
uses it, and buttons to re-verify and delete; thumbnails made from the image, not the image;
API keys picked by search and filtered by state; the storage check in words for a web page
and the public-read finding against SeaweedFS; operator-declared content types end to end."""

from __future__ import annotations

import html
import io
import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.files.storage import storages
from django.test import Client
from django.utils import timezone
from PIL import Image

from accounts.models import ApiKey, MediaItem
from tests.backends.s3 import S3Backend
from tests.conftest import make_png
from tests.factories import UserFactory
from tests.helpers import avatar_row, complete, make_upload, status_of, stored, use_storage
from uploads.models import UploadPolicy
from uploads.services.storage_check import check_storage, describe

UPLOADS_URL = "/admin/uploads/upload/"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
DOCX_TYPE = {"extension": "docx", "magic": ["504b0304"]}


def text_of(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return html.unescape(response.content.decode())


def big_photo() -> bytes:
    """A 2400 x 1600 photo-like JPEG (noise does not compress), some hundreds of KB."""
    image = Image.effect_noise((2400, 1600), 80).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


def test_uploads_list_shows_name_type_preview_and_rejection_reason(
    admin_client: Client, user: Any
) -> None:
    photo = make_upload(user, "media", file_name="holiday.png")  # media: no thumb variant
    refused = avatar_row(user, "rejected", rejection_reason="The file is not a PNG image.")

    page = text_of(admin_client.get(UPLOADS_URL))

    assert "holiday.png" in page and "image/png" in page
    assert f'src="/admin/uploads/upload/{photo.pk}/thumbnail/"' in page
    assert f"/admin/uploads/upload/{refused.pk}/thumbnail/" not in page  # nothing to show
    assert "The file is not a PNG image." in page


def test_thumbnail_is_small_made_from_the_image_and_cached(
    admin_client: Client, user: Any, edit_policy: Any
) -> None:
    edit_policy("media", max_size=8 * 1024 * 1024)
    photo = big_photo()
    upload = make_upload(user, "media", photo, "image/jpeg", file_name="big.jpg")
    url = f"{UPLOADS_URL}{upload.pk}/thumbnail/"

    answer = admin_client.get(url)

    assert answer.status_code == 200 and answer["Content-Type"] == "image/webp"
    with Image.open(io.BytesIO(answer.content)) as image:
        assert max(image.size) <= 160 and image.size[0] > image.size[1]
    assert len(answer.content) * 20 < len(photo)
    # Made once: it is still served with the original gone from storage.
    storages["default"].delete(upload.key)
    assert admin_client.get(url).content == answer.content


def test_thumbnail_is_for_staff_only_and_refused_over_the_types_pixel_cap(
    client: Client, admin_client: Client, user: Any, edit_policy: Any
) -> None:
    upload = make_upload(user, "media", make_png(300, 200), file_name="wide.png")
    url = f"{UPLOADS_URL}{upload.pk}/thumbnail/"

    assert client.get(url).status_code == 302  # to the admin's login page
    client.force_login(user)
    assert client.get(url).status_code == 302  # not staff
    edit_policy("media", max_pixels=1000)
    assert admin_client.get(url).status_code == 404
    pdf = make_upload(user, "document", b"%PDF-1.4\n%%EOF\n", "application/pdf")
    assert admin_client.get(f"{UPLOADS_URL}{pdf.pk}/thumbnail/").status_code == 404


def test_upload_page_shows_sizes_preview_and_what_uses_it(admin_client: Client, user: Any) -> None:
    body = make_png(40, 40, b"x" * 5000)
    avatar = make_upload(user, body=body, file_name="me.png")
    user.avatar = avatar
    user.save()
    item = MediaItem.objects.create(owner=user, upload=make_upload(user, "media"), title="Beach")

    page = text_of(admin_client.get(f"{UPLOADS_URL}{avatar.pk}/change/"))

    assert re.search(r"\d(\.\d)? KB \([\d,]+ bytes\)", page), "sizes in human units"
    # The avatar type declares a thumb variant: not made here, so no image, nor the original.
    assert "preparing" in page and "/thumbnail/" not in page
    assert not re.search(r'<img src="[^"]*' + re.escape(avatar.key), page)
    assert "Open the image" in page
    assert f'href="/admin/accounts/user/{user.pk}/change/"' in page  # the avatar's user
    assert "Re-verify against storage" in page and "Delete with its file" in page
    media_page = text_of(admin_client.get(f"{UPLOADS_URL}{item.upload_id}/change/"))
    assert f'href="/admin/accounts/mediaitem/{item.pk}/change/"' in media_page


def test_upload_page_of_a_document_offers_a_download(admin_client: Client, user: Any) -> None:
    pdf = make_upload(user, "document", b"%PDF-1.4\n%%EOF\n", "application/pdf")

    page = text_of(admin_client.get(f"{UPLOADS_URL}{pdf.pk}/change/"))

    assert "Download the file" in page and "Nothing: it may be deleted." in page
    assert "/thumbnail/" not in page


def test_reverify_button_rejects_an_upload_whose_file_is_gone(
    admin_client: Client, user: Any
) -> None:
    upload = make_upload(user)
    storages["default"].delete(upload.key)

    page = text_of(admin_client.post(f"{UPLOADS_URL}{upload.pk}/reverify/", follow=True))

    assert status_of(upload) == "rejected"
    assert "Re-verified: 1 rejected." in page
    assert "The file is gone from storage." in page  # the page shows why
    assert admin_client.get(f"{UPLOADS_URL}{upload.pk}/reverify/").status_code == 405


def test_delete_button_deletes_the_file_but_not_one_in_use(admin_client: Client, user: Any) -> None:
    loose = make_upload(user)
    used = make_upload(user)
    user.avatar = used
    user.save()

    page = text_of(admin_client.post(f"{UPLOADS_URL}{loose.pk}/delete-with-file/", follow=True))
    assert status_of(loose) == "deleted" and "Deleted 1 uploads" in page
    page = text_of(admin_client.post(f"{UPLOADS_URL}{used.pk}/delete-with-file/", follow=True))
    assert status_of(used) == "completed" and stored(used.key)
    assert "still in use" in page


def test_staff_without_delete_permission_get_no_delete_button(user: Any) -> None:
    from django.contrib.auth.models import Permission

    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_upload"))
    client = Client()
    client.force_login(staff)
    upload = make_upload(user)

    page = text_of(client.get(f"{UPLOADS_URL}{upload.pk}/change/"))

    assert "Delete with its file" not in page
    assert client.post(f"{UPLOADS_URL}{upload.pk}/delete-with-file/").status_code == 403
    assert status_of(upload) == "completed"


def test_api_key_form_picks_its_user_with_a_search(admin_client: Client, user: Any) -> None:
    page = text_of(admin_client.get("/admin/accounts/apikey/add/"))

    assert 'class="admin-autocomplete' in page
    found = admin_client.get(
        "/admin/autocomplete/",
        {
            "term": user.username,
            "app_label": "accounts",
            "model_name": "apikey",
            "field_name": "user",
        },
    ).json()
    assert [r["text"] for r in found["results"]] == [user.username]


def test_api_keys_filter_by_state(admin_client: Client, user: Any) -> None:
    now = timezone.now()
    ApiKey.objects.create(user=user, name="live", prefix="upk_live", key_hash="a")
    ApiKey.objects.create(user=user, name="gone", prefix="upk_gone", key_hash="b", revoked_at=now)
    ApiKey.objects.create(
        user=user, name="old", prefix="upk_old", key_hash="c", expires_at=now - timedelta(days=1)
    )

    def names(state: str) -> set[str]:
        page = text_of(admin_client.get("/admin/accounts/apikey/", {"state": state}))
        return {n for n in ("live", "gone", "old") if f"upk_{n}" in page}

    assert names("active") == {"live"}
    assert names("revoked") == {"gone"}
    assert names("expired") == {"old"}


def test_admin_storage_check_speaks_to_a_web_page(admin_client: Client) -> None:
    avatar = UploadPolicy.objects.get(name="avatar")

    response = admin_client.post(
        "/admin/uploads/uploadpolicy/",
        {"action": "check_storage", "_selected_action": [avatar.pk]},
        follow=True,
    )

    shown = " ".join(html.unescape(str(m)) for m in response.context["messages"])
    assert "Storage 'default': OK" in shown
    assert "demo page" in shown and "--base-url" not in shown


def test_check_finds_a_public_type_on_a_private_bucket(
    settings: Any, s3_backend: S3Backend, db: Any
) -> None:
    use_storage(settings, s3_backend.storage_config(), "s3")
    settings.UPLOADS = {**settings.UPLOADS, "STORAGES": ["default", "s3"]}
    UploadPolicy.objects.filter(name="avatar").update(storage="s3", is_public=True)
    bucket = s3_backend.storage_config()["OPTIONS"]["bucket_name"]

    def avatar_keys() -> set[str]:
        listing = s3_backend.admin.list_objects_v2(Bucket=bucket, Prefix="avatars/")
        return {item["Key"] for item in listing.get("Contents", [])}

    before = avatar_keys()  # other tests' objects share the bucket
    report = check_storage("s3")

    assert not report.ok
    step = next(s for s in report.steps if s.name == "public-read")
    assert not step.ok and "not readable anonymously (403" in step.detail
    assert "bucket policy" in step.detail and "s3:GetObject" in step.detail
    assert "avatars/" in step.detail
    assert any("public-read" in line for line in describe(report))
    assert avatar_keys() == before  # the check's test object is gone


# --- content types the operator declares -------------------------------------------------


def docx_type(settings: Any, edit_policy: Any) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "EXTRA_CONTENT_TYPES": {DOCX: DOCX_TYPE}}
    edit_policy("document", allowed_content_types=["application/pdf", DOCX])


def test_a_declared_type_is_uploaded_end_to_end(
    settings: Any, edit_policy: Any, api: Any, presign: Any, put: Any
) -> None:
    docx_type(settings, edit_policy)
    body = b"PK\x03\x04" + b"\x14\x00\x06\x00" + b"word/document.xml" * 40

    answer = presign(type="document", contentType=DOCX, size=len(body), fileName="cv.docx")
    assert answer.status_code == 201, answer.content
    data = answer.json()["data"]
    assert put(data, body).status_code == 200
    done = complete(api, data["id"])

    assert done.status_code == 200, done.content
    assert done.json()["data"]["status"] == "completed"
    assert data["key"].endswith(".docx")


def test_a_declared_type_refuses_other_bytes(
    settings: Any, edit_policy: Any, api: Any, presign: Any, put: Any
) -> None:
    docx_type(settings, edit_policy)
    body = b"%PDF-1.4\n%%EOF\n"
    data = presign(type="document", contentType=DOCX, size=len(body)).json()["data"]
    put(data, body)

    answer = complete(api, data["id"])

    assert answer.status_code == 422, answer.content
    assert status_of(data["id"]) == "rejected"


@pytest.mark.parametrize("mime", ["text/html", "image/svg+xml", "application/javascript"])
def test_a_dangerous_type_is_refused_even_when_declared(
    settings: Any, admin_client: Client, mime: str
) -> None:
    settings.UPLOADS = {
        **settings.UPLOADS,
        "EXTRA_CONTENT_TYPES": {mime: {"extension": "bin", "magic": ["3c3f"]}},
    }

    errors = [e for e in run_checks() if e.id == "uploads.E001"]
    assert errors and "can never be allowed" in errors[0].msg
    from tests.test_admin import refused

    assert any(
        "can never be allowed" in e
        for e in refused(admin_client, "allowed_content_types", allowed_content_types=mime)
    )


def test_a_declared_type_must_say_how_to_recognise_it(settings: Any) -> None:
    settings.UPLOADS = {
        **settings.UPLOADS,
        "EXTRA_CONTENT_TYPES": {DOCX: {"extension": "docx", "magic": ["zz"]}},
    }

    errors = [e for e in run_checks() if e.id == "uploads.E001"]
    assert errors and "hex strings only" in errors[0].msg
