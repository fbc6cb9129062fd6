"""POST /api/v1/uploads/presign through HTTP: validation against the type's policy,
server-made keys and display file names, the per-user rate limit and the query budget."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import storages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tests.conftest import client_for, make_png, sha256_b64
from tests.helpers import PRESIGN, assert_error
from tests.live import ROOT
from tests.requirements import postgres_url, require_postgres
from uploads.models import Upload, UploadPolicy
from uploads.services import presign_function

MB = 1024 * 1024
AVATAR_TYPES = ["image/jpeg", "image/png", "image/webp"]
MISSING = object()


def detail_fields(error: dict[str, Any]) -> set[str]:
    return {d["field"] for d in error["details"]}


# --- type and content type -------------------------------------------------------------


def test_unknown_type_is_refused(presign: Callable[..., Any]) -> None:
    error = assert_error(presign(type="passport", size=10), 400, "upload.invalid_type")
    assert error["i18nVars"] == {"type": "passport"}
    assert not Upload.objects.exists()


def test_deactivated_type_is_refused_from_the_next_request(
    presign: Callable[..., Any], edit_policy: Callable[..., UploadPolicy]
) -> None:
    request = {"type": "document", "contentType": "application/pdf", "size": 100}
    assert presign(**request).status_code == 201

    edit_policy("document", is_active=False)

    assert_error(presign(**request), 400, "upload.invalid_type")
    assert Upload.objects.count() == 1


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html",
        "image/png;text/html",
        "image/png; charset=binary",
        "text/html, image/png",
        "image/png, text/html",
        "image/svg+xml",
        "image/gif",  # a real image, but not in the avatar allowlist
        "image/*",
        "",
    ],
)
def test_content_type_outside_the_allowlist_is_refused(
    presign: Callable[..., Any], content_type: str
) -> None:
    response = presign(contentType=content_type, size=10)
    if content_type == "":
        assert_error(response, 400, "validation.failed")
    else:
        error = assert_error(response, 400, "upload.invalid_content_type")
        assert error["i18nVars"] == {
            "contentType": content_type,
            "type": "avatar",
            "allowed": AVATAR_TYPES,
        }
    assert not Upload.objects.exists()


def test_content_type_is_compared_lower_cased_and_stripped(
    api: APIClient, presign: Callable[..., Any], user: Any
) -> None:
    """'IMAGE/PNG ' names the same type as image/png; what gets signed, stored and shown
    is the normalised form, so the client's PUT must send image/png."""
    response = presign(contentType="IMAGE/PNG ", size=10)
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["headers"]["Content-Type"] == "image/png"
    assert data["contentType"] == "image/png"
    assert data["key"] == f"avatars/{user.pk}/{data['id']}.png"
    assert Upload.objects.get(pk=data["id"]).content_type == "image/png"


# --- size ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [MISSING, None, 0, -1, 1.5, "12", True, False, [12], {"n": 12}])
def test_size_must_be_a_positive_integer(presign: Callable[..., Any], size: Any) -> None:
    body = {} if size is MISSING else {"size": size}
    assert_error(presign(**body), 400, "upload.invalid_size")
    assert not Upload.objects.exists()


def test_size_over_the_cap_is_too_large(presign: Callable[..., Any]) -> None:
    error = assert_error(presign(size=5 * MB + 1), 400, "upload.too_large")
    assert error["i18nVars"]["maxSize"] == 5 * MB
    assert not Upload.objects.exists()

    at_the_cap = presign(size=5 * MB)
    assert at_the_cap.status_code == 201, at_the_cap.content


def test_size_may_be_omitted_when_the_policy_allows_and_the_url_caps_at_max_size(
    api: APIClient,
    presign: Callable[..., Any],
    put: Callable[..., Any],
    edit_policy: Callable[..., UploadPolicy],
) -> None:
    small = make_png(1, 1)
    cap = len(small) + 20
    edit_policy("avatar", require_size=False, max_size=cap)

    response = presign()
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["maxSize"] == cap
    assert data["size"] is None
    assert "Content-Length" not in data["headers"]

    too_big = make_png(1, 1, extra=b"x" * 40)
    assert len(too_big) > cap
    assert_error(put(data, too_big), 413, "upload.too_large")
    assert not storages["default"].exists(data["key"])

    assert put(data, small).status_code == 200
    done = api.post(f"/api/v1/uploads/{data['id']}/complete")
    assert done.status_code == 200, done.content
    assert done.json()["data"]["size"] == len(small)


