"""Upload policies: human byte sizes, and edits that reach every process on its next request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers import assert_error
from tests.test_checks import uploads_messages
from uploads.models import Upload, UploadPolicy
from uploads.policies import PolicyRegistry, registry
from uploads.units import format_bytes, parse_bytes

MB = 1024 * 1024


# units ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5 MB", 5 * MB),
        ("5MB", 5 * MB),
        ("5 mb", 5 * MB),
        ("1.5 MB", 1572864),
        ("512KB", 512 * 1024),
        ("512 KiB", 512 * 1024),
        ("1000", 1000),
        ("1000 bytes", 1000),
        ("1,000", 1000),
        ("2,048 KB", 2 * MB),
        ("2 GB", 2 * 1024**3),
        (" 7 b ", 7),
    ],
)
def test_parse_bytes(text: str, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "MB",
        "five MB",
        "5 XB",
        "-5 MB",
        "1.5 bytes",
        "0.3 KB",
        "5 MB 3",
        "1e6",
        "1,5 MB",
        "10,00 KB",
    ],
)
def test_parse_bytes_refuses_what_is_not_a_size(text: str) -> None:
    with pytest.raises(ValueError, match="size|whole"):
        parse_bytes(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5 * MB, "5 MB"),
        (1572864, "1536 KB"),
        (1000, "1000 bytes"),
        (1024, "1 KB"),
        (3 * 1024**4, "3 TB"),
    ],
)
def test_format_bytes_is_exact_and_round_trips(value: int, text: str) -> None:
    assert format_bytes(value) == text
    assert parse_bytes(format_bytes(value)) == value


@pytest.mark.parametrize("value", [1, 999, 1023, 1025, 5 * MB + 1, 1572864, 10**12, 5 * 1024**3])
def test_format_round_trips(value: int) -> None:
    assert parse_bytes(format_bytes(value)) == value


# edits reach the next request ----------------------------------------------------------


def test_max_size_edit_takes_effect_on_the_next_presign(
    presign: Callable[..., Any], edit_policy: Callable[..., UploadPolicy]
) -> None:
    size = 7 * MB  # between the old 5 MB cap and the new 10 MB one
    error = assert_error(presign(size=size), 400, "upload.too_large")
    assert error["i18nVars"]["maxSize"] == 5 * MB
    assert Upload.objects.count() == 0

    edit_policy("avatar", max_size=10 * MB)

    answer = presign(size=size)
    assert answer.status_code == 201, answer.content
    assert answer.json()["data"]["maxSize"] == 10 * MB
    assert Upload.objects.get().max_size == 10 * MB


def test_lowering_the_cap_refuses_the_next_presign(
    presign: Callable[..., Any], edit_policy: Callable[..., UploadPolicy]
) -> None:
    assert presign(size=3 * MB).status_code == 201

    edit_policy("avatar", max_size=2 * MB)

    assert_error(presign(size=3 * MB), 400, "upload.too_large")
    assert Upload.objects.count() == 1


def test_edit_reaches_another_process_sharing_the_cache(
    db: Any, edit_policy: Callable[..., UploadPolicy]
) -> None:
    web_1, web_2 = PolicyRegistry(), PolicyRegistry()
    assert web_1.get("avatar").max_size == 5 * MB  # type: ignore[union-attr]
    assert web_2.get("avatar").max_size == 5 * MB  # type: ignore[union-attr]

    edit_policy("avatar", max_size=8 * MB, expires_in=120)

    seen = web_2.get("avatar")
    assert seen is not None and (seen.max_size, seen.expires_in) == (8 * MB, 120)
    assert web_1.get("avatar").max_size == 8 * MB  # type: ignore[union-attr]


def test_uncommitted_edit_is_not_seen(db: Any, django_capture_on_commit_callbacks: Any) -> None:
    web = PolicyRegistry()
    assert web.get("avatar").max_size == 5 * MB  # type: ignore[union-attr]

    with django_capture_on_commit_callbacks(execute=False):
        policy = UploadPolicy.objects.get(name="avatar")
        policy.max_size = 8 * MB
        policy.save()
        # The version is bumped only once the edit commits.
        assert web.get("avatar").max_size == 5 * MB  # type: ignore[union-attr]


def test_warm_registry_does_no_query_and_an_edit_costs_two(
    db: Any, django_assert_num_queries: Any, edit_policy: Callable[..., UploadPolicy]
) -> None:
    web = PolicyRegistry()
    web.get("avatar")  # warm

    with django_assert_num_queries(0):
        assert web.get("avatar").max_size == 5 * MB  # type: ignore[union-attr]
        assert [p.name for p in web.active()] == ["avatar", "document", "media"]

    edit_policy("media", label="Media files")

    with django_assert_num_queries(2):  # the revision number, the types
        assert web.get("media").label == "Media files"  # type: ignore[union-attr]
        web.get("avatar")
    with django_assert_num_queries(0):
        web.get("media")


def test_deactivated_type_is_refused(
    presign: Callable[..., Any], api: Any, edit_policy: Callable[..., UploadPolicy], png: bytes
) -> None:
    assert presign(size=len(png)).status_code == 201

    edit_policy("avatar", is_active=False)

    error = assert_error(presign(size=len(png)), 400, "upload.invalid_type")
    assert error["i18nVars"] == {"type": "avatar"}
    assert Upload.objects.count() == 1
    types = api.get("/api/v1/uploads/types").json()["data"]
    assert "avatar" not in [t["type"] for t in types]
    assert registry.get("avatar") is None


def test_deleted_policy_is_forgotten(db: Any, django_capture_on_commit_callbacks: Any) -> None:
    web = PolicyRegistry()
    assert web.get("document") is not None

    with django_capture_on_commit_callbacks(execute=True):
        UploadPolicy.objects.get(name="document").delete()

    assert web.get("document") is None


def test_a_policy_cache_lifetime_delays_other_processes_by_at_most_that_long(
    db: Any, settings: Any, edit_policy: Callable[..., UploadPolicy], monkeypatch: Any
) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "POLICY_CACHE_SECONDS": 30}
    clock = [1000.0]
    monkeypatch.setattr("uploads.policies.monotonic", lambda: clock[0])
    other_process = PolicyRegistry()
    assert other_process.get("avatar").max_size == 5 * MB  # type: ignore[union-attr]

    edit_policy("avatar", max_size=8 * MB)

    # The process that saved the edit sees it at once.
    assert registry.get("avatar").max_size == 8 * MB  # type: ignore[union-attr]
    clock[0] += 29.9
    assert other_process.get("avatar").max_size == 5 * MB  # type: ignore[union-attr]
    clock[0] += 0.1
    assert other_process.get("avatar").max_size == 8 * MB  # type: ignore[union-attr]


def test_without_a_policy_cache_lifetime_every_lookup_checks_the_version(
    db: Any, edit_policy: Callable[..., UploadPolicy], monkeypatch: Any
) -> None:
    monkeypatch.setattr("uploads.policies.monotonic", lambda: 1000.0)  # time stands still
    other_process = PolicyRegistry()
    assert other_process.get("avatar").max_size == 5 * MB  # type: ignore[union-attr]

    edit_policy("avatar", max_size=8 * MB)

    assert other_process.get("avatar").max_size == 8 * MB  # type: ignore[union-attr]


def test_a_negative_policy_cache_lifetime_is_e001(settings: Any) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "POLICY_CACHE_SECONDS": -1}

    found = uploads_messages()

    assert "uploads.E001" in found and "POLICY_CACHE_SECONDS" in found["uploads.E001"][0]
