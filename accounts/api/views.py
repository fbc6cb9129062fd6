"""The users and media endpoints of the contract, on the uploads API's envelope, errors
and scopes."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
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
from uploads.api.pagination import EnvelopePagination
from uploads.api.views import UploadsAPIView


class MeView(UploadsAPIView):
    required_scopes = {"GET": None}  # any valid credential reads its own profile

    @extend_schema(responses=ProfileSerializer, summary="The caller's profile")
    def get(self, request: Request) -> Response:
        return self.ok(ProfileSerializer(self.caller(), context={"request": request}).data)


class AvatarView(UploadsAPIView):
    required_scopes = {"PATCH": PROFILE_WRITE, "DELETE": PROFILE_WRITE}

    @extend_schema(
        request=AvatarRequestSerializer,
        responses=ProfileSerializer,
        summary="Set the avatar: one of the caller's avatar uploads (completed first if pending)",
    )
    def patch(self, request: Request) -> Response:
        body = AvatarRequestSerializer(
            self.caller(), data=request.data, context={"request": request}
        )
        body.is_valid(raise_exception=True)
        with transaction.atomic():
            me = body.save()
        return self.ok(ProfileSerializer(me, context={"request": request}).data)

    @extend_schema(request=None, responses=ProfileSerializer, summary="Remove the avatar")
    def delete(self, request: Request) -> Response:
        me = self.caller()
        with transaction.atomic():
            me.avatar = None
            me.save(update_fields=["avatar"])
        return self.ok(ProfileSerializer(me, context={"request": request}).data)


class MediaListView(UploadsAPIView):
    required_scopes = {"GET": MEDIA_READ, "POST": MEDIA_WRITE}
    # Here a 404 is about the upload named in the body.

    @extend_schema(
        parameters=[OpenApiParameter("page", int), OpenApiParameter("pageSize", int)],
        responses=MediaItemSerializer(many=True),
        summary="The caller's media items, newest first",
    )
    def get(self, request: Request) -> Response:
        paginator = EnvelopePagination()
        page = paginator.paginate_queryset(
            services.owned_media(self.caller()).order_by("-created_at", "-id"), request, view=self
        )
        assert page is not None
        data = MediaItemSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        request=MediaCreateSerializer,
        responses={201: MediaItemSerializer},
        summary="Link one of the caller's uploads as a media item (completed first if pending)",
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

    @extend_schema(responses=MediaItemSerializer, summary="One media item of the caller")
    def get(self, request: Request, item_id: str) -> Response:
        item = services.get_media(self.caller(), item_id)
        return self.ok(MediaItemSerializer(item, context={"request": request}).data)

    @extend_schema(
        request=MediaUpdateSerializer, responses=MediaItemSerializer, summary="Rename a media item"
    )
    def patch(self, request: Request, item_id: str) -> Response:
        body = MediaUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        item = services.rename_media(self.caller(), item_id, body.validated_data["title"])
        return self.ok(MediaItemSerializer(item, context={"request": request}).data)

    @extend_schema(
        request=None,
        responses=MediaItemSerializer,
        summary="Delete a media item; its upload goes too unless something else uses it",
    )
    def delete(self, request: Request, item_id: str) -> Response:
        item = services.delete_media(self.caller(), item_id)
        return self.ok(MediaItemSerializer(item, context={"request": request}).data)