# --- sha256 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sha256",
    [
        "not base64 at all!",
        base64.b64encode(b"\x01" * 31).decode(),
        base64.b64encode(b"\x01" * 33).decode(),
        hashlib.sha256(b"x").hexdigest(),  # hex, not base64
        base64.urlsafe_b64encode(b"\xfb" * 32).decode(),  # the url-safe alphabet
        12345,
        ["x"],
        {"digest": "x"},
        True,
    ],
)
def test_sha256_must_be_base64_of_32_bytes(presign: Callable[..., Any], sha256: Any) -> None:
    assert_error(presign(size=10, sha256=sha256), 400, "upload.invalid_checksum")
    assert not Upload.objects.exists()


def test_sha256_is_required_when_the_policy_says_so(
    presign: Callable[..., Any], edit_policy: Callable[..., UploadPolicy], png: bytes
) -> None:
    edit_policy("avatar", require_sha256=True)

    for missing in ({}, {"sha256": None}, {"sha256": ""}):
        assert_error(presign(size=len(png), **missing), 400, "upload.invalid_checksum")
    assert not Upload.objects.exists()

    given = presign(size=len(png), sha256=sha256_b64(png))
    assert given.status_code == 201, given.content
    assert given.json()["data"]["sha256"] == sha256_b64(png)


# --- malformed bodies ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"type": "avatar", "contentType": "image/png", "size": 10, "owner": 1}, {"owner"}),
        ({"type": 5, "contentType": "image/png", "size": 10}, {"type"}),
        ({"type": "avatar", "contentType": None, "size": 10}, {"contentType"}),
        ({"type": 5, "contentType": None, "size": 10}, {"type", "contentType"}),
        (
            {"type": 5, "contentType": None, "key": "avatars/1/x.png", "owner": 2},
            {"type", "contentType", "key", "owner"},
        ),
        ({"contentType": "image/png", "size": 10}, {"type"}),
        ({"type": "avatar", "contentType": "image/png", "fileName": 7}, {"fileName"}),
    ],
)
def test_body_fields_are_validated_and_each_listed(
    api: APIClient, body: dict[str, Any], fields: set[str]
) -> None:
    error = assert_error(api.post(PRESIGN, body, format="json"), 400, "validation.failed")
    assert detail_fields(error) == fields
    assert all(d["message"] for d in error["details"])
    assert not Upload.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        '[{"type": "avatar", "contentType": "image/png", "size": 10}]',
        '"avatar"',
        '{"type": "avatar", "contentType": "image/png",',
        '{"type": "avatar", "contentType": "image/png", "size": NaN}',
        "",
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(api: APIClient, raw: str) -> None:
    response = api.post(PRESIGN, raw, content_type="application/json")
    error = assert_error(response, 400, "validation.failed")
    assert error["details"]
    assert not Upload.objects.exists()


def test_a_body_that_is_not_json_is_refused(api: APIClient) -> None:
    response = api.post(PRESIGN, "type=avatar", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "validation.unsupported_media_type")
    assert not Upload.objects.exists()


# --- keys and file names ---------------------------------------------------------------


def test_key_is_made_by_the_server_whatever_the_file_name(
    presign: Callable[..., Any], user: Any
) -> None:
    response = presign(contentType="image/jpeg", size=10, fileName="../../etc/passwd.html")
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["key"] == f"avatars/{user.pk}/{data['id']}.jpg"
    assert data["fileName"] == "passwd.html"
    assert Upload.objects.get(pk=data["id"]).file_name == "passwd.html"


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("re\x00po\x1brt\x7f.png", "report.png"),
        ("evil\u202egnp.exe", "evilgnp.exe"),  # the right-to-left override is dropped
        ("line\r\nbreak.png", "linebreak.png"),
        ("C:\\Users\\me\\photo.png", "photo.png"),
        ("  ..hidden.png  ", "hidden.png"),
        ("", ""),
    ],
)
def test_file_name_is_cleaned_for_display(
    presign: Callable[..., Any], user: Any, sent: str, kept: str
) -> None:
    response = presign(size=10, fileName=sent)
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["fileName"] == kept
    assert re.fullmatch(rf"avatars/{user.pk}/{data['id']}\.png", data["key"])


