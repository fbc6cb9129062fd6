"""What a user does with completed uploads: an avatar and media items.

The model fields (``uploads.fields.UploadField``) do the rest: they hold only completed
uploads of their types, and release an upload (delete it once nothing uses it) when a row
lets go of it.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from accounts.models import MediaItem, User
from uploads import exceptions
from uploads.models import Upload


class MediaNotFound(exceptions.NotFound):
    # Same code as upload.not_found: the media views answer it as media.not_found.
    default_message = "No such media item."


def avatar_of(user: User) -> Upload | None:
    """The avatar's upload while it is usable (an operator may reject it later)."""
    upload = user.avatar
    return upload if upload is not None and upload.status == Upload.Status.COMPLETED else None


def owned_media(owner: User) -> QuerySet[MediaItem]:
    return MediaItem.objects.filter(owner=owner).select_related("upload__policy")


def get_media(owner: User, item_id: uuid.UUID | str) -> MediaItem:
    try:
        return owned_media(owner).get(pk=item_id)
    except (MediaItem.DoesNotExist, ValueError, ValidationError) as err:
        raise MediaNotFound() from err


def rename_media(owner: User, item_id: uuid.UUID | str, title: str) -> MediaItem:
    item = get_media(owner, item_id)
    item.title = title
    item.save(update_fields=["title", "updated_at"])
    return item


def delete_media(owner: User, item_id: uuid.UUID | str) -> MediaItem:
    """Delete the item; its upload goes too when nothing else uses it."""
    with transaction.atomic():
        item = get_media(owner, item_id)
        pk = item.pk
        item.delete()
        item.pk = pk  # (delete() clears it) so that the answer names the item
        item.upload.refresh_from_db(fields=["status", "updated_at"])
    return item
