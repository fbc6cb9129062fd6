"""The DRF ``UploadField`` in a host's own serializer and view: it takes the caller's upload
by id, key or publicUrl, completes a pending one, and refuses in the contract's envelope."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import transaction
from django.urls import include, path
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from accounts.models import MediaItem
from tests.conftest import client_for
from tests.helpers import (
    absolute_public_url,
    assert_error,
    make_upload,
    status_of,
    stored,
    stored_bytes,
    without_correlation,
)
from uploads.api.errors import exception_handler
from uploads.api.fields import UploadField
from uploads.models import Upload

pytestmark = pytest.mark.urls(__name__)


class AlbumEntrySerializer(serializers.ModelSerializer):
    upload = UploadField(types=["media"])

    class Meta:
        model = MediaItem
        fields = ["id", "title", "upload"]


class InferredTypesSerializer(serializers.ModelSerializer):
    upload = UploadField()  # MediaItem.upload's types: settings.ACCOUNTS_MEDIA_TYPES

    class Meta:
        model = MediaItem
        fields = ["id", "title", "upload"]


class EntriesView(APIView):
    serializer_class: Any = AlbumEntrySerializer

    def get_exception_handler(self) -> Any:
        return exception_handler

    def post(self, request: Request) -> Response:
        body = self.serializer_class(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        with transaction.atomic():
            body.save(owner=request.user)
        return Response(body.data, status=201)


class EntryView(EntriesView):
    def patch(self, request: Request, pk: str) -> Response:
        item = MediaItem.objects.get(pk=pk, owner=request.user)
        body = self.serializer_class(
            item, data=request.data, partial=True, context={"request": request}
        )
        body.is_valid(raise_exception=True)
        with transaction.atomic():
            body.save()
        return Response(body.data)


class InferredTypesView(EntriesView):
    serializer_class = InferredTypesSerializer


class NaiveSerializer(serializers.ModelSerializer):
    """A host that forgot the field: DRF makes it a PrimaryKeyRelatedField over all uploads."""

    class Meta:
        model = MediaItem
        fields = ["id", "title", "upload"]


class NaiveView(EntriesView):
    serializer_class = NaiveSerializer


class DefaultHandlerView(EntriesView):
    def get_exception_handler(self) -> Any:
        return drf_exception_handler


urlpatterns = [
    path("entries", EntriesView.as_view()),
    path("entries/<uuid:pk>", EntryView.as_view()),
    path("inferred", InferredTypesView.as_view()),
    path("naive", NaiveView.as_view()),
    path("default-handler", DefaultHandlerView.as_view()),
    path("uploads/", include("uploads.urls")),  # the local storage's files and signed URLs
]


def post(api: APIClient, body: dict[str, Any], url: str = "/entries") -> Any:
    return api.post(url, body, format="json")


def test_takes_the_callers_upload_by_id_key_or_public_url_and_shows_it(
    api: APIClient, user: Any
) -> None:
    uploads = [make_upload(user, "media") for _ in range(3)]
    refs = [str(uploads[0].pk), uploads[1].key, absolute_public_url(uploads[2])]

    for upload, ref in zip(uploads, refs, strict=True):
        response = post(api, {"upload": ref, "title": "t"})
        assert response.status_code == 201, response.content
        shown = response.json()["upload"]
        assert shown["id"] == str(upload.pk) and shown["status"] == "completed"
        assert shown["publicUrl"] == absolute_public_url(upload)

    assert sorted(MediaItem.objects.values_list("upload_id", flat=True)) == sorted(
        u.pk for u in uploads
    )


def test_completes_a_pending_upload(api: APIClient, user: Any) -> None:
    pending = make_upload(user, "media", complete=False)

    response = post(api, {"upload": str(pending.pk)})

    assert response.status_code == 201, response.content
    assert response.json()["upload"]["status"] == "completed"
    assert status_of(pending) == "completed"


def test_another_users_upload_answers_exactly_as_a_missing_one(
    api: APIClient, other_user: Any
) -> None:
    theirs = make_upload(other_user, "media")
    gone = str(uuid.uuid4())
    for ref in (str(theirs.pk), theirs.key, absolute_public_url(theirs)):
        missing = ref.replace(str(theirs.pk), gone)

        error = assert_error(post(api, {"upload": ref}), 404, "upload.not_found")
        error_missing = assert_error(post(api, {"upload": missing}), 404, "upload.not_found")

        assert without_correlation(error) == without_correlation(error_missing)
    assert not MediaItem.objects.exists()
    assert status_of(theirs) == "completed" and stored(theirs.key)


def test_an_upload_of_another_type_is_refused_untouched(api: APIClient, user: Any) -> None:
    avatar = make_upload(user, complete=False)

    error = assert_error(post(api, {"upload": str(avatar.pk)}), 409, "upload.invalid_state")

    assert error["i18nVars"] == {"type": "avatar", "expected": ["media"]}
    assert status_of(avatar) == "pending"
    assert not MediaItem.objects.exists()


def test_a_rejected_upload_is_refused(api: APIClient, user: Any) -> None:
    upload = make_upload(user, "media")
    Upload.objects.filter(pk=upload.pk).update(status="rejected")

    assert_error(post(api, {"upload": str(upload.pk)}), 409, "upload.invalid_state")

    assert not MediaItem.objects.exists()


@pytest.mark.parametrize("value", [5, None, ["x"], {"id": "x"}, "", "x" * 2049])
def test_a_value_that_names_nothing_is_a_validation_error(
    api: APIClient, user: Any, value: Any
) -> None:
    error = assert_error(post(api, {"upload": value}), 400, "validation.failed")

    assert [d["field"] for d in error["details"]] == ["upload"]
    assert not MediaItem.objects.exists()


def test_an_upload_whose_bytes_lie_is_rejected_and_nothing_is_saved(
    api: APIClient, user: Any
) -> None:
    lie = make_upload(user, "media", b"GIF89a" + b"\x00" * 40, "image/png", complete=False)

    error = assert_error(post(api, {"upload": str(lie.pk)}), 422, "upload.verification_failed")

    assert error["details"]
    assert status_of(lie) == "rejected" and not stored(lie.key)
    assert not MediaItem.objects.exists()


def test_without_types_a_model_serializer_takes_the_model_fields(
    api: APIClient, user: Any, settings: Any
) -> None:
    avatar = make_upload(user)

    error = assert_error(
        post(api, {"upload": str(avatar.pk)}, "/inferred"), 409, "upload.invalid_state"
    )
    assert error["i18nVars"]["expected"] == ["media"]

    settings.ACCOUNTS_MEDIA_TYPES = ["media", "avatar"]
    response = post(api, {"upload": str(avatar.pk)}, "/inferred")
    assert response.status_code == 201, response.content
    assert MediaItem.objects.get().upload_id == avatar.pk


def test_replacing_the_upload_releases_the_previous_one_once_committed(
    api: APIClient, user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    before, after = make_upload(user, "media"), make_upload(user, "media")
    item = MediaItem.objects.create(owner=user, upload=before, title="t")

    with django_capture_on_commit_callbacks(execute=True):
        response = api.patch(f"/entries/{item.pk}", {"upload": after.key}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["upload"]["id"] == str(after.pk)
    assert status_of(before) == "deleted" and not stored(before.key)
    assert status_of(after) == "completed" and stored(after.key)


def test_with_drfs_own_exception_handler_a_refusal_keeps_its_status(
    user: Any, other_user: Any
) -> None:
    theirs = make_upload(other_user, "media")

    response = post(client_for(user), {"upload": str(theirs.pk)}, "/default-handler")

    assert response.status_code == 404
    assert response.json() == {"detail": "No such upload."}


def test_a_serializer_without_the_field_still_cannot_take_another_users_upload(
    api: APIClient, user: Any, other_user: Any
) -> None:
    theirs = make_upload(other_user, "media")

    assert_error(post(api, {"upload": str(theirs.pk)}, "/naive"), 409, "upload.invalid_state")

    assert not MediaItem.objects.exists()
    assert Upload.objects.get(pk=theirs.pk).owner == other_user


class BookletSerializer(serializers.Serializer):
    booklet = UploadField(types=["document"])  # a private type


def test_the_answer_carries_the_files_url_public_or_freshly_signed(
    api: APIClient, user: Any
) -> None:
    public = make_upload(user, "media")
    shown = post(api, {"upload": str(public.pk), "title": "t"}).json()["upload"]
    assert shown["url"] == absolute_public_url(public)

    private = make_upload(user, "document", file_name="terms.png")
    request = Request(APIRequestFactory().get("/"))
    shown = BookletSerializer({"booklet": private}, context={"request": request}).data["booklet"]
    assert shown["publicUrl"] is None
    assert shown["url"].startswith("http://testserver/uploads/local/get/")
    downloaded = api.get(shown["url"])
    assert downloaded.status_code == 200
    assert b"".join(downloaded.streaming_content) == stored_bytes(private.key)