@pytest.mark.parametrize(
    ("sent", "ending"),
    [("a" * 300 + ".png", "a.png"), ("b" * 400, "bbbbb"), ("c" * 250 + "." + "d" * 20, "ddd")],
)
def test_long_file_names_are_capped_at_255_keeping_the_extension(
    presign: Callable[..., Any], user: Any, sent: str, ending: str
) -> None:
    response = presign(size=10, fileName=sent)
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert len(data["fileName"]) == 255
    assert data["fileName"].endswith(ending)
    assert data["key"] == f"avatars/{user.pk}/{data['id']}.png"


# --- rate limit ------------------------------------------------------------------------


@pytest.fixture
def three_per_window(settings: Any) -> None:
    # Counted per fixed window: a day-long one makes a window edge mid-test practically impossible.
    settings.UPLOADS = {**settings.UPLOADS, "RATE_LIMIT": "3/d"}


def presign_as(client: APIClient, **extra: Any) -> Any:
    return client.post(
        PRESIGN, {"type": "avatar", "contentType": "image/png", "size": 10}, format="json", **extra
    )


def test_rate_limit_counts_presigns_per_user(
    three_per_window: None, api: APIClient, user: Any, other_user: Any
) -> None:
    for remaining in (2, 1, 0):
        response = presign_as(api)
        assert response.status_code == 201, response.content
        assert response["X-RateLimit-Limit"] == "3"
        assert response["X-RateLimit-Remaining"] == str(remaining)
        rate = response.json()["meta"]["rateLimit"]
        assert rate == {
            "limit": 3,
            "remaining": remaining,
            "reset": int(response["X-RateLimit-Reset"]),
        }

    limited = presign_as(api)
    error = assert_error(limited, 429, "rate_limited")
    assert 1 <= int(limited["Retry-After"]) <= 86400
    assert error["i18nVars"] == {"retryAfter": int(limited["Retry-After"])}
    assert limited["X-RateLimit-Limit"] == "3"
    assert limited["X-RateLimit-Remaining"] == "0"
    assert int(limited["X-RateLimit-Reset"]) > 0
    assert Upload.objects.filter(owner=user).count() == 3

    elsewhere = presign_as(client_for(other_user))
    assert elsewhere.status_code == 201, elsewhere.content
    assert elsewhere["X-RateLimit-Remaining"] == "2"


def test_rate_limit_ignores_what_the_client_says_about_itself(
    three_per_window: None, api: APIClient, user: Any
) -> None:
    for _ in range(3):
        assert presign_as(api).status_code == 201

    disguises: list[dict[str, str]] = [
        {"HTTP_X_FORWARDED_FOR": "203.0.113.9"},
        {"HTTP_X_REAL_IP": "203.0.113.10"},
        {"HTTP_USER_AGENT": "SomethingElse/2.0"},
        {"REMOTE_ADDR": "198.51.100.7"},
    ]
    for extra in disguises:
        assert_error(presign_as(api, **extra), 429, "rate_limited")
    # A fresh token of the same user is the same user.
    assert_error(presign_as(client_for(user)), 429, "rate_limited")
    assert Upload.objects.count() == 3


