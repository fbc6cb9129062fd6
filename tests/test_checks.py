"""System checks: a misconfiguration is named at startup, and a storage that cannot be used
answers 503 without telling the client how the server is configured."""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib.util import find_spec
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.checks import run_checks

from tests.helpers import assert_error
from tests.requirements import require_module
from uploads.models import Upload, UploadPolicy
from uploads.webhooks.models import WebhookEndpoint


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


def test_a_negative_write_verified_up_to_is_e001(settings: Any) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "WRITE_VERIFIED_UP_TO": -1}

    found = uploads_messages()

    assert "uploads.E001" in found and "WRITE_VERIFIED_UP_TO" in found["uploads.E001"][0]


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


def sqlite_database(settings: Any, **options: Any) -> None:
    """DATABASES for the checks to read (nothing connects to it)."""
    default = {**settings.DATABASES["default"]}
    default |= {"ENGINE": "django.db.backends.sqlite3", "NAME": "/srv/db.sqlite3"}
    settings.DATABASES = {**settings.DATABASES, "default": default | {"OPTIONS": options}}


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_a_sqlite_database_with_deferred_transactions_is_w007(settings: Any) -> None:
    settings.DEBUG = True
    sqlite_database(settings, timeout=20)

    found = uploads_messages()

    assert list(found) == ["uploads.W007"]
    assert "'default'" in found["uploads.W007"][0] and "cap" in found["uploads.W007"][0]


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
@pytest.mark.parametrize("mode", ["IMMEDIATE", "exclusive"])
def test_a_sqlite_database_whose_transactions_take_the_write_lock_is_not_w007(
    settings: Any, mode: str
) -> None:
    settings.DEBUG = True
    sqlite_database(settings, transaction_mode=mode)

    assert "uploads.W007" not in uploads_messages()


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


@pytest.mark.django_db
def test_a_variant_in_a_format_pillow_cannot_write_is_e011(monkeypatch: Any) -> None:
    from uploads import variant_images
    from uploads.models import VariantSpec

    avatar = UploadPolicy.objects.get(name="avatar")
    VariantSpec.objects.create(policy=avatar, name="next", width=9, height=9, format="avif")
    assert not [m for m in run_checks(databases=["default"]) if m.id == "uploads.E011"]
    # A server whose Pillow writes no AVIF:
    monkeypatch.setattr(variant_images, "_has", lambda feature: feature != "avif")

    found = [m for m in run_checks(databases=["default"]) if m.id == "uploads.E011"]

    assert len(found) == 1 and "'avatar' declares variant 'next' in avif" in found[0].msg
    assert "uploads_variants" in (found[0].hint or "")


@pytest.mark.django_db
def test_variants_on_a_type_allowing_no_decodable_image_are_w009() -> None:
    from uploads.models import VariantSpec

    document = UploadPolicy.objects.get(name="document")
    VariantSpec.objects.create(policy=document, name="thumb", width=9, height=9, format="webp")
    assert not [m for m in run_checks(databases=["default"]) if m.id == "uploads.W009"]
    document.allowed_content_types = ["application/pdf"]
    document.save()

    found = [m for m in run_checks(databases=["default"]) if m.id == "uploads.W009"]

    assert len(found) == 1 and "'document' declares variants" in found[0].msg


# --- EXTRA_CONTENT_TYPES: no active content, however declared ------------------------------

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def declared_error(settings: Any, mime: str, **spec: Any) -> str:
    """Declare one extra type; assert the settings check refuses it (E001) naming the entry,
    and return its message."""
    entry = {"extension": "docx", "magic": ["504b0304"], **spec}
    settings.UPLOADS = {**settings.UPLOADS, "EXTRA_CONTENT_TYPES": {mime: entry}}
    found = uploads_messages(errors_only=True)
    assert list(found) == ["uploads.E001"], found
    (message,) = found["uploads.E001"]
    assert f"EXTRA_CONTENT_TYPES']['{mime}']" in message
    return message


