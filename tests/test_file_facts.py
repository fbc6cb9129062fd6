"""What complete records about a file beyond its size and hash (issue 16): an image's
pixels as stored and whether it is animated, a PDF's page count, a video's duration and
frame size where ffprobe is installed. Shown by the API and the admin; never a reason to
refuse a file."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image

from tests.backends import Backend, activate
from tests.conftest import make_png
from tests.helpers import PDF, assert_ok, complete, presign_ok, settled
from tests.requirements import require_binary
from tests.test_checks import uploads_messages
from uploads import video_probe
from uploads.facts import pdf_page_count
from uploads.models import Upload
from uploads.services.admin_actions import reverify_uploads

pytestmark = pytest.mark.django_db

FACTS = ("width", "height", "isAnimated", "pageCount", "duration")


@pytest.fixture(params=["local", "s3", "azure", "gcs"])
def backend(
    request: pytest.FixtureRequest, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Backend:
    backend = activate(request, settings, monkeypatch)
    return backend


def facts(data: dict[str, Any]) -> dict[str, Any]:
    return {name: data[name] for name in FACTS}


def completed(api: Any, put: Any, body: bytes, **fields: Any) -> dict[str, Any]:
    answer = presign_ok(api, body, **fields)
    assert put(answer, body).status_code == 200
    data = assert_ok(complete(api, answer["id"]))
    assert data["status"] == "completed"
    return dict(data)


def gif(frames: int) -> bytes:
    images = [Image.new("RGB", (7, 5), (80 * n, 0, 0)) for n in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return out.getvalue()


def turned_jpeg() -> bytes:
    """30 x 10 pixels, with EXIF saying to show it turned 90 degrees (so 10 x 30)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    Image.new("RGB", (30, 10), (10, 200, 30)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def pdf(pages: int, padding: int = 0) -> bytes:
    """A PDF of ``pages`` empty pages, its page tree written last, after ``padding`` bytes
    of comments (so that in a large file only a read of its end finds the count)."""
    kids = " ".join(f"{3 + n} 0 R" for n in range(pages))
    body = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    for n in range(pages):
        body += (
            f"{3 + n} 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>\nendobj\n"
        ).encode()
    body += (b"%" + b"x" * 78 + b"\n") * (padding // 80)
    body += f"2 0 obj\n<< /Type /Pages /Kids [{kids}] /Count {pages} >>\nendobj\n".encode()
    return body + b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"


def mp4(tmp_path: Path, seconds: float = 1.5, size: str = "64x48") -> bytes:
    ffmpeg = require_binary("ffmpeg", "apt-get install ffmpeg")
    require_binary("ffprobe", "apt-get install ffmpeg")
    out = tmp_path / "clip.mp4"
    subprocess.run(
        [ffmpeg, "-v", "error", "-f", "lavfi", "-i", f"color=c=red:s={size}:r=10:d={seconds}"]
        + ["-c:v", "mpeg4", "-f", "mp4", str(out)],
        check=True,
        timeout=60,
    )
    return out.read_bytes()


# --- images --------------------------------------------------------------------------------


def test_a_png_records_its_pixels_and_that_it_is_not_animated(api: Any, put: Any) -> None:
    data = completed(api, put, make_png(12, 7))
    assert facts(data) == {
        "width": 12,
        "height": 7,
        "isAnimated": False,
        "pageCount": None,
        "duration": None,
    }
    row = Upload.objects.get(pk=data["id"])
    assert (row.width, row.height, row.is_animated) == (12, 7, False)


def test_an_animated_gif_is_recorded_as_animated_a_still_one_not(api: Any, put: Any) -> None:
    moving = completed(api, put, gif(3), type="media", contentType="image/gif")
    still = completed(api, put, gif(1), type="media", contentType="image/gif")
    assert (moving["width"], moving["height"], moving["isAnimated"]) == (7, 5, True)
    assert (still["width"], still["height"], still["isAnimated"]) == (7, 5, False)


@pytest.mark.parametrize(("strip", "size"), [(False, (30, 10)), (True, (10, 30))])
def test_a_jpeg_turned_by_exif_records_the_pixels_as_stored(
    api: Any, put: Any, edit_policy: Any, strip: bool, size: tuple[int, int]
) -> None:
    """Kept as sent, the file holds 30 x 10 pixels (a viewer turns them); a type that strips
    metadata stores them upright, 10 x 30, and records that."""
    edit_policy("avatar", strip_metadata=strip)
    data = completed(api, put, turned_jpeg(), contentType="image/jpeg")
    assert (data["width"], data["height"], data["isAnimated"]) == (*size, False)


# --- PDF -----------------------------------------------------------------------------------


def test_a_pdf_records_its_page_count(api: Any, put: Any) -> None:
    body = pdf(3)
    data = completed(api, put, body, type="document", contentType="application/pdf")
    assert facts(data) == {
        "width": None,
        "height": None,
        "isAnimated": None,
        "pageCount": 3,
        "duration": None,
    }


def test_a_large_pdf_is_counted_from_its_end_on_every_storage(backend: Backend, api: Any) -> None:
    body = pdf(5, padding=300_000)  # the page tree lies past the first 64 KiB
    answer = presign_ok(api, body, type="document", contentType="application/pdf")
    assert backend.send(answer, body, answer["headers"]) < 300
    data = assert_ok(complete(api, answer["id"]))
    assert (data["status"], data["pageCount"]) == ("completed", 5)


def test_a_pdf_whose_pages_cannot_be_counted_completes_with_no_count(api: Any, put: Any) -> None:
    data = completed(api, put, PDF, type="document", contentType="application/pdf")
    assert data["pageCount"] is None


def test_the_last_page_tree_of_an_updated_pdf_counts() -> None:
    """An incremental update appends a new root of the page tree; inner nodes (with a
    /Parent) are not roots."""
    updated = pdf(2) + b"2 0 obj\n<< /Type /Pages /Kids [3 0 R 4 0 R 9 0 R] /Count 3 >>\nendobj\n"
    inner = b"7 0 obj\n<< /Type /Pages /Parent 2 0 R /Count 40 >>\nendobj\n"
    assert pdf_page_count(updated + inner) == 3
    assert pdf_page_count(b"1 0 obj\n<< /Type /Page /Count 4 >>\nendobj\n") is None


def test_a_pdf_made_to_make_the_search_backtrack_is_read_in_linear_time() -> None:
    """Runs of object headers without an end, or of digits, each 512 KiB (four times what
    complete reads): a backtracking search takes hours on them, this one milliseconds. In a
    child process, so that a regression fails by its timeout instead of hanging the run."""
    code = (
        "from uploads.facts import pdf_page_count\n"
        "for data in (b'1 0 obj ' * 65536, b'7' * 524288, b'/Count ' * 74898):\n"
        "    assert pdf_page_count(data) is None\n"
    )
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=root)


# --- video ---------------------------------------------------------------------------------


def test_a_video_records_its_duration_and_size_on_every_storage(
    backend: Backend, api: Any, tmp_path: Path
) -> None:
    """ffprobe reads it at its key over a signed URL (a path for local storage)."""
    body = mp4(tmp_path)
    answer = presign_ok(api, body, type="media", contentType="video/mp4")
    assert backend.send(answer, body, answer["headers"]) < 300
    data = assert_ok(complete(api, answer["id"]))
    assert (data["status"], data["width"], data["height"]) == ("completed", 64, 48)
    assert data["duration"] == pytest.approx(1.5, abs=0.15)
    assert (data["isAnimated"], data["pageCount"]) == (None, None)


def test_without_ffprobe_a_video_completes_with_no_duration_logged_once(
    api: Any,
    put: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = mp4(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # holds no ffprobe
    monkeypatch.setattr(video_probe, "_warned_missing", False)
    with caplog.at_level(logging.WARNING, logger="uploads"):
        first = completed(api, put, body, type="media", contentType="video/mp4")
        second = completed(api, put, body, type="media", contentType="video/mp4")
    for data in (first, second):
        assert (data["duration"], data["width"], data["height"]) == (None, None, None)
    warnings = [r for r in caplog.records if "ffprobe is not installed" in r.getMessage()]
    assert len(warnings) == 1


def test_a_video_that_ffprobe_cannot_read_completes_with_no_duration_on_every_storage(
    backend: Backend, api: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Logged without the signed URL ffprobe names in its message (it reads the file)."""
    body = mp4(tmp_path)[:200]  # its header only: the magic bytes pass, the rest is gone
    answer = presign_ok(api, body, type="media", contentType="video/mp4")
    assert backend.send(answer, body, answer["headers"]) < 300
    with caplog.at_level(logging.WARNING, logger="uploads"):
        data = assert_ok(complete(api, answer["id"]))
    assert data["status"] == "completed"
    assert (data["duration"], data["width"], data["height"]) == (None, None, None)
    said = [r.getMessage() for r in caplog.records if "ffprobe could not" in r.getMessage()]
    assert len(said) == 1 and "<the file>" in said[0]
    assert "http" not in said[0] and answer["key"] not in said[0]


def stuck_ffprobe(directory: Path) -> None:
    """An ffprobe on PATH in ``directory`` that would say 9 seconds after 30 seconds."""
    script = directory / "ffprobe"
    script.write_text('#!/bin/sh\n/bin/sleep 30\necho \'{"format": {"duration": "9"}}\'\n')
    script.chmod(0o755)


@pytest.mark.parametrize(
    "limits",
    [
        {"PROBE_TIMEOUT": 1},
        # The request's storage deadline bounds it too.
        {"PROBE_TIMEOUT": 60, "REQUEST_STORAGE_DEADLINE": 2},
    ],
)
def test_a_probe_that_does_not_finish_in_time_leaves_the_duration_unknown(
    api: Any,
    put: Any,
    tmp_path: Path,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    limits: dict[str, int],
) -> None:
    body = mp4(tmp_path)
    stuck_ffprobe(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    settings.UPLOADS = {**settings.UPLOADS, **limits}
    data = completed(api, put, body, type="media", contentType="video/mp4")
    assert data["duration"] is None


@pytest.mark.parametrize(
    "answer",
    [
        '{"format": {"duration": "N/A"}, "streams": [{"codec_type": "video", "width": 0}]}',
        '{"format": {"duration": "nan"}, "streams": 5}',
        '{"format": [], "streams": [{"codec_type": "video", "width": 99999999999}]}',
        "not json",
    ],
)
def test_an_answer_from_ffprobe_that_makes_no_sense_leaves_the_facts_unknown(
    api: Any, put: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    body = mp4(tmp_path)
    script = tmp_path / "ffprobe"
    script.write_text(f"#!/bin/sh\n/bin/cat <<'END'\n{answer}\nEND\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    data = completed(api, put, body, type="media", contentType="video/mp4")
    assert (data["duration"], data["width"], data["height"]) == (None, None, None)


def test_a_video_verified_in_the_background_records_its_facts(
    api: Any, put: Any, tmp_path: Path, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "VERIFY_IN_BACKGROUND_ABOVE": 100}
    body = mp4(tmp_path)
    answer = presign_ok(api, body, type="media", contentType="video/mp4")
    assert put(answer, body).status_code == 200
    data = settled(api, django_capture_on_commit_callbacks, answer["id"])
    assert (data["status"], data["width"], data["height"]) == ("completed", 64, 48)
    assert data["duration"] == pytest.approx(1.5, abs=0.15)


# --- admin ---------------------------------------------------------------------------------


def test_the_admin_shows_the_facts_read_only(api: Any, put: Any, admin_client: Client) -> None:
    data = completed(api, put, pdf(3), type="document", contentType="application/pdf")
    page = admin_client.get(reverse("admin:uploads_upload_change", args=[data["id"]]))
    html = page.content.decode()
    assert "Page count" in html and 'class="readonly">3<' in html
    assert 'name="page_count"' not in html  # shown, not editable


def test_re_verifying_an_upload_completed_before_this_records_its_facts(api: Any, put: Any) -> None:
    png = completed(api, put, make_png(12, 7))
    document = completed(api, put, pdf(3), type="document", contentType="application/pdf")
    ids = [png["id"], document["id"]]
    # As an upload completed before complete recorded anything.
    Upload.objects.filter(pk__in=ids).update(
        width=None, height=None, is_animated=None, page_count=None
    )
    assert reverify_uploads(Upload.objects.filter(pk__in=ids)) == {"completed": 2}
    image, paper = Upload.objects.get(pk=png["id"]), Upload.objects.get(pk=document["id"])
    assert (image.width, image.height, image.is_animated) == (12, 7, False)
    assert (paper.page_count, paper.width) == (3, None)


def test_a_probe_timeout_under_one_second_is_e001(settings: Any) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "PROBE_TIMEOUT": 0}
    found = uploads_messages(errors_only=True)
    assert "uploads.E001" in found and "PROBE_TIMEOUT" in found["uploads.E001"][0]
