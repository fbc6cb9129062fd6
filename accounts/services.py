"""What a user does with completed uploads: an avatar and media items.

Only the owner's own uploads are ever found; another user's answer exactly as missing ones
do. Linking completes a pending upload first (verifying the stored object), so a client may
skip the complete call. Dropping the last reference to an upload deletes it and its object.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from accounts.models import MediaItem, User
from uploads import exceptions, services
from uploads.models import Upload


def avatar_type() -> str:
    """The upload type an avatar must be of (``ACCOUNTS_AVATAR_TYPE``, "avatar" by default)."""
    return getattr(settings, "ACCOUNTS_AVATAR_TYPE", "avatar")


class MediaNotFound(exceptions.NotFound):
    # Same code as upload.not_found: the media views answer it as media.not_found.
    default_message = "No such media item."


# --- finding the caller's upload ------------------------------------------------------


def upload_by_key(owner: User, key: str) -> Upload:
    upload = services.owned_uploads(owner).filter(key=key).first()
    if upload is None:
        raise exceptions.NotFound()
    return upload


def upload_by_public_url(owner: User, url: str, absolute: Callable[[str], str] = str) -> Upload:
    """The owner's upload whose publicUrl (made absolute by ``absolute``) is exactly
    ``url``. Keys end in ``<upload id>.<ext>``, so the id comes from the last segment."""
    name = PurePosixPath(urlsplit(url).path).name
    upload = services.get_upload(owner, name.split(".", 1)[0])
    issued = services.public_url(upload)
    if not issued or absolute(issued) != url:
        raise exceptions.NotFound()
    return upload


def _ensure_completed(owner: User, upload: Upload) -> Upload:
    """Complete a pending upload (outside any transaction of ours, so that a rejection
    is committed with its object's deletion); refuse one that cannot be completed."""
    if upload.status == Upload.Status.COMPLETED:
        return upload
    return services.complete_upload(owner, upload.pk)  # raises for every other outcome


def _locked_completed(owner: User, upload_id: uuid.UUID) -> Upload:
    """The upload row-locked (so that no delete_upload runs beside the link), still the
    owner's and still completed."""
    upload = (
        Upload.objects.select_for_update(of=("self",))
        .select_related("policy")
        .exclude(status=Upload.Status.DELETED)
        .filter(pk=upload_id, owner=owner)
        .first()
    )
    if upload is None:
        raise exceptions.NotFound()
    if upload.status != Upload.Status.COMPLETED:
        raise exceptions.InvalidState(
            f"The upload is {upload.status}.", vars={"status": upload.status}
        )
    return upload


# --- references ------------------------------------------------------------------------


def is_referenced(upload_id: uuid.UUID) -> bool:
    """Whether an avatar or a media item uses the upload."""
    return (
        User.objects.filter(avatar_id=upload_id).exists()
        or MediaItem.objects.filter(upload_id=upload_id).exists()
    )


def release(owner: User, upload_id: uuid.UUID | None) -> bool:
    """Delete the upload and its object unless something still uses it; call it after
    dropping a reference, inside that transaction. Returns whether it was deleted.

    A storage failure raises StorageUnavailable, which undoes the caller's transaction:
    the reference stays and the call can be repeated, with no object left behind.
    """
    if upload_id is None:
        return False
    # Lock the upload before counting its references: two transactions each dropping one of
    # its last two references would otherwise each still see the other's, and keep it.
    list(Upload.objects.select_for_update().filter(pk=upload_id).values_list("pk", flat=True))
    if is_referenced(upload_id):
        return False
    try:
        services.delete_upload(owner, upload_id)
    except exceptions.InvalidState:
        return False  # linked again meanwhile (the upload_deleting veto)
    except exceptions.NotFound:
        return False  # deleted already
    return True


def veto_deleting_linked_upload(upload: Upload, **kwargs: object) -> None:
    """Receiver of uploads.signals.upload_deleting: an upload in use is not deleted."""
    if User.objects.filter(avatar_id=upload.pk).exists():
        raise exceptions.InvalidState(
            "The upload is an avatar: remove the avatar first.", vars={"usedBy": "avatar"}
        )
    if MediaItem.objects.filter(upload_id=upload.pk).exists():
        raise exceptions.InvalidState(
            "The upload is linked to a media item: delete the item first.",
            vars={"usedBy": "media"},
        )


# --- avatar ----------------------------------------------------------------------------


def set_avatar(user: User, upload: Upload) -> User:
    """Make one of the user's own uploads of the avatar type their avatar; the previous
    avatar's upload is released."""
    if upload.policy.name != avatar_type():
        raise exceptions.InvalidState(
            f"Only {avatar_type()} uploads can be an avatar; this one is {upload.policy.name}.",
            vars={"type": upload.policy.name, "expected": avatar_type()},
        )
    _ensure_completed(user, upload)
    with transaction.atomic():
        me = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        linked = _locked_completed(user, upload.pk)
        previous = me.avatar_id
        me.avatar = linked
        me.save(update_fields=["avatar"])
        if previous != linked.pk:
            release(user, previous)
    return me


def remove_avatar(user: User) -> User:
    with transaction.atomic():
        me = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        previous = me.avatar_id
        if previous is not None:
            me.avatar = None
            me.save(update_fields=["avatar"])
            release(user, previous)
    return me


def avatar_of(user: User) -> Upload | None:
    """The avatar's upload while it is usable (completed)."""
    if user.avatar_id is None:
        return None
    upload = Upload.objects.select_related("policy").filter(pk=user.avatar_id).first()
    if upload is None or upload.status != Upload.Status.COMPLETED:
        return None
    return upload


# --- media -----------------------------------------------------------------------------


def owned_media(owner: User) -> QuerySet[MediaItem]:
    return MediaItem.objects.filter(owner=owner).select_related("upload__policy")


def get_media(owner: User, item_id: uuid.UUID | str) -> MediaItem:
    try:
        return owned_media(owner).get(pk=item_id)
    except (MediaItem.DoesNotExist, ValueError, ValidationError) as err:
        raise MediaNotFound() from err


def create_media(owner: User, upload: Upload, title: str | None = None) -> MediaItem:
    """Link one of the owner's uploads of a media-linkable type (completing it first)."""
    if not upload.policy.media_linkable:
        raise exceptions.InvalidState(
            f"{upload.policy.name} uploads cannot be linked as media.",
            vars={"type": upload.policy.name},
        )
    _ensure_completed(owner, upload)
    with transaction.atomic():
        linked = _locked_completed(owner, upload.pk)
        item = MediaItem.objects.create(
            owner=owner, upload=linked, title=linked.file_name if title is None else title
        )
    return item


def rename_media(owner: User, item_id: uuid.UUID | str, title: str) -> MediaItem:
    item = get_media(owner, item_id)
    item.title = title
    item.save(update_fields=["title", "updated_at"])
    return item


def delete_media(owner: User, item_id: uuid.UUID | str) -> MediaItem:
    """Delete the item; its upload goes too when nothing else uses it."""
    with transaction.atomic():
        try:
            item = (
                MediaItem.objects.select_for_update(of=("self",))
                .select_related("upload__policy")
                .get(pk=item_id, owner=owner)
            )
        except (MediaItem.DoesNotExist, ValueError, ValidationError) as err:
            raise MediaNotFound() from err
        item_id = item.pk
        item.delete()
        item.pk = item_id  # (delete() clears it) so that the answer can name the item
        if release(owner, item.upload_id):
            item.upload.refresh_from_db(fields=["status", "updated_at"])
    return item
