"""The admin shows each user's avatar and media, with thumbnails for images."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from django.test import Client

from accounts.models import MediaItem
from tests.helpers import MP4, make_upload, status_of, stored
from uploads import services
from uploads.models import UploadPolicy

USERS_URL = "/admin/accounts/user/"
MEDIA_URL = "/admin/accounts/mediaitem/"


def image_sources(page: str) -> list[str]:
    """The uploads pictured (the admin's own icons left out)."""
    found = [html.unescape(src) for src in re.findall(r'<img src="([^"]+)"', page)]
    return [src for src in found if not src.startswith("/static/")]


def test_user_page_shows_the_avatar_and_media_with_thumbnails_for_images(
    admin_client: Client, user: Any, edit_policy: Callable[..., UploadPolicy]
) -> None:
    avatar = make_upload(user)
    user.avatar = avatar
    user.save()
    picture = make_upload(user, "media")
    video = make_upload(user, "media", MP4, "video/mp4", file_name="clip.mp4")
    edit_policy("document", media_linkable=True)
    private = make_upload(user, "document")
    for upload, title in ((picture, "Beach"), (video, "Clip"), (private, "Scan")):
        MediaItem.objects.create(owner=user, upload=upload, title=title)

    page = admin_client.get(f"{USERS_URL}{user.pk}/change/").content.decode()

    sources = image_sources(page)
    assert services.public_url(avatar) in sources
    assert services.public_url(picture) in sources
    assert not any(video.key in src for src in sources)
    # The video's row names it, as text: not pictured, not an image's alt text.
    assert "<p>clip.mp4 (video/mp4, completed)</p>" in page
    assert 'alt="clip.mp4' not in page
    assert any(src.startswith("/uploads/local/get/") for src in sources)  # private: signed
    assert "Beach" in page and "Clip" in page and "Scan" in page


def test_user_list_shows_avatar_thumbnails(
    admin_client: Client, user: Any, other_user: Any
) -> None:
    avatar = make_upload(user)
    user.avatar = avatar
    user.save()

    page = admin_client.get(USERS_URL).content.decode()

    assert image_sources(page) == [services.public_url(avatar)]
    assert other_user.username in page


def test_media_admin_lists_items_with_thumbnails_and_cannot_add(
    admin_client: Client, user: Any
) -> None:
    picture = make_upload(user, "media")
    MediaItem.objects.create(owner=user, upload=picture, title="Beach")

    page = admin_client.get(MEDIA_URL).content.decode()

    assert image_sources(page) == [services.public_url(picture)]
    assert admin_client.get(f"{MEDIA_URL}add/").status_code == 403


def test_media_admin_delete_action_releases_unused_uploads(admin_client: Client, user: Any) -> None:
    shared, alone = make_upload(user, "media"), make_upload(user, "media")
    first = MediaItem.objects.create(owner=user, upload=shared, title="a")
    MediaItem.objects.create(owner=user, upload=shared, title="b")
    third = MediaItem.objects.create(owner=user, upload=alone, title="c")

    response = admin_client.post(
        MEDIA_URL,
        {"action": "delete_items", "_selected_action": [str(first.pk), str(third.pk)]},
        follow=True,
    )

    assert "Deleted 2 media item(s)." in response.content.decode()
    assert list(MediaItem.objects.values_list("title", flat=True)) == ["b"]
    assert status_of(shared.pk) == "completed" and stored(shared.key)
    assert status_of(alone.pk) == "deleted" and not stored(alone.key)
    assert "delete_selected" not in admin_client.get(MEDIA_URL).content.decode()


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
