"""System checks: a misconfiguration is named at startup, and a storage that cannot be used
answers 503 without telling the client how the server is configured."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.checks import run_checks

from tests.helpers import assert_error
from uploads.models import Upload, UploadPolicy


def uploads_messages(errors_only: bool = False) -> dict[str, list[str]]:
    """The uploads app's check ids, each with its messages."""
    found: dict[str, list[str]] = {}
    for message in run_checks():
        if str(message.id).startswith("uploads.") and (not errors_only or message.is_serious()):
            found.setdefault(message.id, []).append(message.msg)
    return found


def test_test_settings_pass_every_error_check(settings: Any) -> None:
    settings.DEBUG = True  # (W001 is about DEBUG off; see below)

    assert uploads_messages() == {}


def test_unknown_uploads_key_is_e001(settings: Any) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "MAX_SIZE": 10}

    found = uploads_messages(errors_only=True)

    assert list(found) == ["uploads.E001"]
    assert "MAX_SIZE" in found["uploads.E001"][0]
    assert "MAX_SIZE_CEILING" in found["uploads.E001"][0]  # names the valid keys


def test_expiry_ceiling_over_seven_days_is_e001(settings: Any) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "MAX_EXPIRY_CEILING": 7 * 24 * 3600 + 1}

    found = uploads_messages()

    assert "uploads.E001" in found and "MAX_EXPIRY_CEILING" in found["uploads.E001"][0]


def test_wrongly_typed_setting_is_e001(settings: Any) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "MAX_SIZE_CEILING": "5 GB"}

    assert "uploads.E001" in uploads_messages()


def test_storage_alias_missing_from_storages_is_e002(settings: Any) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "STORAGES": ["default", "archive"]}

    found = uploads_messages(errors_only=True)

    assert list(found) == ["uploads.E002"]
    assert "'archive'" in found["uploads.E002"][0]


def test_backend_without_a_signer_is_e002(settings: Any) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "ftp": {
            "BACKEND": "storages.backends.ftp.FTPStorage",
            "OPTIONS": {"location": "ftp://u:p@h:21/"},
        },
    }
    settings.UPLOADS = {**settings.UPLOADS, "STORAGES": ["default", "ftp"]}

    found = uploads_messages(errors_only=True)

    assert list(found) == ["uploads.E002"]
    assert "No signer is known for storage 'ftp'" in found["uploads.E002"][0]
    assert "p@h" not in found["uploads.E002"][0]


def test_unimportable_backend_is_e002(settings: Any) -> None:
    settings.STORAGES = {**settings.STORAGES, "cloud": {"BACKEND": "no_such_package.Storage"}}
    settings.UPLOADS = {**settings.UPLOADS, "STORAGES": ["cloud"]}

    found = uploads_messages(errors_only=True)

    assert list(found) == ["uploads.E002"] and "cannot be imported" in found["uploads.E002"][0]


def test_local_signer_with_debug_off_is_e003(settings: Any) -> None:
    settings.DEBUG = False
    settings.UPLOADS = {**settings.UPLOADS, "LOCAL_ALLOW_WITHOUT_DEBUG": False}

    assert "uploads.E003" in uploads_messages()


@pytest.mark.parametrize(("debug", "allowed"), [(False, True), (True, False), (True, True)])
def test_local_signer_allowed_or_debug_is_not_e003(
    settings: Any, debug: bool, allowed: bool
) -> None:
    settings.DEBUG = debug
    settings.UPLOADS = {**settings.UPLOADS, "LOCAL_ALLOW_WITHOUT_DEBUG": allowed}

    assert "uploads.E003" not in uploads_messages()


@pytest.mark.parametrize("rate", ["lots", "0/m", "", "m/30", "30/x", "30/"])
def test_bad_rate_limit_is_e004(settings: Any, rate: str) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "RATE_LIMIT": rate}

    found = uploads_messages(errors_only=True)

    assert list(found) == ["uploads.E004"]
    assert repr(rate) in found["uploads.E004"][0]


@pytest.mark.parametrize("rate", ["30/m", "100/h", "5/10s", "1000/d", "30/M"])
def test_good_rate_limit_is_not_e004(settings: Any, rate: str) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "RATE_LIMIT": rate}

    assert "uploads.E004" not in uploads_messages()


