from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from uploads.fields import UploadField
from uploads.list_fields import UploadsField


def album_owner(album: Album) -> Any:
    return album.curator


class Poster(models.Model):
    """No owner: it takes the uploads of whoever attaches them, and leaves them theirs."""

    image = UploadField(types=["avatar", "media"], null=True, blank=True)


class Album(models.Model):
    """Two fields, one owner found by a function."""

    curator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    cover = UploadField(types=["avatar"], owner_field=album_owner, null=True, blank=True)
    booklet = UploadField(types=["document"], owner_field="curator", null=True, blank=True)


class Profile(models.Model):
    """The common one-to-one profile: its user owns its uploads."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    photo = UploadField(types=["avatar"], owner_field="user", null=True, blank=True)


class Exhibition(models.Model):
    """Several uploads in order (UploadsField), owned by the curator."""

    curator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    title = models.CharField(max_length=100, blank=True)
    pictures = UploadsField(
        types=["avatar", "media"], owner_field="curator", max_files=3, blank=True
    )