@pytest.mark.parametrize(
    ("mime", "says"),
    [
        ("application/x-docbook+xml", "XML (and any +xml type)"),
        ("application/vnd.apple.installer+xml", "program or an installer"),
        ("application/rss+xml", "XML (and any +xml type)"),
        ("application/xslt+xml", "XML (and any +xml type)"),
        ("text/xsl", "XML (and any +xml type)"),
        ("application/xml-dtd", "XML (and any +xml type)"),
        ("multipart/related", "wraps other documents"),
        ("message/rfc822", "wraps other documents"),
        ("text/x-server-parsed-html", "runs scripts"),
        ("text/css", "style sheet"),
        ("text/jscript", "it is a script"),
        ("text/vbscript", "it is a script"),
        ("application/x-msdownload", "program or an installer"),
        ("application/x-msdos-program", "program or an installer"),
        ("application/x-executable", "program or an installer"),
        ("application/x-elf", "program or an installer"),
        ("application/x-mach-binary", "program or an installer"),
        ("application/vnd.microsoft.portable-executable", "program or an installer"),
        ("application/java-archive", "program or an installer"),
        ("application/x-msi", "program or an installer"),
        ("application/vnd.android.package-archive", "program or an installer"),
    ],
)
def test_an_active_content_type_is_refused_when_declared(
    settings: Any, mime: str, says: str
) -> None:
    message = declared_error(settings, mime)

    assert "can never be allowed" in message and says in message


@pytest.mark.parametrize("extension", ["html", "svg", "js", "exe", "bat", "jar", "hta", "msi"])
def test_a_dangerous_extension_is_refused_when_declared(settings: Any, extension: str) -> None:
    message = declared_error(settings, "application/x-report", extension=extension)

    assert f"'.{extension}' files are run or rendered" in message


@pytest.mark.parametrize("extension", ["pdf.html", "../x", "DOCX", "", "x" * 17])
def test_an_extension_outside_the_safe_pattern_is_refused(settings: Any, extension: str) -> None:
    message = declared_error(settings, "application/x-report", extension=extension)

    assert "1 to 16 lower-case letters and digits" in message


@pytest.mark.parametrize(
    ("magic", "says"),
    [
        ("3c68746d6c", "starts like markup"),  # <html
        ("3c21646f6374797065", "starts like markup"),  # <!doctype
        ("3c736372697074", "starts like markup"),  # <script
        ("3c3f786d6c", "starts like markup"),  # <?xml
        ("3c737667", "starts like markup"),  # <svg
        ("efbbbf20203c68746d6c", "starts like markup"),  # BOM, spaces, <html
        ("23212f62696e2f7368", "starts like markup or a script"),  # #!/bin/sh
        ("3c626f6479", "starts like markup"),  # <body
        ("4d5a9000", "starts like a program"),  # MZ
        ("7f454c46", "starts like a program"),  # ELF
        ("cafebabe", "starts like a program"),  # Mach-O fat binary, Java class
    ],
)
def test_magic_that_reads_as_markup_script_or_program_is_refused(
    settings: Any, magic: str, says: str
) -> None:
    message = declared_error(settings, "application/x-report", magic=["504b0304", magic])

    assert "['magic']" in message and says in message


@pytest.mark.parametrize(
    ("magic", "says"),
    [
        (b"From: ", "reads as message/rfc822: it wraps other documents"),
        (b"cush\x00\x00\x00\x02", "reads as application/x-csh: it is a script"),
    ],
)
def test_magic_the_sniffer_reads_as_active_content_is_refused_for_a_type_named_pdf(
    settings: Any, magic: bytes, says: str
) -> None:
    message = declared_error(
        settings, "application/x-pdf-report", extension="pdf", magic=[magic.hex()]
    )

    assert says in message


def test_zip_magic_of_a_word_document_is_not_taken_for_a_program(settings: Any) -> None:
    settings.DEBUG = True
    # The sniffer's only guess for these bytes is a Java archive.
    zip_head = {"extension": "docx", "magic": ["504b0304140008000800"]}
    settings.UPLOADS = {**settings.UPLOADS, "EXTRA_CONTENT_TYPES": {DOCX: zip_head}}

    assert uploads_messages() == {}


@pytest.mark.parametrize("magic", ["50", "504b", "504b03"])
def test_magic_shorter_than_four_bytes_is_refused(settings: Any, magic: str) -> None:
    message = declared_error(settings, "application/x-report", magic=[magic])

    assert "each at least 4 bytes" in message


