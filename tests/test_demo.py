"""What `make run` adds for a first look (manage.py demo_user): an upload type that sends
large files in parts, so the demo shows multipart; the app's own types stay as they were."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from accounts.demo import LARGE_PART_SIZE, LARGE_THRESHOLD, LARGE_TYPE
from tests.helpers import PRESIGN, assert_ok
from uploads.models import UploadPolicy

pytestmark = pytest.mark.django_db

MP4_SIZE = LARGE_THRESHOLD + 1  # a byte over: in parts


def demo_user() -> str:
    out = StringIO()
    call_command("demo_user", stdout=out)
    return out.getvalue()


def test_the_app_alone_has_no_type_that_goes_to_parts() -> None:
    assert not UploadPolicy.objects.filter(name=LARGE_TYPE).exists()
    assert not UploadPolicy.objects.filter(multipart_threshold__isnull=False).exists()


def test_the_demo_sends_a_file_over_the_threshold_in_parts(api: Any) -> None:
    printed = demo_user()
    body = {"type": LARGE_TYPE, "contentType": "video/mp4", "size": MP4_SIZE}

    plan = assert_ok(api.post(PRESIGN, body, format="json"), 201)

    assert f"type '{LARGE_TYPE}': in parts above 8 MiB" in printed
    assert plan["multipart"] == {"partSize": LARGE_PART_SIZE, "partCount": 2}
    assert "uploadUrl" not in plan


def test_a_file_at_the_threshold_goes_in_one_piece(api: Any) -> None:
    demo_user()
    body = {"type": LARGE_TYPE, "contentType": "video/mp4", "size": LARGE_THRESHOLD}

    plan = assert_ok(api.post(PRESIGN, body, format="json"), 201)

    assert "multipart" not in plan and plan["uploadUrl"]


def test_running_it_again_keeps_an_operators_edits() -> None:
    demo_user()
    UploadPolicy.objects.filter(name=LARGE_TYPE).update(multipart_threshold=100 * 1024**2)

    demo_user()

    assert UploadPolicy.objects.get(name=LARGE_TYPE).multipart_threshold == 100 * 1024**2
