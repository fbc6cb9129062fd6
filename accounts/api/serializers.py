from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts import services
from accounts.models import MediaItem, User
from uploads.api.serializers import (
    RejectUnknownFieldsMixin,
    StrictCharField,
    UploadSerializer,
)
from uploads.models import Upload


class ProfileSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()
    firstName = serializers.CharField(source="first_name")
    lastName = serializers.CharField(source="last_name")
    avatarUrl = serializers.SerializerMethodField()
    avatarUpload = serializers.SerializerMethodField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._avatars: dict[int, Upload | None] = {}  # both avatar fields, one lookup

    def _avatar(self, user: User) -> Upload | None:
        if user.pk not in self._avatars:
            self._avatars[user.pk] = services.avatar_of(user)
        return self._avatars[user.pk]

    def get_avatarUrl(self, user: User) -> str | None:
        upload = self._avatar(user)
        return UploadSerializer(upload, context=self.context).data["publicUrl"] if upload else None

    def get_avatarUpload(self, user: User) -> dict[str, Any] | None:
        upload = self._avatar(user)
        return UploadSerializer(upload, context=self.context).data if upload else None


class AvatarRequestSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """Exactly one of: the upload's id, its key, or the publicUrl the server issued."""

    upload = StrictCharField(required=False, max_length=64)
    key = StrictCharField(required=False, max_length=1024)
    avatarUrl = StrictCharField(required=False, max_length=2048)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if len(attrs) != 1:
            raise serializers.ValidationError(
                "Send exactly one of upload, key or avatarUrl.", code="one_of"
            )
        return attrs


class MediaItemSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    upload = UploadSerializer()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


class MediaCreateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    upload = StrictCharField(max_length=64)
    title = StrictCharField(
        required=False, allow_blank=True, max_length=MediaItem._meta.get_field("title").max_length
    )


class MediaUpdateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    title = StrictCharField(
        allow_blank=True, max_length=MediaItem._meta.get_field("title").max_length
    )