def test_an_upload_field_without_the_request_middleware_is_e009(settings: Any) -> None:
    """Its forms could not know who posts them, and would refuse every upload."""
    middleware = "uploads.middleware.RequestIDMiddleware"
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != middleware]

    found = [m for m in run_checks() if m.id == "uploads.E009"]

    assert len(found) == 1 and found[0].is_serious()
    assert "is an UploadField" in found[0].msg and middleware in found[0].msg
    assert found[0].hint == f'Add MIDDLEWARE.insert(0, "{middleware}") to your settings.'
    assert list(uploads_messages(errors_only=True)) == ["uploads.E009"]


def test_a_form_value_lifetime_under_a_second_is_e001(settings: Any) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "FIELD_VALUE_MAX_AGE": 0}

    found = uploads_messages(errors_only=True)

    assert list(found) == ["uploads.E001"]
    assert found["uploads.E001"] == ["settings.UPLOADS['FIELD_VALUE_MAX_AGE'] must be at least 1."]


# uploads.W005: auth/token served without django-axes ------------------------------------


def test_token_logins_without_an_axes_backend_are_w005(settings: Any) -> None:
    settings.DEBUG = True  # (no W001)
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]

    found = uploads_messages()

    assert list(found) == ["uploads.W005"]
    assert "auth/token" in found["uploads.W005"][0]
    settings.ROOT_URLCONF = "uploads.api.urls"  # logins served some other way: none
    assert uploads_messages() == {}


def test_token_logins_with_axes_turned_off_are_w005(settings: Any) -> None:
    settings.DEBUG = True
    settings.AXES_ENABLED = False

    assert list(uploads_messages()) == ["uploads.W005"]


def test_token_logins_behind_a_proxy_with_axes_reading_remote_addr_are_w014(
    settings: Any,
) -> None:
    settings.DEBUG = True  # (no W001)
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.AXES_CLIENT_IP_CALLABLE = None

    found = uploads_messages()

    assert list(found) == ["uploads.W014"]
    assert "proxy's address" in found["uploads.W014"][0]


@pytest.mark.parametrize(
    "told_axes",
    [
        {"AXES_CLIENT_IP_CALLABLE": "config.lockout.client_ip"},
        {"AXES_IPWARE_PROXY_COUNT": 1, "AXES_IPWARE_META_PRECEDENCE_ORDER": ["HTTP_X_REAL_IP"]},
    ],
)
def test_token_logins_behind_a_proxy_that_axes_reads_are_fine(
    settings: Any, told_axes: dict[str, Any]
) -> None:
    settings.DEBUG = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.AXES_CLIENT_IP_CALLABLE = None
    for name, value in told_axes.items():
        setattr(settings, name, value)

    assert uploads_messages() == {}


def test_token_logins_without_a_proxy_need_no_address_header(settings: Any) -> None:
    settings.DEBUG = True
    settings.AXES_CLIENT_IP_CALLABLE = None

    assert uploads_messages() == {}


def test_the_removed_login_rate_keys_name_django_axes(settings: Any) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "LOGIN_RATE_LIMIT_USERNAME": "10/m"}

    found = uploads_messages(errors_only=True)

    assert list(found) == ["uploads.E001"]
    assert "LOGIN_RATE_LIMIT_USERNAME: login throttling is django-axes'" in found["uploads.E001"][0]


# --- checks before publication (docs/checks.md) ---------------------------------------------

SCAN = "uploads.scanning.clamav.scan"


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("myproject.checks.no_macros", "cannot be imported"),
        ("uploads.scanning.CHUNK", "is not a callable's dotted path"),
    ],
)
def test_a_check_that_is_no_callable_is_e013(settings: Any, path: str, says: str) -> None:
    settings.DEBUG = True  # (W001 is about DEBUG off)
    settings.UPLOADS = {**settings.UPLOADS, "CHECKS": {"no-macros": path}}

    found = uploads_messages()

    assert list(found) == ["uploads.E013"]
    assert "UPLOADS['CHECKS']['no-macros']" in found["uploads.E013"][0]
    assert says in found["uploads.E013"][0]


