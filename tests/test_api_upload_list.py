"""The DRF ``UploadsField`` in a host's serializer and view: a list of the caller's uploads in,
the list of uploads out, in order, refusals in the error envelope, and in the schema."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.urls import include, path
from drf_spectacular.generators import SchemaGenerator
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient

from tests.helpers import PDF, assert_error, make_upload, status_of
from tests.hostapp.models import Exhibition
from uploads.api.errors import exception_handler
from uploads.api.fields import UploadsField
from uploads.models import Upload

pytestmark = pytest.mark.urls(__name__)


class ExhibitionSerializer(serializers.ModelSerializer):
    pictures = UploadsField(required=False)  # types and max_files: the model field's

    class Meta:
        model = Exhibition
        fields = ["id", "title", "pictures"]


class ExhibitionsView(generics.ListCreateAPIView):
    serializer_class = ExhibitionSerializer

    def get_exception_handler(self) -> Any:
        return exception_handler

    def get_queryset(self) -> Any:
        return Exhibition.objects.filter(curator=self.request.user)

    def perform_create(self, serializer: Any) -> None:
        with transaction.atomic():
            serializer.save(curator=self.request.user)


class ExhibitionView(generics.UpdateAPIView):
    serializer_class = ExhibitionSerializer

    def get_exception_handler(self) -> Any:
        return exception_handler

    def get_queryset(self) -> Any:
        return Exhibition.objects.filter(curator=self.request.user)

    def patch(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            return super().patch(request, *args, **kwargs)


urlpatterns = [
    path("exhibitions", ExhibitionsView.as_view()),
    path("exhibitions/<int:pk>", ExhibitionView.as_view()),
    path("uploads/", include("uploads.urls")),  # the local storage's files and signed URLs
]


def create(api: APIClient, pictures: Any) -> Any:
    return api.post("/exhibitions", {"title": "t", "pictures": pictures}, format="json")


def test_takes_a_list_in_order_completes_pending_ones_and_answers_the_uploads(
    api: APIClient, user: Any
) -> None:
    first = make_upload(user, "media")
    pending = make_upload(user, "media", complete=False)

    answer = create(api, [str(pending.pk), first.key])

    assert answer.status_code == 201, answer.content
    shown = answer.json()["pictures"]
    assert [(p["id"], p["status"]) for p in shown] == [
        (str(pending.pk), "completed"),
        (str(first.pk), "completed"),
    ]
    assert shown[1]["url"] == f"http://testserver{Upload.objects.get(pk=first.pk).url}"
    row = Exhibition.objects.get(pk=answer.json()["id"])
    assert [u.pk for u in row.pictures] == [pending.pk, first.pk]


@pytest.mark.parametrize(
    "refusal",
    ["another user's", "wrong type", "pending without bytes", "too many", "not a list"],
)
def test_each_refusal_answers_in_the_envelope_and_saves_nothing(
    api: APIClient, user: Any, other_user: Any, refusal: str
) -> None:
    Exhibition.objects.create(curator=user)
    bodies: dict[str, tuple[Any, int, str, str]] = {
        "another user's": (
            [str(make_upload(other_user, "media").pk)],
            404,
            "upload.not_found",
            "No such upload.",
        ),
        "wrong type": (
            [str(make_upload(user, "document", PDF, "application/pdf").pk)],
            409,
            "upload.invalid_state",
            "Only avatar or media uploads fit here; this one is document.",
        ),
        "pending without bytes": (
            [str(make_upload(user, "media", complete=False, put=False).pk)],
            409,
            "upload.not_uploaded",
            "",
        ),
        "too many": (
            [str(make_upload(user, "media").pk) for _ in range(4)],
            400,
            "validation.failed",
            "Ensure this field has no more than 3 elements.",
        ),
        "not a list": ("nope", 400, "validation.failed", "Expected a list of items"),
    }
    body, status, code, message = bodies[refusal]

    error = assert_error(create(api, body), status, code)

    assert message in str(error), error
    assert Exhibition.objects.count() == 1  # only the set-up's


def test_a_patch_reorders_and_releases_what_it_leaves_out(
    api: APIClient, user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    first, second, third = (make_upload(user, "media") for _ in range(3))
    row = Exhibition.objects.create(curator=user)
    row.pictures.set([first, second])

    with django_capture_on_commit_callbacks(execute=True):
        answer = api.patch(
            f"/exhibitions/{row.pk}",
            {"pictures": [str(third.pk), str(second.pk)]},
            format="json",
        )

    assert answer.status_code == 200, answer.content
    assert [p["id"] for p in answer.json()["pictures"]] == [str(third.pk), str(second.pk)]
    assert status_of(first) == "deleted"


def test_the_schema_shows_a_list_of_ids_in_and_of_uploads_out() -> None:
    schema = SchemaGenerator(patterns=urlpatterns[:2]).get_schema(request=None, public=True)
    components = schema["components"]["schemas"]

    request = components["PatchedExhibition"]["properties"]["pictures"]  # the PATCH body
    answer = components["Exhibition"]["properties"]["pictures"]

    assert request["type"] == "array" and request["maxItems"] == 3
    assert request["items"]["type"] == "string"
    assert answer["type"] == "array"
    assert answer["items"]["$ref"].endswith("/AttachedUpload")