def test_in_process_cache_with_debug_off_is_w001(settings: Any) -> None:
    settings.DEBUG = False
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

    assert "uploads.W001" in uploads_messages()


def test_shared_cache_is_not_w001(settings: Any) -> None:
    settings.DEBUG = False
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/0",  # never connected: checks read settings
        }
    }

    assert "uploads.W001" not in uploads_messages()


def test_a_request_storage_deadline_reaching_the_worker_timeout_is_w008(settings: Any) -> None:
    settings.DEBUG = True
    settings.UPLOADS = {**settings.UPLOADS, "REQUEST_STORAGE_DEADLINE": 28}

    found = uploads_messages()

    assert list(found) == ["uploads.W008"]
    assert "REQUEST_STORAGE_DEADLINE" in found["uploads.W008"][0]

    settings.UPLOADS = {**settings.UPLOADS, "REQUEST_STORAGE_DEADLINE": 20}
    assert uploads_messages() == {}


def test_cache_alias_missing_from_caches_is_e001(settings: Any) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "CACHE_ALIAS": "policies"}

    found = uploads_messages(errors_only=True)

    assert list(found) == ["uploads.E001"] and "'policies'" in found["uploads.E001"][0]


def test_in_process_cache_with_debug_on_is_not_w001(settings: Any) -> None:
    settings.DEBUG = True

    assert "uploads.W001" not in uploads_messages()


# The same misconfiguration seen by a client ---------------------------------------------

SECRETS_AND_SETTINGS = (
    "DEBUG",
    "UPLOADS",
    "LOCAL_ALLOW",
    "settings",
    "STORAGES",
    "SECRET",
    "FileSystem",
)


def test_unusable_local_signer_answers_503_naming_nothing(
    settings: Any, presign: Callable[..., Any], png: bytes
) -> None:
    assert presign(size=len(png)).status_code == 201  # the signer is now built and cached

    settings.DEBUG = False
    settings.UPLOADS = {**settings.UPLOADS, "LOCAL_ALLOW_WITHOUT_DEBUG": False}
    response = presign(size=len(png))

    error = assert_error(response, 503, "upload.not_configured")
    text = response.content.decode()
    for word in (*SECRETS_AND_SETTINGS, django_settings.SECRET_KEY, "'default'"):
        assert word not in text, word
    assert error["message"]
    assert Upload.objects.count() == 1

    settings.UPLOADS = {**settings.UPLOADS, "LOCAL_ALLOW_WITHOUT_DEBUG": True}
    assert presign(size=len(png)).status_code == 201


def test_unusable_local_signer_refuses_the_put_and_complete(
    settings: Any, api: Any, presign: Callable[..., Any], put: Callable[..., Any], png: bytes
) -> None:
    answer = presign(size=len(png))
    data = answer.json()["data"]

    settings.UPLOADS = {**settings.UPLOADS, "LOCAL_ALLOW_WITHOUT_DEBUG": False}

    put_error = assert_error(put(data, png), 503, "upload.not_configured")
    assert not any(word in put_error["message"] for word in SECRETS_AND_SETTINGS)
    assert_error(api.post(f"/api/v1/uploads/{data['id']}/complete"), 503, "upload.not_configured")
    assert Upload.objects.get(pk=data["id"]).status == "pending"


def test_a_per_process_rate_limit_cache_is_w001(settings: Any) -> None:
    """django-ratelimit counts in RATELIMIT_USE_CACHE, which may differ from CACHE_ALIAS."""
    settings.DEBUG = False
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/0",  # never connected: checks read settings
        },
        "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    settings.RATELIMIT_USE_CACHE = "local"

    assert "uploads.W001" in uploads_messages()


@pytest.mark.parametrize("prefix", ["", "/", "a/b"])
def test_a_staging_prefix_that_is_not_one_segment_is_e001(settings: Any, prefix: str) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "STAGING_PREFIX": prefix}

    found = uploads_messages(errors_only=True)

    assert "uploads.E001" in found and "STAGING_PREFIX" in found["uploads.E001"][0]


@pytest.mark.django_db
def test_a_type_keeping_files_under_the_staging_prefix_is_e008() -> None:
    UploadPolicy.objects.filter(name="media").update(key_prefix="staging/media")

    found = [m for m in run_checks(databases=["default"]) if m.id == "uploads.E008"]

    assert len(found) == 1 and "'media'" in found[0].msg