def test_the_clamav_scan_without_clamd_or_with_a_bad_address_is_e013(settings: Any) -> None:
    settings.DEBUG = True
    settings.UPLOADS = {**settings.UPLOADS, "CHECKS": {"clamav": SCAN}}
    assert "UPLOADS['CLAMD'] is not set" in uploads_messages()["uploads.E013"][0]

    settings.UPLOADS = {**settings.UPLOADS, "CLAMD": "clamd:3310"}
    assert "not a clamd address" in uploads_messages()["uploads.E013"][0]

    settings.UPLOADS = {**settings.UPLOADS, "CLAMD": "tcp://clamd:3310"}
    assert uploads_messages() == {}


def test_a_check_timeout_that_is_not_a_positive_integer_is_e001(settings: Any) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "CLAMD_TIMEOUT": 0}
    assert "CLAMD_TIMEOUT" in uploads_messages()["uploads.E001"][0]


@pytest.mark.django_db
def test_a_type_running_a_check_the_settings_do_not_offer_is_w011(settings: Any) -> None:
    settings.DEBUG = True
    settings.UPLOADS = {**settings.UPLOADS, "CHECKS": {"clamav": SCAN}, "CLAMD": "tcp://c:3310"}
    UploadPolicy.objects.filter(name="media").update(checks=["clamav", "no-macros"])
    UploadPolicy.objects.filter(name="avatar").update(checks=["clamav"])

    found = [m for m in run_checks(databases=["default"]) if m.id.startswith("uploads.")]

    assert [m.id for m in found] == ["uploads.W011"]
    assert "'media'" in found[0].msg and "no-macros" in found[0].msg


# --- webhooks ------------------------------------------------------------------------------

TASKS_PACKAGE = "django.tasks" if find_spec("django.tasks") else "django_tasks"


def webhook_messages() -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for message in run_checks(databases=["default"]):
        if message.id in ("uploads.E014", "uploads.W012"):
            found.setdefault(message.id, []).append(message)
    return found


