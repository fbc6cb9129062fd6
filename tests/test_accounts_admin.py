"""The admin shows each user's avatar and media, with thumbnails for images; operators set
avatars and add, change and delete media items, and uploads no row holds any more go."""

from __future__ import annotations

import html
import re
from typing import Any

from django.test import Client

from accounts.models import MediaItem
from tests.helpers import MP4, PDF, issued, make_upload, status_of, stored
from uploads import services
from uploads.models import Upload
from uploads.services.attach import field_value
from uploads.services.variants import make_variants

USERS_URL = "/admin/accounts/user/"
MEDIA_URL = "/admin/accounts/mediaitem/"


def thumbnail_url(upload: Any) -> str:
    return f"/admin/uploads/upload/{upload.pk}/thumbnail/"


def image_sources(page: str) -> list[str]:
    """The uploads pictured (the admin's own icons left out)."""
    found = [html.unescape(src) for src in re.findall(r'<img[^>]* src="([^"]+)"', page)]
    return [src for src in found if not src.startswith("/static/")]


def change_user(admin_client: Client, user: Any, avatar: str) -> Any:
    """Save the user's admin page with this avatar input (the widget's signed value)."""
    return admin_client.post(
        f"{USERS_URL}{user.pk}/change/",
        {
            "username": user.username,
            "email": user.email,
            "is_active": "on",
            "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
            "avatar": avatar,
            "media_items-TOTAL_FORMS": "0",
            "media_items-INITIAL_FORMS": "0",
        },
    )


def test_user_page_shows_the_avatar_and_media_with_thumbnails_for_images(
    admin_client: Client, admin_user: Any, user: Any, settings: Any
) -> None:
    settings.ACCOUNTS_MEDIA_TYPES = ["media", "document"]
    avatar = make_upload(user)
    user.avatar = avatar
    user.save()
    picture = make_upload(user, "media")
    video = make_upload(user, "media", MP4, "video/mp4", file_name="clip.mp4")
    private = make_upload(user, "document")
    for upload, title in ((picture, "Beach"), (video, "Clip"), (private, "Scan")):
        MediaItem.objects.create(owner=user, upload=upload, title=title)

    page = admin_client.get(f"{USERS_URL}{user.pk}/change/").content.decode()

    sources = image_sources(page)
    # The avatar's widget previews its thumb variant, not made here: never the original.
    assert services.public_url(avatar) not in sources and "Preparing the preview" in page
    value = re.search(r'<input type="hidden" name="avatar" value="([^"]*)"', page)
    assert value and issued(html.unescape(value.group(1))) == (str(avatar.pk), str(admin_user.pk))
    # Small previews made from the images, never the originals scaled down by the browser.
    assert thumbnail_url(picture) in sources and thumbnail_url(private) in sources
    assert services.public_url(picture) not in sources
    assert not any(str(video.pk) in src or video.key in src for src in sources)
    # The video's row names it, as text: not pictured, not an image's alt text.
    assert "<p>clip.mp4 (video/mp4, completed)</p>" in page
    assert 'alt="clip.mp4' not in page
    assert "Beach" in page and "Clip" in page and "Scan" in page


def test_user_list_shows_avatar_thumbnails(
    admin_client: Client, user: Any, other_user: Any
) -> None:
    avatar = make_upload(user)
    user.avatar = avatar
    user.save()

    page = admin_client.get(USERS_URL).content.decode()
    # The avatar type's thumb variant is not made yet: said so, the original never shown.
    assert image_sources(page) == [] and "preparing" in page
    assert other_user.username in page

    assert make_variants(avatar.pk) == ["thumb"]
    page = admin_client.get(USERS_URL).content.decode()
    assert image_sources(page) == [Upload.objects.get(pk=avatar.pk).variant("thumb").url]


