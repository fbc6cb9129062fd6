"""What complete refuses past the magic bytes: images that do not decode or are too large,
text a browser would render as a document, JSON that does not parse; and the file name a
download is saved under."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import pytest
import requests
from django.core.checks import run_checks
from django.core.files.storage import storages
from PIL import Image, ImageFile
from rest_framework.test import APIClient

from tests.backends.azure import AzureBackend
from tests.backends.s3 import S3Backend, send_answer
from tests.conftest import make_png
from tests.helpers import PDF, assert_error, assert_ok, complete, presign_ok, use_storage
from tests.helpers import write_object as write_default
from uploads.models import Upload, UploadPolicy
from uploads.policies import bump_version

MB = 1024 * 1024


def encoded(fmt: str, width: int = 16, height: int = 16, **options: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, fmt, **options)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` with one tiny row of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00" * 7))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def notes(db: Any) -> UploadPolicy:
    """A private type for text files."""
    policy = UploadPolicy.objects.create(
        name="notes",
        label="Notes",
        allowed_content_types=["text/plain", "text/csv", "application/json"],
        max_size=MB,
        key_prefix="notes",
    )
    bump_version()
    return policy


def send(api: APIClient, body: bytes, **fields: Any) -> tuple[dict[str, Any], Any]:
    """Presign, store ``body`` at the key as any client could, and complete."""
    data = presign_ok(api, body, **fields)
    write_default(data["key"], body)
    return data, complete(api, data["id"])


def assert_refused(data: dict[str, Any], response: Any, words: str) -> None:
    error = assert_error(response, 422, "upload.verification_failed")
    assert [d["field"] for d in error["details"]] == ["contentType"], error["details"]
    assert words in error["details"][0]["message"], error["details"]
    assert not storages["default"].exists(data["key"])
    assert Upload.objects.get(pk=data["id"]).status == "rejected"


# --- images -----------------------------------------------------------------------------


def test_a_png_header_claiming_50000_squared_pixels_is_refused(api: APIClient) -> None:
    data, response = send(api, png_header_only(50_000, 50_000))

    # A header this big trips Pillow's own guard (2 x MAX_IMAGE_PIXELS) as it is opened, before
    # the type's cap is compared: test_the_pixel_cap_is_the_types_own proves that cap.
    assert_refused(data, response, "The image is over the limit of 40000000 pixels.")


def test_pillows_guard_below_the_types_cap_names_its_own_limit(
    api: APIClient, edit_policy: Any
) -> None:
    edit_policy("avatar", max_pixels=1_000_000_000)  # more than Pillow opens
    data, response = send(api, png_header_only(50_000, 50_000))

    pillows = 2 * (Image.MAX_IMAGE_PIXELS or 0)
    assert_refused(data, response, f"The image is over the limit of {pillows} pixels.")


def test_the_png_signature_followed_by_html_is_refused(api: APIClient) -> None:
    body = b"\x89PNG\r\n\x1a\n<html><body><script>alert(1)</script></body></html>"

    data, response = send(api, body)

    assert_refused(data, response, "not a readable PNG image")


@pytest.mark.parametrize(
    ("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
)
def test_a_truncated_image_is_refused(api: APIClient, fmt: str, mime: str) -> None:
    whole = encoded(fmt, 64, 64, **({"quality": 95} if fmt != "PNG" else {}))
    cut = whole[: len(whole) * 2 // 3]

    data, response = send(api, cut, type="media", contentType=mime)

    assert_refused(data, response, "")


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_whole_images_of_each_allowed_format_complete(api: APIClient, fmt: str, mime: str) -> None:
    data, response = send(api, encoded(fmt), type="media", contentType=mime)

    assert assert_ok(response)["status"] == "completed"


def test_the_pixel_cap_is_the_types_own(api: APIClient, edit_policy: Any) -> None:
    edit_policy("avatar", max_pixels=20 * 20)
    data, response = send(api, make_png(20, 20))
    assert assert_ok(response)["status"] == "completed"

    data, response = send(api, make_png(21, 20))

    assert_refused(data, response, "21 x 20 pixels, over the limit of 400")


def test_a_jpeg_declared_as_png_is_refused(api: APIClient) -> None:
    data, response = send(api, encoded("JPEG"))

    # The magic bytes refuse it, not the PNG decoder that would refuse it too.
    assert_refused(data, response, "The file's bytes are not image/png.")


def test_images_are_not_verified_while_pillow_pads_truncated_ones(
    api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)

    data, response = send(api, make_png(4, 4))

    assert_refused(data, response, "LOAD_TRUNCATED_IMAGES")


def test_an_image_over_the_read_limit_is_refused_unread(
    api: APIClient, settings: Any, edit_policy: Any
) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "VERIFY_READ_LIMIT": 100}
    body = make_png(8, 8, extra=b"x" * 200)

    data, response = send(api, body)

    assert_refused(data, response, "over 100 bytes cannot be verified")


def test_a_type_reading_images_whole_may_not_exceed_the_read_limit(settings: Any, db: Any) -> None:
    from django.core.exceptions import ValidationError

    settings.UPLOADS = {**settings.UPLOADS, "VERIFY_READ_LIMIT": MB}
    policy = UploadPolicy.objects.get(name="avatar")  # 5 MB of images

    with pytest.raises(ValidationError) as raised:
        policy.clean()

    assert "VERIFY_READ_LIMIT" in str(raised.value.message_dict["max_size"])
    found = [m for m in run_checks(databases=["default"]) if m.id == "uploads.W003"]
    names = [m.msg.split(":")[0] for m in found]
    assert names == [f"Upload type '{n}'" for n in ("avatar", "document", "media")]


# --- text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><body>hi</body></html>",
        b"\n  <html><script>alert(1)</script>",
        b"\xef\xbb\xbf<SCRIPT>alert(1)</SCRIPT>",
        b"<svg onload=alert(1)>",
        b"<?xml version='1.0'?><x/>",
        b"<!-- comment --><p>hi",
    ],
)
@pytest.mark.parametrize("mime", ["text/plain", "text/csv"])
def test_text_a_browser_would_render_as_a_document_is_refused(
    api: APIClient, notes: UploadPolicy, body: bytes, mime: str
) -> None:
    data, response = send(api, body, type="notes", contentType=mime)

    assert_refused(data, response, "HTML or XML")


def test_text_that_merely_mentions_markup_completes(api: APIClient, notes: UploadPolicy) -> None:
    body = b"Use <b> for bold, and <html> starts a page.\n"

    data, response = send(api, body, type="notes", contentType="text/plain")

    assert assert_ok(response)["status"] == "completed"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"<html><body>hi</body></html>", "not valid JSON"),
        (b'{"a": 1', "not valid JSON"),
        (b'{"a": 1} trailing', "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON"),
    ],
)
def test_json_that_does_not_parse_is_refused(
    api: APIClient, notes: UploadPolicy, body: bytes, words: str
) -> None:
    data, response = send(api, body, type="notes", contentType="application/json")

    assert_refused(data, response, words)


def test_json_that_parses_completes(api: APIClient, notes: UploadPolicy) -> None:
    body = '{"name": "café", "tags": ["a", "b"]}'.encode()

    data, response = send(api, body, type="notes", contentType="application/json")

    assert assert_ok(response)["status"] == "completed"


# --- real storages: an unbound size or type ---------------------------------------------


def test_html_sent_as_text_to_azure_is_refused(
    api: APIClient, notes: UploadPolicy, azure_backend: AzureBackend, settings: Any
) -> None:
    use_storage(settings, azure_backend.storage_config())
    body = b"<!doctype html><script>alert(1)</script>"
    data = presign_ok(api, body, type="notes", contentType="text/plain")
    sent = requests.put(data["uploadUrl"], data=body, headers=data["headers"], timeout=10)
    assert sent.status_code == 201, sent.text

    error = assert_error(complete(api, data["id"]), 422, "upload.verification_failed")

    assert "HTML or XML" in error["details"][0]["message"]
    assert azure_backend.read(data["key"]) is None


def test_a_png_header_for_a_huge_image_sent_to_s3_is_refused(
    api: APIClient, s3_backend: S3Backend, settings: Any
) -> None:
    use_storage(settings, s3_backend.storage_config())
    body = png_header_only(50_000, 50_000)
    data = presign_ok(api, body)
    assert send_answer(data, body, data["headers"]).status == 200

    error = assert_error(complete(api, data["id"]), 422, "upload.verification_failed")

    message = "The image is over the limit of 40000000 pixels."  # Pillow's guard, see above
    assert [d["message"] for d in error["details"]] == [message]
    assert s3_backend.read(data["key"]) is None


# --- download names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "saved_as"),
    [("Q3 report.html", "Q3 report.pdf"), ("Q3 report", "Q3 report.pdf"), ("", None)],
)
def test_a_document_downloads_with_the_extension_of_its_verified_type(
    api: APIClient, file_name: str, saved_as: str | None
) -> None:
    data, response = send(
        api, PDF, type="document", contentType="application/pdf", fileName=file_name
    )
    assert_ok(response)

    link = assert_ok(api.get(f"/api/v1/uploads/{data['id']}/download"))
    served = APIClient().get(link["url"])

    disposition = served["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert (saved_as or f"{data['id']}.pdf") in disposition
    assert ".html" not in disposition
