"""Thin views: parse, call a service, wrap the answer in the envelope."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt import views as jwt_views

from uploads import services
from uploads.api import ratelimit
from uploads.api.envelope import error_response, success_body
from uploads.api.errors import exception_handler
from uploads.api.pagination import EnvelopePagination
from uploads.api.parsers import JSONParser
from uploads.api.permissions import READ, WRITE, HasScope
from uploads.api.serializers import (
    DownloadSerializer,
    PartsRequestSerializer,
    PresignRequestSerializer,
    PresignResponseSerializer,
    SignedPartsSerializer,
    StoredPartsSerializer,
    UploadListQuerySerializer,
    UploadSerializer,
    UploadTypeSerializer,
)
from uploads.models import Upload
from uploads.policies import registry
from uploads.services import multipart
from uploads.types import User


class UploadsAPIView(APIView):
    """The app's own parsing, rendering, permissions and errors, whatever the project's
    REST_FRAMEWORK defaults; authentication stays the project's choice."""

    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    permission_classes = [IsAuthenticated, HasScope]
    required_scopes: dict[str, str | None] = {}
    not_found_code = "upload.not_found"

    def get_exception_handler(self) -> Any:
        return exception_handler

    def ok(self, data: Any, status: int = 200, **meta: Any) -> Response:
        return Response(success_body(self.request, data, **meta), status=status)

    def caller(self) -> User:
        """The authenticated user making the request (IsAuthenticated has let it in)."""
        user = self.request.user
        if not user.is_authenticated:
            raise NotAuthenticated()
        return user


class UploadTypesView(UploadsAPIView):
    required_scopes = {"GET": READ}

    @extend_schema(responses=UploadTypeSerializer(many=True), summary="Active upload types")
    def get(self, request: Request) -> Response:
        return self.ok(UploadTypeSerializer(registry.active(), many=True).data)


class PresignView(UploadsAPIView):
    required_scopes = {"POST": WRITE}
    rate: ratelimit.RateInfo | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication comes first
        if request.method == "POST":  # not a 405 or an OPTIONS
            self.rate = ratelimit.hit(request, "uploads.presign")

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        if self.rate is not None:
            for name, value in self.rate.headers().items():
                response[name] = value
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(
        request=PresignRequestSerializer,
        responses={201: PresignResponseSerializer, 200: PresignResponseSerializer},
        summary="Start an upload: a short-lived signed URL for one object",
    )
    def post(self, request: Request) -> Response:
        body = PresignRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        v = body.validated_data
        result = services.presign_upload(
            self.caller(),
            services.PresignRequest(
                type=v["type"],
                content_type=v["contentType"],
                size=v.get("size"),
                file_name=v.get("fileName", ""),
                sha256=v.get("sha256"),
                multipart=v.get("multipart", False),
            ),
        )
        data = UploadSerializer(result.upload, context={"request": request}).data
        data |= {"expiresIn": result.expires_in, "maxSize": result.max_size}
        if result.deduplicated:
            data["deduplicated"] = True
        elif result.upload.is_multipart:
            data["multipart"] = multipart.plan(result.upload)
        else:
            presigned = result.presigned
            assert presigned is not None
            data |= {
                "uploadUrl": request.build_absolute_uri(presigned.url),
                "method": presigned.method,
                "headers": presigned.headers,
            }
            if presigned.fields is not None:
                data["fields"] = presigned.fields
        assert self.rate is not None
        return self.ok(
            data,
            status=status.HTTP_200_OK if result.deduplicated else status.HTTP_201_CREATED,
            rateLimit=self.rate.meta(),
        )


class UploadListView(UploadsAPIView):
    required_scopes = {"GET": READ}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status", str, enum=["pending", "verifying", "completed", "rejected", "expired"]
            ),
            OpenApiParameter("type", str),
            OpenApiParameter("page", int),
            OpenApiParameter("pageSize", int),
        ],
        responses=UploadSerializer(many=True),
        summary="The caller's uploads, newest first",
    )
    def get(self, request: Request) -> Response:
        query = UploadListQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        uploads = services.owned_uploads(self.caller()).order_by("-created_at", "-id")
        if "status" in query.validated_data:
            uploads = uploads.filter(status=query.validated_data["status"])
        if "type" in query.validated_data:
            uploads = uploads.filter(policy__name=query.validated_data["type"])
        paginator = EnvelopePagination()
        page = paginator.paginate_queryset(uploads, request, view=self)
        assert page is not None
        data = UploadSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)