def test_an_operator_replaces_and_removes_an_avatar_releasing_the_previous_one(
    admin_client: Client, admin_user: Any, user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    first, second = make_upload(user), make_upload(user)
    user.avatar = first
    user.save()

    with django_capture_on_commit_callbacks(execute=True):
        assert (
            change_user(admin_client, user, field_value(second.pk, admin_user)).status_code == 302
        )

    user.refresh_from_db()
    assert user.avatar_id == second.pk
    assert status_of(first) == "deleted" and not stored(first.key)

    with django_capture_on_commit_callbacks(execute=True):
        assert change_user(admin_client, user, "").status_code == 302

    user.refresh_from_db()
    assert user.avatar_id is None
    assert status_of(second) == "deleted" and not stored(second.key)


def test_an_avatar_of_another_type_is_refused_in_the_form(
    admin_client: Client, admin_user: Any, user: Any
) -> None:
    media = make_upload(user, "media")

    response = change_user(admin_client, user, field_value(media.pk, admin_user))

    assert response.status_code == 200
    assert "avatar" in response.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.avatar_id is None
    assert status_of(media) == "completed" and stored(media.key)


def test_media_admin_lists_items_with_thumbnails(admin_client: Client, user: Any) -> None:
    picture = make_upload(user, "media")
    MediaItem.objects.create(owner=user, upload=picture, title="Beach")

    page = admin_client.get(MEDIA_URL).content.decode()

    assert image_sources(page) == [thumbnail_url(picture)]


def test_an_operator_adds_a_media_item_with_their_upload_which_becomes_the_users(
    admin_client: Client, admin_user: Any, user: Any
) -> None:
    upload = make_upload(admin_user, "media")  # as the widget uploads it, as the operator

    response = admin_client.post(
        f"{MEDIA_URL}add/",
        {"owner": user.pk, "upload": field_value(upload.pk, admin_user), "title": "Beach"},
    )

    assert response.status_code == 302
    item = MediaItem.objects.get()
    assert (item.owner, item.upload_id, item.title) == (user, upload.pk, "Beach")
    upload.refresh_from_db()
    assert upload.owner == user


def test_media_admin_refuses_an_upload_of_another_type(
    admin_client: Client, admin_user: Any, user: Any
) -> None:
    document = make_upload(user, "document", PDF, "application/pdf")

    response = admin_client.post(
        f"{MEDIA_URL}add/",
        {"owner": user.pk, "upload": field_value(document.pk, admin_user), "title": "x"},
    )

    assert response.status_code == 200
    assert "upload" in response.context["adminform"].form.errors
    assert not MediaItem.objects.exists()


def test_changing_an_items_upload_releases_the_previous_one(
    admin_client: Client, admin_user: Any, user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    before, after = make_upload(user, "media"), make_upload(user, "media")
    item = MediaItem.objects.create(owner=user, upload=before, title="Beach")

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"{MEDIA_URL}{item.pk}/change/",
            {"owner": user.pk, "upload": field_value(after.pk, admin_user), "title": "Beach"},
        )

    assert response.status_code == 302
    assert MediaItem.objects.get().upload_id == after.pk
    assert status_of(before) == "deleted" and not stored(before.key)
    assert status_of(after) == "completed" and stored(after.key)


def test_media_admin_delete_releases_unused_uploads(
    admin_client: Client, user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    shared, alone = make_upload(user, "media"), make_upload(user, "media")
    first = MediaItem.objects.create(owner=user, upload=shared, title="a")
    MediaItem.objects.create(owner=user, upload=shared, title="b")
    third = MediaItem.objects.create(owner=user, upload=alone, title="c")

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            MEDIA_URL,
            {
                "action": "delete_selected",
                "_selected_action": [str(first.pk), str(third.pk)],
                "post": "yes",
            },
            follow=True,
        )

    assert "Successfully deleted 2 media items." in response.content.decode()
    assert list(MediaItem.objects.values_list("title", flat=True)) == ["b"]
    assert status_of(shared) == "completed" and stored(shared.key)
    assert status_of(alone) == "deleted" and not stored(alone.key)


def test_uploads_admin_delete_keeps_a_linked_upload_and_its_file(
    admin_client: Client, user: Any
) -> None:
    upload = make_upload(user, "media")
    MediaItem.objects.create(owner=user, upload=upload, title="kept")

    admin_client.raise_request_exception = False  # look at what the admin answers
    response = admin_client.post(
        "/admin/uploads/upload/",
        {"action": "delete_with_objects", "_selected_action": [str(upload.pk)]},
    )

    assert stored(upload.key)
    assert response.status_code == 302
    assert MediaItem.objects.filter(upload=upload).exists()
