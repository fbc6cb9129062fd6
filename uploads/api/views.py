"""Thin views: parse, call a service, wrap the answer in the envelope."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from drf_spectacular.utils import OpenApiExample, extend_schema_view
from rest_framework import status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt import views as jwt_views

from uploads import lockouts, services
from uploads.api import ratelimit, strict_schema  # noqa: F401  (registers the extension)
from uploads.api.envelope import error_response, success_body
from uploads.api.errors import RateLimited, exception_handler
from uploads.api.fast_bodies import FastBody
from uploads.api.negotiation import JSONFirstNegotiation
from uploads.api.pagination import EnvelopePagination
from uploads.api.parsers import JSONParser
from uploads.api.permissions import READ, WRITE, HasScope
from uploads.api.renderers import JSONRenderer
from uploads.api.schema import (
    AUTHENTICATED,
    COMPLETING,
    STORAGE,
    WITH_BODY,
    AccessTokenSerializer,
    PaginatedMetaSerializer,
    RateLimitedMetaSerializer,
    TokenPairSerializer,
    empty_object,
    operation,
)
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
    absolute,
    described,
)
from uploads.counting import counting_ahead, reading_ahead
from uploads.models import Upload
from uploads.policies import VERSION_KEY, registry
from uploads.services import multipart
from uploads.types import User


class UploadsAPIView(APIView):
    """The app's own parsing, rendering, permissions and errors, whatever the project's
    REST_FRAMEWORK defaults; authentication stays the project's choice."""

    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONFirstNegotiation
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

    @operation(
        operation_id="listUploadTypes",
        tag="uploads",
        summary="The active upload types and their rules",
        description="What a client may upload: each type's allowed content types, size cap, "
        "URL lifetime, whether it needs a size or a sha256 and when it goes in parts.",
        ok={200: ("UploadTypeList", UploadTypeSerializer(many=True))},
        errors=[AUTHENTICATED],
    )
    def get(self, request: Request) -> Response:
        return self.ok(UploadTypeSerializer(registry.active(), many=True).data)


presign_body = FastBody(PresignRequestSerializer)


