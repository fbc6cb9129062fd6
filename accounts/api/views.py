"""The users and media endpoints of the contract, on the uploads API's envelope, errors
and scopes."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiExample
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import services
from accounts.api.serializers import (
    AvatarRequestSerializer,
    MediaCreateSerializer,
    MediaItemSerializer,
    MediaUpdateSerializer,
    ProfileSerializer,
)
from accounts.scopes import MEDIA_READ, MEDIA_WRITE, PROFILE_WRITE
from uploads.api.pagination import EnvelopePagination, PageQuery
from uploads.api.schema import (
    AUTHENTICATED,
    COMPLETING,
    STORAGE,
    WITH_BODY,
    PaginatedMetaSerializer,
    operation,
)
from uploads.api.views import UploadsAPIView


class MeView(UploadsAPIView):
    required_scopes = {"GET": None}  # any valid credential reads its own profile

    @operation(
        operation_id="getProfile",
        tag="users",
        summary="The caller's profile",
        description="With `avatarUrl` (null without an avatar, or when avatars are private) "
        "and the avatar's upload. Any valid credential may read it, whatever its scopes.",
        ok={200: ("Profile", ProfileSerializer())},
        errors=[AUTHENTICATED],
    )
    def get(self, request: Request) -> Response:
        return self.ok(ProfileSerializer(self.caller(), context={"request": request}).data)


class AvatarView(UploadsAPIView):
    required_scopes = {"PATCH": PROFILE_WRITE, "DELETE": PROFILE_WRITE}

    @operation(
        operation_id="setAvatar",
        tag="users",
        summary="Set the avatar: one of the caller's avatar uploads (completed first if pending)",
        description="Send exactly one of `upload` (its id), `key` or `avatarUrl` (the "
        "publicUrl this server issued), naming one of the caller's uploads of the avatar "
        "type. A pending upload is verified first, with complete's errors. The previous "
        "avatar's upload is deleted unless something else uses it.",
        request=AvatarRequestSerializer,
        ok={200: ("Profile", ProfileSerializer())},
        errors=[AUTHENTICATED, WITH_BODY, COMPLETING, STORAGE],
        examples=[
            OpenApiExample(
                "By upload id",
                value={"upload": "0b7c3f4e-2a51-4c7e-9d1a-6f0e8b2c4d5a"},
                request_only=True,
            )
        ],
    )
    def patch(self, request: Request) -> Response:
        body = AvatarRequestSerializer(
            self.caller(), data=request.data, context={"request": request}
        )
        body.is_valid(raise_exception=True)
        with transaction.atomic():
            me = body.save()
        return self.ok(ProfileSerializer(me, context={"request": request}).data)

    @operation(
        operation_id="removeAvatar",
        tag="users",
        request=None,
        summary="Remove the avatar",
        description="200 with the profile, now without an avatar; the avatar's upload is "
        "deleted unless something else uses it.",
        ok={200: ("Profile", ProfileSerializer())},
        errors=[AUTHENTICATED],
    )
    def delete(self, request: Request) -> Response:
        me = self.caller()
        with transaction.atomic():
            me.avatar = None
            me.save(update_fields=["avatar"])
        return self.ok(ProfileSerializer(me, context={"request": request}).data)


class MediaListView(UploadsAPIView):
    required_scopes = {"GET": MEDIA_READ, "POST": MEDIA_WRITE}
    # Here a 404 is about the upload named in the body.

    @operation(
        operation_id="listMedia",
        tag="media",
        parameters=[PageQuery],
        summary="The caller's media items, newest first",
        description="Paginated like the uploads: `meta.pagination`.",
        ok={200: ("MediaItemList", MediaItemSerializer(many=True), PaginatedMetaSerializer)},
        errors=[AUTHENTICATED, {400: []}],
    )
    def get(self, request: Request) -> Response:
        paginator = EnvelopePagination()
        page = paginator.paginate_queryset(
            services.owned_media(self.caller())
            .order_by("-created_at", "-id")
            .prefetch_related("upload__policy__variant_specs", "upload__variant_records"),
            request,
            view=self,
        )
        assert page is not None
        data = MediaItemSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @operation(
        operation_id="createMedia",
        tag="media",
        summary="Link one of the caller's uploads as a media item (completed first if pending)",
        description="`upload` names one of the caller's uploads of a media type; `title` "
        "defaults to its file name. A pending upload is verified first, with complete's "
        "errors; an upload of another type answers 409 `upload.invalid_state`.",
        request=MediaCreateSerializer,
        ok={201: ("MediaItem", MediaItemSerializer())},
        errors=[AUTHENTICATED, WITH_BODY, COMPLETING, STORAGE],
        examples=[
            OpenApiExample(
                "A titled photo",
                value={"upload": "0b7c3f4e-2a51-4c7e-9d1a-6f0e8b2c4d5a", "title": "My photo"},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        body = MediaCreateSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        with transaction.atomic():
            item = body.save(owner=self.caller())
        data = MediaItemSerializer(item, context={"request": request}).data
        return self.ok(data, status=status.HTTP_201_CREATED)


class MediaDetailView(UploadsAPIView):
    required_scopes = {"GET": MEDIA_READ, "PATCH": MEDIA_WRITE, "DELETE": MEDIA_WRITE}
    not_found_code = "media.not_found"

    @operation(
        operation_id="getMedia",
        tag="media",
        summary="One media item of the caller",
        description="With its upload.",
        ok={200: ("MediaItem", MediaItemSerializer())},
        errors=[AUTHENTICATED, {404: ["media.not_found"]}],
    )
    def get(self, request: Request, item_id: str) -> Response:
        item = services.get_media(self.caller(), item_id)
        return self.ok(MediaItemSerializer(item, context={"request": request}).data)

    @operation(
        operation_id="renameMedia",
        tag="media",
        summary="Rename a media item",
        description="Only the title changes; the upload stays.",
        request=MediaUpdateSerializer,
        ok={200: ("MediaItem", MediaItemSerializer())},
        errors=[AUTHENTICATED, WITH_BODY, {404: ["media.not_found"]}],
    )
    def patch(self, request: Request, item_id: str) -> Response:
        body = MediaUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        item = services.rename_media(self.caller(), item_id, body.validated_data["title"])
        return self.ok(MediaItemSerializer(item, context={"request": request}).data)

    @operation(
        operation_id="deleteMedia",
        tag="media",
        request=None,
        summary="Delete a media item; its upload goes too unless something else uses it",
        description="200 with the item as it was deleted.",
        ok={200: ("MediaItem", MediaItemSerializer())},
        errors=[AUTHENTICATED, {404: ["media.not_found"]}],
    )
    def delete(self, request: Request, item_id: str) -> Response:
        item = services.delete_media(self.caller(), item_id)
        return self.ok(MediaItemSerializer(item, context={"request": request}).data)