def test_requests_refused_before_presign_do_not_count(
    three_per_window: None, api: APIClient
) -> None:
    anonymous = APIClient()
    for _ in range(4):
        response = presign_as(anonymous)
        assert_error(response, 401, "auth.unauthorized")
        assert "X-RateLimit-Remaining" not in response
    for _ in range(2):
        assert_error(api.put(PRESIGN, {}, format="json"), 405, "method_not_allowed")

    remaining = [presign_as(api)["X-RateLimit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]


def test_a_revoked_token_is_refused_at_once_and_its_presigns_do_not_count(
    three_per_window: None, user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The token's version and the rate limit's count share a round trip on Redis: a revoked
    token is still refused on its next presign, and the count its refusal made is taken back."""
    from accounts.tokens import VersionedRefreshToken, revoke_all

    old = client_for(user)
    assert presign_as(old)["X-RateLimit-Remaining"] == "2"  # its version now in the cache
    with django_capture_on_commit_callbacks(execute=True):
        revoke_all(user)  # the new version published to the cache

    for _ in range(3):
        assert_error(presign_as(old), 401, "auth.unauthorized")
    fresh = APIClient()  # a token of the new version, as signing in again gives
    access = VersionedRefreshToken.for_user(user).access_token
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert [presign_as(fresh)["X-RateLimit-Remaining"] for _ in range(2)] == ["1", "0"]
    assert_error(presign_as(fresh), 429, "rate_limited")
    assert Upload.objects.count() == 3


# --- query budget ----------------------------------------------------------------------


def test_presign_with_a_warm_policy_cache_stays_within_its_query_budget(
    presign: Callable[..., Any], django_assert_max_num_queries: Any, png: bytes
) -> None:
    assert presign(size=10).status_code == 201  # warms the policy snapshot, the token version
    # The insert's transaction is a savepoint in a test's own transaction: not counted (its
    # BEGIN and COMMIT are not queries either). On PostgreSQL the owner's lock, the count and
    # the insert are one query; on SQLite the lock is BEGIN IMMEDIATE's.

    # the quota's insert: no user query (the token's version is in the cache)
    with django_assert_max_num_queries(3) as captured:
        response = presign(size=10)
    assert response.status_code == 201, response.content
    assert len(statements(captured)) == 1
    assert not [q for q in captured.captured_queries if "uploads_uploadpolicy" in q["sql"]]

    # the dedup lookup, the quota's insert
    with django_assert_max_num_queries(4) as captured:
        response = presign(size=len(png), sha256=sha256_b64(png))
    assert response.status_code == 201, response.content
    assert len(statements(captured)) == 2
    assert not [q for q in captured.captured_queries if "uploads_uploadpolicy" in q["sql"]]


def statements(captured: Any) -> list[str]:
    """The queries but savepoints."""
    return [
        q["sql"]
        for q in captured.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]


def test_a_deduplicated_presign_does_not_query_the_policy_table(
    api: APIClient,
    presign: Callable[..., Any],
    uploaded: Callable[..., dict[str, Any]],
    django_assert_max_num_queries: Any,
    png: bytes,
) -> None:
    first = uploaded(sha256=sha256_b64(png))
    assert api.post(f"/api/v1/uploads/{first['id']}/complete").status_code == 200

    with django_assert_max_num_queries(2) as captured:  # the user, the dedup lookup
        again = presign(size=len(png), sha256=sha256_b64(png))
    assert again.status_code == 200, again.content
    data = again.json()["data"]
    assert data["id"] == first["id"] and data["deduplicated"] is True
    assert data["type"] == "avatar" and data["status"] == "completed"
    assert "uploadUrl" not in data
    assert not [q for q in captured.captured_queries if "uploads_uploadpolicy" in q["sql"]]
    assert Upload.objects.count() == 1


# --- PRESIGN_ASYNC_COMMIT (PostgreSQL) --------------------------------------------------


@pytest.mark.django_db(transaction=True)  # presign's own transaction, not a savepoint
@pytest.mark.parametrize("async_commit", [False, True])
def test_async_commit_is_presigns_own_and_only_when_asked(
    presign: Callable[..., Any],
    settings: Any,
    async_commit: bool,
) -> None:
    """With PRESIGN_ASYNC_COMMIT, presign's transaction alone commits without waiting for
    the WAL's flush: the connection's later transactions wait as before."""
    require_postgres()
    settings.UPLOADS = {**settings.UPLOADS, "PRESIGN_ASYNC_COMMIT": async_commit}

    with CaptureQueriesContext(connection) as captured:
        response = presign(size=10)

    assert response.status_code == 201, response.content
    assert Upload.objects.filter(pk=response.json()["data"]["id"]).exists()
    insert = next(q["sql"] for q in captured.captured_queries if presign_function.NAME in q["sql"])
    assert insert.startswith("SET LOCAL synchronous_commit TO OFF;") is async_commit
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)


@pytest.mark.django_db(transaction=True)  # the connection of the test's own commits
def test_presign_on_a_connection_binding_parameters_on_the_server(
    presign: Callable[..., Any], settings: Any
) -> None:
    """With OPTIONS["server_side_binding"], where a query holds one statement, presign still
    locks, counts and inserts in one round trip (a pipeline), past the uses after which
    psycopg prepares its statements, and the quota refuses the upload past the cap."""
    require_postgres()
    from django.db import connections

    original = connections["default"]
    options = {**original.settings_dict["OPTIONS"], "server_side_binding": True}
    binding = type(original)({**original.settings_dict, "OPTIONS": options}, "default")
    settings.UPLOADS = {**settings.UPLOADS, "MAX_OPEN_UPLOADS": 7}
    connections["default"] = binding
    try:
        answers = [presign(size=10) for _ in range(8)]
    finally:
        connections["default"] = original
        binding.close()

    assert [a.status_code for a in answers[:7]] == [201] * 7, answers[0].content
    error = assert_error(answers[7], 429, "upload.quota_exceeded")
    assert error["i18nVars"]["openUploads"] == 7
    assert Upload.objects.count() == 7


# --- the stored function (PostgreSQL) ----------------------------------------------------


def test_the_stored_function_writes_every_column_presign_sets(
    presign: Callable[..., Any], user: Any
) -> None:
    """The upload presign answers with is the row stored: each column's value arrives through
    the function's JSON as it was (the id, the datetimes to the microsecond, the defaults)."""
    require_postgres()
    response = presign(size=10, fileName="été 2026.png")
    assert response.status_code == 201, response.content
    data = response.json()["data"]

    stored = Upload.objects.get(pk=data["id"])
    assert stored.owner_id == user.pk and stored.policy.name == "avatar"
    assert stored.status == Upload.Status.PENDING and stored.size == 10
    assert stored.file_name == data["fileName"] and stored.key.startswith("avatars/")
    assert stored.expires_at.isoformat().replace("+00:00", "Z") == data["expiresAt"]
    assert stored.created_at == stored.updated_at and stored.created_at.microsecond
    assert (stored.verify_attempt, stored.check_retries) == (0, 0)
    assert (stored.part_size, stored.completed_at, stored.verified_size) == (None, None, None)


def test_the_stored_function_writes_by_column_name(user: Any) -> None:
    """A column the table gains later (here inside the test's transaction) needs no new
    version of the function: it inserts by name, and the new column holds its NULL."""
    require_postgres()
    from uploads.services import PresignRequest, presign_upload

    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE uploads_upload ADD COLUMN later_note text")
        result = presign_upload(user, PresignRequest("avatar", "image/png", size=10))
        cursor.execute("SELECT key, later_note FROM uploads_upload")
        assert cursor.fetchall() == [(result.upload.key, None)]


@pytest.mark.django_db(transaction=True)  # the user's row held by another connection
def test_presign_does_not_wait_for_a_transaction_updating_the_users_row(user: Any) -> None:
    """Presign takes its owner's turn with an advisory lock, not a lock of the user's row: a
    transaction elsewhere updating the user (a login's last_login) holds no presign up."""
    require_postgres()
    import psycopg

    from tests.requirements import postgres_url
    from uploads.services import PresignRequest, presign_upload

    name = connection.settings_dict["NAME"]
    url = postgres_url().rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(url) as other:
        other.execute("UPDATE accounts_user SET last_login = now() WHERE id = %s", [user.pk])
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")  # a wait would fail the presign
            try:
                result = presign_upload(user, PresignRequest("avatar", "image/png", size=10))
            finally:
                cursor.execute("RESET lock_timeout")
                other.rollback()
    assert Upload.objects.filter(pk=result.upload.pk, status="pending").exists()


#: A host project's test, run with pytest-django's --nomigrations: its database is built from
#: the models, no migration runs, and its types are its own.
WITHOUT_MIGRATIONS = """
import pytest
from tests.factories import UserFactory
from uploads.models import Upload, UploadPolicy
from uploads.policies import bump_version
from uploads.services import PresignRequest, presign_upload


@pytest.mark.django_db
def test_presign() -> None:
    UploadPolicy.objects.create(
        name="notes", label="Notes", allowed_content_types=["text/plain"], max_size=100
    )
    bump_version()
    result = presign_upload(UserFactory(), PresignRequest("notes", "text/plain", size=10))
    assert Upload.objects.get().pk == result.upload.pk
"""


def test_a_test_database_built_without_migrations_has_the_stored_function(
    tmp_path: Path,
) -> None:
    """The function is made after every migrate, from the models, not by a migration: a host
    project whose test database is built with --nomigrations presigns on PostgreSQL too."""
    require_postgres()
    test = tmp_path / "test_without_migrations.py"
    test.write_text(WITHOUT_MIGRATIONS)
    # A database of its own: pytest-django makes "test_" + this name, and drops it after.
    url = postgres_url().rsplit("/", 1)[0] + f"/nomigrations_{uuid.uuid4().hex[:8]}"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--nomigrations",
            "--create-db",
            "--rootdir",
            str(ROOT),
            "-c",
            str(ROOT / "pyproject.toml"),
            str(test),
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout
