"""Types that strip image metadata: complete re-encodes the verified image without EXIF,
XMP, comments, text chunks or trailing bytes, keeping what it looks like, and records what
it stored. (Each storage's write, and the JPEG and PNG cases on it: test_conformance.)"""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.test import Client
from PIL import Image, ImageCms

from tests.conftest import sha256_b64
from tests.helpers import (
    PDF,
    assert_error,
    assert_ok,
    complete,
    presign_ok,
    staged,
    stored,
    stored_bytes,
)
from tests.metadata_images import jpeg_with_gps, metadata_in, png_with_text_and_trailer
from tests.test_admin import ADD_URL, policy_form, refused
from uploads.models import Upload, UploadPolicy
from uploads.services.admin_actions import reverify_uploads

pytestmark = pytest.mark.django_db


@pytest.fixture
def stripping(edit_policy: Any) -> UploadPolicy:
    return edit_policy("avatar", strip_metadata=True)


def upload_and_complete(
    api: Any, put: Any, body: bytes, content_type: str, capture: Any, **fields: Any
) -> tuple[dict[str, Any], Any]:
    answer = presign_ok(api, body, contentType=content_type, **fields)
    assert put(answer, body).status_code == 200
    with capture(execute=True):
        response = complete(api, answer["id"])
    return answer, response


def test_orientation_is_applied_and_the_colour_profile_kept(
    stripping: Any, api: Any, put: Any, django_capture_on_commit_callbacks: Any
) -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    Image.new("RGB", (30, 10), (10, 200, 30)).save(out, "JPEG", exif=exif, icc_profile=profile)
    body = out.getvalue()
    answer, response = upload_and_complete(
        api, put, body, "image/jpeg", django_capture_on_commit_callbacks
    )
    assert_ok(response)
    with Image.open(io.BytesIO(stored_bytes(answer["key"]))) as image:
        assert image.size == (10, 30)  # upright now, with nothing left to turn it
        assert not image.getexif()
        assert image.info["icc_profile"] == profile


def test_an_animated_image_keeps_its_frames_and_timing(
    stripping: Any, api: Any, put: Any, django_capture_on_commit_callbacks: Any
) -> None:
    frames = [Image.new("RGBA", (6, 6), (i * 100, 0, 0, 255)) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(
        out, "PNG", save_all=True, append_images=frames[1:], duration=[100, 200, 300], loop=2
    )
    answer, response = upload_and_complete(
        api, put, out.getvalue() + b"tail", "image/png", django_capture_on_commit_callbacks
    )
    assert_ok(response)
    with Image.open(io.BytesIO(stored_bytes(answer["key"]))) as image:
        assert image.n_frames == 3
        assert image.info["loop"] == 2
        timing = []
        for index in range(3):
            image.seek(index)
            timing.append(image.info["duration"])
        assert timing == [100, 200, 300]


def test_frames_over_the_pixel_cap_are_refused_and_nothing_is_left(
    edit_policy: Any, api: Any, put: Any, django_capture_on_commit_callbacks: Any
) -> None:
    edit_policy("avatar", strip_metadata=True, max_pixels=100)
    frames = [Image.new("RGB", (8, 8), (i * 100, 0, 0)) for i in range(2)]  # 64 each, 128 in all
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:])
    answer, response = upload_and_complete(
        api, put, out.getvalue(), "image/png", django_capture_on_commit_callbacks
    )
    error = assert_error(response, 422, "upload.verification_failed")
    assert "2 frames of 8 x 8 pixels" in error["details"][0]["message"]
    assert not stored(answer["key"]) and not staged(answer["key"])
    assert Upload.objects.get(pk=answer["id"]).status == Upload.Status.REJECTED


def test_a_file_that_is_not_an_image_is_stored_as_sent(
    edit_policy: Any, api: Any, put: Any, django_capture_on_commit_callbacks: Any
) -> None:
    edit_policy("document", strip_metadata=True)
    answer, response = upload_and_complete(
        api, put, PDF, "application/pdf", django_capture_on_commit_callbacks, type="document"
    )
    assert assert_ok(response)["sha256"] == sha256_b64(PDF)
    assert stored_bytes(answer["key"]) == PDF


def test_re_verifying_a_stripped_upload_keeps_it(
    stripping: Any, api: Any, put: Any, django_capture_on_commit_callbacks: Any
) -> None:
    body = jpeg_with_gps()
    answer, response = upload_and_complete(
        api, put, body, "image/jpeg", django_capture_on_commit_callbacks, sha256=sha256_b64(body)
    )
    assert_ok(response)
    with django_capture_on_commit_callbacks(execute=True):
        assert reverify_uploads(Upload.objects.filter(pk=answer["id"])) == {"completed": 1}


def test_sending_the_same_file_again_reuses_the_stripped_upload(
    stripping: Any, api: Any, put: Any, django_capture_on_commit_callbacks: Any
) -> None:
    body = png_with_text_and_trailer()
    first, response = upload_and_complete(
        api, put, body, "image/png", django_capture_on_commit_callbacks, sha256=sha256_b64(body)
    )
    kept = assert_ok(response)
    again = api.post(
        "/api/v1/uploads/presign",
        {
            "type": "avatar",
            "contentType": "image/png",
            "size": len(body),
            "sha256": sha256_b64(body),
        },
        format="json",
    )
    data = assert_ok(again)
    assert (data["id"], data["deduplicated"], data["sha256"]) == (first["id"], True, kept["sha256"])
    assert metadata_in(stored_bytes(first["key"])) == {}


def test_the_types_list_says_which_types_strip(stripping: Any, api: Any) -> None:
    types = {t["type"]: t for t in assert_ok(api.get("/api/v1/uploads/types"))}
    assert types["avatar"]["stripMetadata"] is True
    assert types["media"]["stripMetadata"] is False


def test_the_admin_turns_stripping_on(admin_client: Client) -> None:
    response = admin_client.post(ADD_URL, policy_form(strip_metadata="on"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert UploadPolicy.objects.get(name="report").strip_metadata is True


def test_the_admin_refuses_stripping_a_type_it_cannot_decode(admin_client: Client) -> None:
    errors = refused(
        admin_client,
        "strip_metadata",
        strip_metadata="on",
        allowed_content_types="image/jpeg\nimage/heic",
    )
    assert "image/heic" in errors[0]
