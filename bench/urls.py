"""The project's URLs plus ``bench/bare``: the cheapest request the real API could answer.

The bare view has the API's own authentication (the project's JWT), permissions (logged in,
``uploads:write`` scope), parser, renderer and error handler, and parses a presign-shaped
body, but does nothing else: no rate limit, no policy lookup, no signing, no insert. The
benchmark divides presign's throughput by this one's.

``bench/floor`` is lower still: a plain DRF ``APIView`` with no authentication, permission or
throttling, DRF's JSON parser and renderer, that parses the body and answers a small JSON
body. It is what Django and DRF cost on this server; bench/wrk_bench.py divides by it.

``s3direct/``: django-s3direct's two signing endpoints (``get_upload_params/``,
``get_aws_v4_signature/``), as its README mounts them, where it is installed (``.[bench]``):
bench/wrk_bench.py measures them beside presign.
"""

from __future__ import annotations

from importlib.util import find_spec

from django.urls import include, path
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config import urls as project_urls
from uploads.api.views import WRITE, UploadsAPIView


class PresignShapeSerializer(serializers.Serializer):  # type: ignore[type-arg]
    type = serializers.CharField()
    contentType = serializers.CharField()
    size = serializers.IntegerField(required=False)
    fileName = serializers.CharField(required=False)
    sha256 = serializers.CharField(required=False)


class BareView(UploadsAPIView):
    required_scopes = {"POST": WRITE}

    def post(self, request: Request) -> Response:
        PresignShapeSerializer(data=request.data).is_valid(raise_exception=True)
        return Response({"success": True, "data": {"ok": True}})


class FloorView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    def post(self, request: Request) -> Response:
        request.data  # noqa: B018 -- parse the body, as any JSON endpoint does
        return Response({"success": True, "data": {"ok": True}})


urlpatterns = [
    path("bench/floor", FloorView.as_view(), name="bench-floor"),
    path("bench/bare", BareView.as_view(), name="bench-bare"),
    *project_urls.urlpatterns,
]
if find_spec("s3direct"):
    urlpatterns.insert(0, path("s3direct/", include("s3direct.urls")))

handler400 = project_urls.handler400
handler403 = project_urls.handler403
handler404 = project_urls.handler404
handler500 = project_urls.handler500