class PresignView(UploadsAPIView):
    required_scopes = {"POST": WRITE}
    rate: ratelimit.RateInfo | None = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # A POST's rate-limit count, with the upload types' revision, may go in the round
        # trip of the authentication's cache read (uploads.counting.read_for_user).
        ahead = None
        if request.method == "POST":  # not a 405 or an OPTIONS
            ahead = ratelimit.count_ahead("uploads.presign", read_ahead=[VERSION_KEY])
        with reading_ahead(), counting_ahead(ahead):
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        try:
            super().initial(request, *args, **kwargs)  # authentication comes first
        except BaseException:
            ratelimit.take_back()  # counted while authenticating a request refused since
            raise
        if request.method == "POST":
            # The upload types' revision, which presign checks next, in the same round trip.
            self.rate = ratelimit.hit(request, "uploads.presign", read_ahead=[VERSION_KEY])

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        if self.rate is not None:
            for name, value in self.rate.headers().items():
                response[name] = value
        return super().finalize_response(request, response, *args, **kwargs)

    @operation(
        operation_id="presignUpload",
        tag="uploads",
        summary="Start an upload: a short-lived signed URL for one object",
        description="201 with the pending upload and where to send it: `uploadUrl`, `method` "
        "and exactly the `headers` to send (or `multipart`, the part size and count, for a "
        "file that goes in parts: ask for the parts' URLs next). 200 with `deduplicated: true` "
        "when the caller already has this file (same sha256 and type, completed): nothing to "
        "send. Rate limited per user: `X-RateLimit-Limit/Remaining/Reset` and "
        "`meta.rateLimit` say where the caller stands.",
        request=PresignRequestSerializer,
        ok={
            201: ("Presign", PresignResponseSerializer(), RateLimitedMetaSerializer),
            200: ("Presign", PresignResponseSerializer(), RateLimitedMetaSerializer),
        },
        errors=[
            AUTHENTICATED,
            WITH_BODY,
            {
                400: [
                    "upload.invalid_type",
                    "upload.invalid_content_type",
                    "upload.invalid_size",
                    "upload.too_large",
                    "upload.invalid_checksum",
                    "upload.multipart_unsupported",
                ],
                429: ["upload.quota_exceeded"],
            },
            STORAGE,
        ],
        examples=[
            OpenApiExample(
                "An avatar",
                value={
                    "type": "avatar",
                    "contentType": "image/png",
                    "size": 48213,
                    "fileName": "me.png",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        v = presign_body.validate(request.data)
        if v is None:  # the serializer's errors, or a body the fast path leaves to it
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
        data = described(result.upload, request, variants=False)
        data |= {"expiresIn": result.expires_in, "maxSize": result.max_size}
        if result.deduplicated:
            data["deduplicated"] = True
        elif result.upload.is_multipart:
            data["multipart"] = multipart.plan(result.upload)
        else:
            presigned = result.presigned
            assert presigned is not None
            data |= {
                "uploadUrl": absolute(request, presigned.url),
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

    @operation(
        operation_id="listUploads",
        parameters=[UploadListQuerySerializer],
        tag="uploads",
        summary="The caller's uploads, newest first",
        description="Paginated: `meta.pagination` has the page, its size, the total and the "
        "next and previous pages' URLs. A page past the last is empty.",
        ok={200: ("UploadList", UploadSerializer(many=True), PaginatedMetaSerializer)},
        errors=[AUTHENTICATED, {400: []}],
    )
    def get(self, request: Request) -> Response:
        query = UploadListQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        uploads = (
            services.owned_uploads(self.caller())
            .order_by("-created_at", "-id")
            .prefetch_related("policy__variant_specs", "variant_records")
        )
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

    @operation(
        operation_id="getUpload",
        tag="uploads",
        summary="One upload of the caller",
        description="Poll it after a 202 from complete until it is completed or rejected.",
        ok={200: ("Upload", UploadSerializer())},
        errors=[AUTHENTICATED, {404: ["upload.not_found"]}],
    )
    def get(self, request: Request, upload_id: str) -> Response:
        upload = services.get_upload(self.caller(), upload_id)
        return self.ok(UploadSerializer(upload, context={"request": request}).data)

    @operation(
        operation_id="deleteUpload",
        tag="uploads",
        summary="Abort or delete an upload and its object",
        description="200 with the upload as it was deleted; its stored object is removed "
        "once the deletion commits. An upload in use (an avatar, a media item, any "
        "UploadField) answers 409 `upload.invalid_state`.",
        ok={200: ("Upload", UploadSerializer())},
        errors=[AUTHENTICATED, {404: ["upload.not_found"], 409: ["upload.invalid_state"]}],
    )
    def delete(self, request: Request, upload_id: str) -> Response:
        upload = services.delete_upload(self.caller(), upload_id)
        return self.ok(UploadSerializer(upload, context={"request": request}).data)


class CompleteView(UploadsAPIView):
    required_scopes = {"POST": WRITE}
    parser_classes: list[Any] = []  # the body is ignored

    @operation(
        operation_id="completeUpload",
        tag="uploads",
        request=None,
        summary="Verify the stored object",
        description="The server checks what storage holds (size, magic bytes, sha256), not "
        "what the client says. 200 with the upload completed; 202 with it `verifying` when "
        "the check runs in the background (large files, multipart uploads): poll "
        "GET /uploads/{id} until it is completed or rejected. A file that is not what was "
        "declared is deleted and answers 422. Any body is ignored.",
        ok={200: ("Upload", UploadSerializer()), 202: ("Upload", UploadSerializer())},
        errors=[AUTHENTICATED, COMPLETING, STORAGE],
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

    @operation(
        operation_id="listStoredParts",
        tag="uploads",
        summary="The parts of a multipart upload that storage holds (to resume)",
        description="The part size and count, and each part storage already holds with its "
        "size: a client resuming an interrupted upload sends only the others.",
        ok={200: ("StoredParts", StoredPartsSerializer())},
        errors=[
            AUTHENTICATED,
            {
                400: ["upload.multipart_unsupported"],
                404: ["upload.not_found"],
                409: ["upload.invalid_state"],
                410: ["upload.expired"],
            },
            STORAGE,
        ],
    )
    def get(self, request: Request, upload_id: str) -> Response:
        upload, parts = multipart.stored_parts(self.caller(), upload_id)
        return self.ok(
            multipart.plan(upload)
            | {"parts": [{"partNumber": p.number, "size": p.size} for p in parts]}
        )

    @operation(
        operation_id="signParts",
        tag="uploads",
        summary="Signed URLs for parts of a multipart upload",
        description="Up to 100 part numbers (from 1 to the upload's partCount) at a time; "
        "PUT each part to its `url` with its `headers`, then call complete.",
        request=PartsRequestSerializer,
        ok={200: ("SignedParts", SignedPartsSerializer())},
        errors=[
            AUTHENTICATED,
            WITH_BODY,
            {
                400: ["upload.multipart_unsupported"],
                404: ["upload.not_found"],
                409: ["upload.invalid_state"],
                410: ["upload.expired"],
            },
            STORAGE,
        ],
        examples=[
            OpenApiExample(
                "The first three parts", value={"partNumbers": [1, 2, 3]}, request_only=True
            )
        ],
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

    @operation(
        operation_id="getDownloadUrl",
        tag="uploads",
        summary="A short-lived signed GET URL for a completed upload",
        description="For private types too: `url` reads the file for `expiresIn` seconds.",
        ok={200: ("Download", DownloadSerializer())},
        errors=[
            AUTHENTICATED,
            {404: ["upload.not_found"], 409: ["upload.invalid_state"]},
            STORAGE,
        ],
    )
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


_TOKEN_ERRORS = [WITH_BODY, {401: ["auth.unauthorized"], 500: []}]


@extend_schema_view(
    post=operation(
        operation_id="obtainToken",
        tag="auth",
        summary="Log in: a JWT access token and a refresh token",
        description="Send the user name and password. Too many wrong passwords for one user "
        "name from one address, or for any names from one address, lock that out for a while "
        "(429 `rate_limited` with Retry-After); the user from another address is not.",
        ok={200: ("TokenPair", TokenPairSerializer())},
        errors=[*_TOKEN_ERRORS, {429: []}],
        examples=[
            OpenApiExample(
                "Log in", value={"username": "demo", "password": "secret"}, request_only=True
            )
        ],
    )
)
class TokenObtainView(_EnvelopeTokenView, jwt_views.TokenObtainPairView):
    def handle_exception(self, exc: Exception) -> Response:
        # django-axes' authentication backend refused a locked-out client (or this failure
        # locked it out): it marks the request, and authenticate() answers None.
        if getattr(self.request, "axes_locked_out", False):
            seconds = lockouts.retry_after(self.request, None)
            exc = RateLimited(retry_after=seconds, headers={})
        return super().handle_exception(exc)


@extend_schema_view(
    post=operation(
        operation_id="refreshToken",
        tag="auth",
        summary="A new access token (and a new refresh token) for a refresh token",
        description="The refresh token sent can no longer be used: keep the new one. Using a "
        "spent one again is taken for a theft and revokes them all (401).",
        ok={200: ("TokenRefresh", AccessTokenSerializer())},
        errors=_TOKEN_ERRORS,
    )
)
class TokenRefreshView(_EnvelopeTokenView, jwt_views.TokenRefreshView):
    pass


@extend_schema_view(
    post=operation(
        operation_id="logout",
        tag="auth",
        summary="Log out: revoke a refresh token",
        description="That refresh token can no longer be used; access tokens made from it "
        "run out within minutes.",
        ok={200: ("Logout", empty_object())},
        errors=_TOKEN_ERRORS,
    )
)
class LogoutView(_EnvelopeTokenView, jwt_views.TokenBlacklistView):
    pass
