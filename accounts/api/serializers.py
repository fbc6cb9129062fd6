from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.settings import api_settings

from accounts import services
from accounts.models import MediaItem, User, media_types
from uploads.api.fields import UploadField
from uploads.api.serializers import (
    RejectUnknownFieldsMixin,
    StrictCharField,
    UploadSerializer,
)


class ProfileSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()
    firstName = serializers.CharField(source="first_name")
    lastName = serializers.CharField(source="last_name")
    avatarUrl = serializers.SerializerMethodField()
    avatarUpload = serializers.SerializerMethodField()

    def get_avatarUrl(self, user: User) -> str | None:
        avatar = self._avatar(user)
        return avatar["publicUrl"] if avatar else None

    def get_avatarUpload(self, user: User) -> dict[str, Any] | None:
        return self._avatar(user)

    def _avatar(self, user: User) -> dict[str, Any] | None:
        upload = services.avatar_of(user)
        return UploadSerializer(upload, context=self.context).data if upload else None


class AvatarRequestSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    """Exactly one of: the upload's id, its key, or the publicUrl the server issued."""

    upload = UploadField(source="avatar", required=False, max_length=64)
    key = UploadField(source="avatar", required=False, max_length=1024)
    avatarUrl = UploadField(source="avatar", required=False, max_length=2048)

    class Meta:
        model = User
        fields = ["upload", "key", "avatarUrl"]

    # The body is closed to other fields, so one property is exactly one of the three.
    json_schema = {"minProperties": 1, "maxProperties": 1}

    def to_internal_value(self, data: Any) -> Any:
        # Before any upload is looked up (and perhaps completed).
        if isinstance(data, Mapping) and sum(name in data for name in self.fields) != 1:
            raise serializers.ValidationError(
                {
                    api_settings.NON_FIELD_ERRORS_KEY: [
                        "Send exactly one of upload, key or avatarUrl."
                    ]
                },
                code="one_of",
            )
        return super().to_internal_value(data)

    def update(self, user: User, validated_data: dict[str, Any]) -> User:
        user.avatar = validated_data["avatar"]
        user.save(update_fields=["avatar"])
        return user


class MediaItemSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    upload = UploadSerializer()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


class MediaCreateSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    """Links one of the caller's uploads; the item is titled by its file name unless told."""

    upload = UploadField(types=media_types)
    title = StrictCharField(
        required=False, allow_blank=True, max_length=MediaItem._meta.get_field("title").max_length
    )

    class Meta:
        model = MediaItem
        fields = ["upload", "title"]

    def create(self, validated_data: dict[str, Any]) -> MediaItem:
        validated_data.setdefault("title", validated_data["upload"].file_name)
        return MediaItem.objects.create(**validated_data)


class MediaUpdateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    title = StrictCharField(
        allow_blank=True, max_length=MediaItem._meta.get_field("title").max_length
    )

    # PATCH, yet the title is the one thing to change: the body must carry it.
    json_schema = {"required": ["title"]}