class UploadDetailView(UploadsAPIView):
    required_scopes = {"GET": READ, "DELETE": WRITE}

    @extend_schema(responses=UploadSerializer, summary="One upload of the caller")
    def get(self, request: Request, upload_id: str) -> Response:
        upload = services.get_upload(self.caller(), upload_id)
        return self.ok(UploadSerializer(upload, context={"request": request}).data)

    @extend_schema(responses=UploadSerializer, summary="Abort or delete an upload and its object")
    def delete(self, request: Request, upload_id: str) -> Response:
        upload = services.delete_upload(self.caller(), upload_id)
        return self.ok(UploadSerializer(upload, context={"request": request}).data)


class CompleteView(UploadsAPIView):
    required_scopes = {"POST": WRITE}
    parser_classes: list[Any] = []  # the body is ignored

    @extend_schema(
        request=None,
        responses={200: UploadSerializer, 202: UploadSerializer},
        summary="Verify the stored object",
        description="200 with the upload completed; 202 with it verifying when the check runs "
        "in the background (large files, multipart uploads): poll GET /uploads/{id} until it "
        "is completed or rejected.",
    )
    def post(self, request: Request, upload_id: str) -> Response:
        upload = services.complete_upload(self.caller(), upload_id)
        code = (
            status.HTTP_202_ACCEPTED
            if upload.status == Upload.Status.VERIFYING
            else status.HTTP_200_OK
        )
        return self.ok(UploadSerializer(upload, context={"request": request}).data, status=code)


class PartsView(UploadsAPIView):
    required_scopes = {"GET": READ, "POST": WRITE}

    @extend_schema(
        responses=StoredPartsSerializer,
        summary="The parts of a multipart upload that storage holds (to resume)",
    )
    def get(self, request: Request, upload_id: str) -> Response:
        upload, parts = multipart.stored_parts(self.caller(), upload_id)
        return self.ok(
            multipart.plan(upload)
            | {"parts": [{"partNumber": p.number, "size": p.size} for p in parts]}
        )

    @extend_schema(
        request=PartsRequestSerializer,
        responses=SignedPartsSerializer,
        summary="Signed URLs for parts of a multipart upload",
    )
    def post(self, request: Request, upload_id: str) -> Response:
        body = PartsRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        signed = multipart.sign_parts(self.caller(), upload_id, body.validated_data["partNumbers"])
        parts = [
            {
                "partNumber": number,
                "url": request.build_absolute_uri(presigned.url),
                "method": presigned.method,
                "headers": presigned.headers,
            }
            for number, presigned in signed.parts
        ]
        return self.ok({"parts": parts, "expiresIn": signed.expires_in})


class DownloadView(UploadsAPIView):
    required_scopes = {"GET": READ}

    @extend_schema(responses=DownloadSerializer, summary="A short-lived signed GET URL")
    def get(self, request: Request, upload_id: str) -> Response:
        upload = services.get_upload(self.caller(), upload_id)
        data = services.download_url(upload)
        data["url"] = request.build_absolute_uri(data["url"])
        return self.ok(data)


def unknown_path(request: HttpRequest) -> HttpResponse:
    return error_response(request, 404, "not_found", "There is nothing at this address.")


class _EnvelopeTokenView(jwt_views.TokenViewBase):
    # simplejwt's token views, answering in the envelope with the app's errors. (No
    # docstring: the schema takes each view's description from simplejwt's.)

    # simplejwt leaves its `permission_classes = ()` unannotated, so mypy reads it as
    # tuple[()] rather than APIView's Sequence[_PermissionClass].
    permission_classes = [AllowAny]  # type: ignore[assignment]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    def get_exception_handler(self) -> Any:
        return exception_handler

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().post(request, *args, **kwargs)
        return Response(success_body(request, response.data), status=200)


class TokenObtainView(_EnvelopeTokenView, jwt_views.TokenObtainPairView):
    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request.method == "POST":
            ratelimit.hit_login(request, "uploads.token")


class TokenRefreshView(_EnvelopeTokenView, jwt_views.TokenRefreshView):
    pass


class LogoutView(_EnvelopeTokenView, jwt_views.TokenBlacklistView):
    pass