@pytest.mark.django_db
def test_active_webhook_endpoints_without_the_signing_package_is_e014(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.DEBUG = True
    monkeypatch.setitem(sys.modules, "standardwebhooks", None)  # as if not installed
    endpoint = WebhookEndpoint.objects.create(
        url="https://example.com/h", events=["upload.deleted"]
    )

    found = webhook_messages()

    assert list(found) == ["uploads.E014"]
    assert 'pip install "django-upload-policies[webhooks]"' in found["uploads.E014"][0].hint
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
    assert webhook_messages() == {}  # nothing to sign


@pytest.mark.django_db
def test_active_webhook_endpoints_on_a_backend_without_a_worker_is_w012(settings: Any) -> None:
    settings.DEBUG = False
    WebhookEndpoint.objects.create(url="https://example.com/h", events=["upload.deleted"])

    found = webhook_messages()  # the immediate backend, as the tests run

    assert list(found) == ["uploads.W012"]
    assert "uploads_deliver_webhooks" in found["uploads.W012"][0].msg
    settings.TASKS = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.dummy.DummyBackend"}}
    assert webhook_messages() == {}  # a backend that queues tasks for a worker


# uploads.E015 and W013: the tasks backend that verifies large files ----------------------


def rq_backend(settings: Any, **queue: Any) -> None:
    """Verification on django-tasks-rq, its queue configured with ``queue``."""
    require_module("django_tasks_rq", "pip install django-tasks-rq")
    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    # Never connected: checks read settings.
    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:6379/0", **queue}}


def test_an_rq_job_timeout_shorter_than_the_copy_attempts_is_e015(settings: Any) -> None:
    settings.DEBUG = True
    rq_backend(settings)  # RQ's default: 180 s

    found = uploads_messages()

    assert list(found) == ["uploads.E015"]
    assert "after 180 s" in found["uploads.E015"][0]
    assert "STORAGE_COPY_TIMEOUT'] 300 s x STORAGE_ATTEMPTS 3" in found["uploads.E015"][0]
    rq_backend(settings, DEFAULT_TIMEOUT="10m")  # rq's notation: 600 s
    assert "after 600 s" in uploads_messages()["uploads.E015"][0]


@pytest.mark.parametrize("timeout", [900, "1h", -1], ids=["copy-attempts", "an-hour", "none"])
def test_an_rq_job_timeout_covering_the_copy_attempts_is_not_e015(
    settings: Any, timeout: Any
) -> None:
    settings.DEBUG = True
    rq_backend(settings, DEFAULT_TIMEOUT=timeout)

    assert uploads_messages() == {}


def test_a_shorter_copy_timeout_needs_a_shorter_rq_job_timeout(settings: Any) -> None:
    settings.DEBUG = True
    rq_backend(settings, DEFAULT_TIMEOUT=180)
    settings.UPLOADS = {**settings.UPLOADS, "STORAGE_COPY_TIMEOUT": 60}

    assert uploads_messages() == {}


def deploy_messages() -> list[str]:
    return [str(m.id) for m in run_checks(include_deployment_checks=True)]


def test_verifying_inside_the_request_without_debug_is_w013_on_deploy(settings: Any) -> None:
    settings.DEBUG = False  # the test settings' backend: the immediate one

    assert "uploads.W013" in deploy_messages()
    assert "uploads.W013" not in [m.id for m in run_checks()]  # a deployment check only
    settings.DEBUG = True
    assert "uploads.W013" not in deploy_messages()


@pytest.mark.parametrize(
    "backend", ["django_tasks_db.DatabaseBackend", "django_tasks_rq.RQBackend"]
)
def test_a_backend_with_workers_is_not_w013(settings: Any, backend: str) -> None:
    settings.DEBUG = False
    rq_backend(settings, DEFAULT_TIMEOUT=1800)
    settings.TASKS = {"default": {"BACKEND": backend, "QUEUES": ["default"]}}

    assert "uploads.W013" not in deploy_messages()


def upload_list_checks(**field: Any) -> dict[str, list[tuple[str, str | None]]]:
    """The uploads.* checks of a model with ``UploadsField(**field)``: id -> [(message, hint)]."""
    from django.db import models
    from django.test.utils import isolate_apps

    from uploads.list_fields import UploadsField

    with isolate_apps("tests.hostapp") as apps:

        class Gallery(models.Model):
            pictures = UploadsField(**field)

            class Meta:
                app_label = "hostapp"

        found: dict[str, list[tuple[str, str | None]]] = {}
        for message in run_checks(app_configs=[apps.get_app_config("hostapp")]):
            if str(message.id).startswith("uploads.E0") or message.id == "uploads.W010":
                found.setdefault(str(message.id), []).append((message.msg, message.hint))
    return found


@pytest.mark.parametrize("max_files", [0, -2, 2.5, "6", True])
def test_an_upload_list_with_a_max_files_that_is_no_count_is_e012(max_files: Any) -> None:
    found = upload_list_checks(types=["media"], max_files=max_files)

    assert found == {
        "uploads.E012": [
            (
                "hostapp.Gallery.pictures: max_files must be a whole number of at least 1, "
                f"not {max_files!r}.",
                "Pass max_files=12 (say), or leave it out for no limit.",
            )
        ]
    }


def test_an_upload_list_taking_more_than_a_user_may_send_at_once_is_w010(settings: Any) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "MAX_OPEN_UPLOADS": 5}

    found = upload_list_checks(types=["media"], max_files=6)

    assert list(found) == ["uploads.W010"]
    (message, hint), *_ = found["uploads.W010"]
    assert "takes up to 6 files" in message and "only 5 uploads in flight" in message
    assert hint == "Lower max_files to 5 or raise UPLOADS['MAX_OPEN_UPLOADS']."
    assert upload_list_checks(types=["media"], max_files=5) == {}
    assert upload_list_checks(types=["media"]) == {}


def test_an_upload_list_without_types_is_e005_like_an_upload_field() -> None:
    found = upload_list_checks(owner_field="nothing")

    assert [m for m, _ in found["uploads.E005"]] == [
        "hostapp.Gallery.pictures names no upload types."
    ]
    assert "owner_field 'nothing' is not a foreign key" in found["uploads.E006"][0][0]
