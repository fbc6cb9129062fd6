"""The complete step, the trust boundary: only what storage holds is believed."""

from __future__ import annotations

import io
import logging
import struct
import zipfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.storage import storages
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import make_png, sha256_b64
from tests.helpers import (
    assert_error,
    complete,
    presign_ok,
    staged,
    status_of,
    without_field_values,
    write_object,
)
from uploads import content_types
from uploads.models import Upload
from uploads.signals import upload_completed, upload_rejected


class SignalLog:
    def __init__(self) -> None:
        self.completed: list[Upload] = []
        self.rejected: list[tuple[Upload, list[dict[str, Any]]]] = []

    def on_completed(self, sender: Any, upload: Upload, **kwargs: Any) -> None:
        self.completed.append(upload)

    def on_rejected(
        self, sender: Any, upload: Upload, reasons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        self.rejected.append((upload, reasons))


@pytest.fixture
def signal_log() -> Iterator[SignalLog]:
    log = SignalLog()
    upload_completed.connect(log.on_completed)
    upload_rejected.connect(log.on_rejected)
    yield log
    upload_completed.disconnect(log.on_completed)
    upload_rejected.disconnect(log.on_rejected)


def test_complete_before_the_put_is_not_uploaded(api: APIClient, png: bytes) -> None:
    data = presign_ok(api, png)

    assert_error(complete(api, data["id"]), 409, "upload.not_uploaded")

    assert status_of(data["id"]) == "pending"


def test_complete_after_expiry_without_object_is_expired(
    api: APIClient, put: Callable[..., Any], png: bytes
) -> None:
    data = presign_ok(api, png)
    Upload.objects.filter(pk=data["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert_error(complete(api, data["id"]), 410, "upload.expired")
    assert status_of(data["id"]) == "expired"
    assert_error(complete(api, data["id"]), 410, "upload.expired")
    assert status_of(data["id"]) == "expired"
    # The URL no longer takes the file either.
    assert_error(put(data, png), 409, "upload.invalid_state")
    assert not storages["default"].exists(data["key"])


def test_object_that_arrived_before_expiry_still_completes(
    api: APIClient, uploaded: Callable[..., Any]
) -> None:
    data = uploaded()
    Upload.objects.filter(pk=data["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = complete(api, data["id"])

    assert response.status_code == 200, response.content
    assert status_of(data["id"]) == "completed"


def assert_rejected(
    api: APIClient, data: dict[str, Any], response: Any, field: str
) -> dict[str, Any]:
    error = assert_error(response, 422, "upload.verification_failed")
    reasons = [d for d in error["details"] if d["field"] == field]
    assert reasons, error["details"]
    assert not storages["default"].exists(data["key"])
    upload = Upload.objects.get(pk=data["id"])
    assert upload.status == "rejected"
    assert reasons[0]["message"] in upload.rejection_reason
    again = assert_error(complete(api, data["id"]), 409, "upload.invalid_state")
    assert again["i18nVars"] == {"status": "rejected"}
    return reasons[0]


@pytest.mark.parametrize("stored_size_delta", [-1, +1])
def test_size_other_than_declared_is_rejected(
    api: APIClient, png: bytes, stored_size_delta: int
) -> None:
    data = presign_ok(api, png)
    body = png[:-1] if stored_size_delta < 0 else png + b"\x00"
    write_object(data["key"], body)

    reason = assert_rejected(api, data, complete(api, data["id"]), "size")

    assert reason["expected"] == len(png)
    assert reason["actual"] == len(body)


def test_unsized_upload_over_its_cap_is_rejected(api: APIClient, settings: Any) -> None:
    from uploads.models import UploadPolicy
    from uploads.policies import bump_version

    UploadPolicy.objects.filter(name="avatar").update(require_size=False, max_size=100)
    bump_version()
    data = presign_ok(api)
    big = make_png(4, 4, extra=b"x" * 200)
    write_object(data["key"], big)

    reason = assert_rejected(api, data, complete(api, data["id"]), "size")

    assert reason["expected"] == 100 and reason["actual"] == len(big)


def test_bytes_not_of_the_declared_type_are_rejected(api: APIClient) -> None:
    html = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
    data = presign_ok(api, html)
    write_object(data["key"], html)

    reason = assert_rejected(api, data, complete(api, data["id"]), "contentType")

    assert reason["expected"] == "image/png"
    assert reason["message"] == "The file's bytes are not image/png."  # not the decoder's


def test_bytes_not_of_the_declared_type_are_rejected_even_through_the_put(
    api: APIClient, put: Callable[..., Any]
) -> None:
    html = b"<html><body>not a png</body></html>"
    data = presign_ok(api, html)
    assert put(data, html).status_code == 200  # the receiver checks headers, not bytes

    reason = assert_rejected(api, data, complete(api, data["id"]), "contentType")

    assert reason["message"] == "The file's bytes are not image/png."


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("report.txt", "not a PDF")
    return out.getvalue()


ZIP = _zip()


@pytest.mark.parametrize("body", [ZIP, bytes(range(256)) * 4], ids=["zip", "binary"])
def test_a_document_whose_bytes_are_not_a_pdf_is_refused_by_its_magic_bytes(
    api: APIClient, body: bytes
) -> None:
    """No decoder reads a PDF: the magic bytes are the only check that can refuse these."""
    data = presign_ok(api, body, type="document", contentType="application/pdf")
    write_object(data["key"], body)

    reason = assert_rejected(api, data, complete(api, data["id"]), "contentType")

    assert reason["message"] == "The file's bytes are not application/pdf."


def test_sha256_other_than_declared_is_rejected(api: APIClient) -> None:
    declared = make_png(4, 4, extra=b"a")
    stored = make_png(4, 4, extra=b"b")
    assert len(declared) == len(stored)
    data = presign_ok(api, declared, sha256=sha256_b64(declared))
    write_object(data["key"], stored)

    reason = assert_rejected(api, data, complete(api, data["id"]), "sha256")

    assert reason["expected"] == sha256_b64(declared)
    assert reason["actual"] == sha256_b64(stored)


def test_complete_twice_returns_the_same_answer_and_signals_once(
    api: APIClient,
    uploaded: Callable[..., Any],
    png: bytes,
    signal_log: SignalLog,
    django_capture_on_commit_callbacks: Any,
) -> None:
    data = uploaded(sha256=sha256_b64(png))

    with django_capture_on_commit_callbacks(execute=True):
        first = complete(api, data["id"])
    with django_capture_on_commit_callbacks(execute=True):
        second = complete(api, data["id"])

    assert first.status_code == 200, first.content
    assert second.status_code == 200
    # The avatar's thumb variant is made once the first completion commits.
    made = second.json()["data"].pop("variants")
    assert first.json()["data"].pop("variants") == {"thumb": None} and made["thumb"]
    assert without_field_values(second.json()["data"]) == without_field_values(first.json()["data"])
    body = first.json()["data"]
    assert body["status"] == "completed"
    assert body["size"] == len(png) and body["sha256"] == sha256_b64(png)
    assert [str(u.pk) for u in signal_log.completed] == [data["id"]]
    assert signal_log.completed[0].status == "completed"
    assert signal_log.rejected == []


def test_rejection_signals_once(
    api: APIClient,
    png: bytes,
    signal_log: SignalLog,
    django_capture_on_commit_callbacks: Any,
) -> None:
    data = presign_ok(api, png)
    write_object(data["key"], png + b"trailing")

    with django_capture_on_commit_callbacks(execute=True):
        assert_error(complete(api, data["id"]), 422, "upload.verification_failed")
    with django_capture_on_commit_callbacks(execute=True):
        assert_error(complete(api, data["id"]), 409, "upload.invalid_state")

    assert len(signal_log.rejected) == 1
    upload, reasons = signal_log.rejected[0]
    assert str(upload.pk) == data["id"] and upload.status == "rejected"
    assert [r["field"] for r in reasons] == ["size"]
    assert signal_log.completed == []


def test_no_signal_before_the_transaction_commits(
    api: APIClient,
    uploaded: Callable[..., Any],
    signal_log: SignalLog,
    django_capture_on_commit_callbacks: Any,
) -> None:
    data = uploaded()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert complete(api, data["id"]).status_code == 200

    assert signal_log.completed == []
    assert len(callbacks) == 2  # the signal, and dropping the staging object
    for callback in callbacks:
        callback()
    assert len(signal_log.completed) == 1


def test_a_failing_receiver_does_not_break_the_response(
    api: APIClient,
    uploaded: Callable[..., Any],
    signal_log: SignalLog,
    django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    upload_completed.connect(explode)
    try:
        data = uploaded()
        with (
            caplog.at_level(logging.ERROR, logger="uploads"),
            django_capture_on_commit_callbacks(execute=True),
        ):
            response = complete(api, data["id"])
    finally:
        upload_completed.disconnect(explode)

    assert response.status_code == 200, response.content
    assert response.json()["data"]["status"] == "completed"
    assert status_of(data["id"]) == "completed"
    assert len(signal_log.completed) == 1  # the other receivers still ran
    assert any("receiver bug" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


# bytes_match on real headers -------------------------------------------------------------

JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    + b"\xff\xdb\x00\x43\x00"
    + bytes(64)
)
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
_VP8L = b"VP8L" + struct.pack("<I", 10) + b"\x2f" + bytes(9)
WEBP = b"RIFF" + struct.pack("<I", 4 + len(_VP8L)) + b"WEBP" + _VP8L
WAV = (
    b"RIFF"
    + struct.pack("<I", 36)
    + b"WAVEfmt "
    + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
    + b"data"
    + struct.pack("<I", 0)
)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
MP4 = struct.pack(">I", 24) + b"ftypisom\x00\x00\x02\x00isomiso2" + struct.pack(">I", 8) + b"free"
TEXT = "naïve, café\nline two\n".encode()
SAMPLES = {
    "image/png": make_png(2, 2),
    "image/jpeg": JPEG,
    "image/gif": GIF,
    "image/webp": WEBP,
    "application/pdf": PDF,
    "video/mp4": MP4,
    "text/plain": TEXT,
}


@pytest.mark.parametrize("mime", sorted(SAMPLES))
def test_bytes_match_recognises_each_known_family(mime: str) -> None:
    assert content_types.bytes_match(mime, SAMPLES[mime])


@pytest.mark.parametrize("mime", sorted(SAMPLES))
def test_bytes_match_refuses_other_families(mime: str) -> None:
    for other, head in SAMPLES.items():
        if other != mime:
            assert not content_types.bytes_match(mime, head), (mime, other)


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    brands = major + b"\x00\x00\x02\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(brands)) + b"ftyp" + brands + struct.pack(">I", 8) + b"free"


@pytest.mark.parametrize(
    "major", [b"isom", b"mp41", b"mp42", b"avc1", b"iso5", b"iso6", b"dash", b"M4V "]
)
def test_mp4_is_recognised_by_its_common_brands(major: bytes) -> None:
    # mp41 (cameras, editors), avc1 and iso5/iso6/dash (fragmented MP4) are everyday files.
    assert content_types.bytes_match("video/mp4", ftyp(major, b"isom", major))


@pytest.mark.parametrize(
    ("major", "mime"),
    [(b"qt  ", "video/quicktime"), (b"heic", "image/heic"), (b"avif", "image/avif")],
)
def test_other_iso_media_is_not_mp4(major: bytes, mime: str) -> None:
    head = ftyp(major, major) + bytes(32)
    assert content_types.bytes_match(mime, head)
    assert not content_types.bytes_match("video/mp4", head)


def test_wav_is_not_webp() -> None:
    assert content_types.bytes_match("audio/wav", WAV)
    assert not content_types.bytes_match("image/webp", WAV)


def test_text_family_refuses_binary_and_accepts_a_cut_multibyte_char() -> None:
    assert content_types.bytes_match("text/csv", b"a,b\n1,2\n")
    assert content_types.bytes_match("application/json", b'{"a": "\xc3\xa9"}')
    assert content_types.bytes_match("text/plain", "abcé".encode()[:-1])  # é cut by the sniff
    assert not content_types.bytes_match("text/plain", b"ab\x00cd")
    assert not content_types.bytes_match("text/plain", b"\xff\xfe\xfa garbage")


def test_bytes_match_refuses_empty_and_unknown() -> None:
    assert not content_types.bytes_match("image/png", b"")
    assert not content_types.bytes_match("application/x-foo", make_png())


@pytest.mark.django_db
def test_deleting_a_user_deletes_their_files(user: Any, uploaded: Any, api: Any) -> None:
    done = uploaded()
    pending = uploaded()
    api.post(f"/api/v1/uploads/{done['id']}/complete")
    storage = storages["default"]
    assert storage.exists(done["key"]) and staged(pending["key"])

    user.delete()

    assert not storage.exists(done["key"]) and not staged(pending["key"])
