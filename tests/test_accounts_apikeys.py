"""API keys for server-to-server clients: made in the admin and shown once, stored as a
hash, ``Authorization: Bearer upk_...`` beside JWTs, scopes, expiry, revocation, last use."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import apikeys
from accounts.models import ApiKey
from accounts.scopes import SCOPES
from tests.conftest import client_for
from tests.helpers import (
    assert_error,
    assert_ok,
    make_upload,
    status_of,
    stored,
)

ALL_SCOPES = list(SCOPES)
KEYS_URL = "/admin/accounts/apikey/"


def key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_a_new_key_is_kept_only_as_its_sha256(user: Any) -> None:
    _, key = apikeys.create_api_key(user, "backup job", ["uploads:read"])

    assert re.fullmatch(r"upk_[A-Za-z0-9_-]{43}", key)
    row = ApiKey.objects.get()
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert row.prefix == key[:12]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apikey")
        assert key not in repr(cursor.fetchall())
    assert apikeys.create_api_key(user, "second", [])[1] != key


def test_a_key_authenticates_as_its_user_beside_jwts(user: Any, other_user: Any) -> None:
    _, key = apikeys.create_api_key(user, "job", ALL_SCOPES)

    assert assert_ok(key_client(key).get("/api/v1/users/me"))["username"] == user.username
    assert (
        assert_ok(client_for(other_user).get("/api/v1/users/me"))["username"] == other_user.username
    )


def test_a_key_can_do_only_what_its_scopes_allow(user: Any) -> None:
    upload = make_upload(user, "media")
    _, reader = apikeys.create_api_key(user, "reader", ["media:read", "uploads:read"])

    assert assert_ok(key_client(reader).get(f"/api/v1/uploads/{upload.pk}"))["id"] == str(upload.pk)
    assert assert_ok(key_client(reader).get("/api/v1/media")) == []
    assert_error(
        key_client(reader).post("/api/v1/media", {"upload": str(upload.pk)}, format="json"),
        403,
        "auth.forbidden",
    )
    assert_error(key_client(reader).delete(f"/api/v1/uploads/{upload.pk}"), 403, "auth.forbidden")
    assert status_of(upload.pk) == "completed" and stored(upload.key)


def test_last_use_is_recorded_at_most_once_a_minute(user: Any) -> None:
    api_key, key = apikeys.create_api_key(user, "job", [])
    assert api_key.last_used_at is None
    client = key_client(key)

    assert_ok(client.get("/api/v1/users/me"))
    api_key.refresh_from_db()
    first_use = api_key.last_used_at
    assert first_use is not None and timezone.now() - first_use < timedelta(seconds=5)

    recent = timezone.now() - timedelta(seconds=30)
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=recent)
    assert_ok(client.get("/api/v1/users/me"))
    api_key.refresh_from_db()
    assert api_key.last_used_at == recent  # no write within the minute

    old = timezone.now() - timedelta(minutes=2)
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=old)
    assert_ok(client.get("/api/v1/users/me"))
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None and api_key.last_used_at > old + timedelta(seconds=60)


def test_a_request_within_the_minute_writes_nothing(
    user: Any, django_assert_num_queries: Any
) -> None:
    api_key, key = apikeys.create_api_key(user, "job", [])
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
    client = key_client(key)

    with django_assert_num_queries(1):  # the key with its user, and nothing else
        assert_ok(client.get("/api/v1/users/me"))


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(
            lambda key, row, user: (
                ApiKey.objects.filter(pk=row.pk).update(revoked_at=timezone.now()),
                key,
            )[1],
            id="revoked",
        ),
        pytest.param(
            lambda key, row, user: (
                ApiKey.objects.filter(pk=row.pk).update(
                    expires_at=timezone.now() - timedelta(seconds=1)
                ),
                key,
            )[1],
            id="expired",
        ),
        pytest.param(
            lambda key, row, user: (
                type(user).objects.filter(pk=user.pk).update(is_active=False),
                key,
            )[1],
            id="inactive-user",
        ),
        pytest.param(
            lambda key, row, user: key[:-1] + ("A" if key[-1] != "A" else "B"), id="unknown"
        ),
        pytest.param(lambda key, row, user: "upk_", id="bare-prefix"),
    ],
)
def test_an_unusable_key_is_unauthorized(user: Any, spoil: Any) -> None:
    row, key = apikeys.create_api_key(
        user, "job", ALL_SCOPES, expires_at=timezone.now() + timedelta(days=1)
    )
    bad = spoil(key, row, user)

    response = key_client(bad).get("/api/v1/users/me")

    assert_error(response, 401, "auth.unauthorized")
    assert response["WWW-Authenticate"].startswith("Bearer")
    row.refresh_from_db()
    assert row.last_used_at is None


def test_a_key_before_its_expiry_works(user: Any) -> None:
    _, key = apikeys.create_api_key(
        user, "job", [], expires_at=timezone.now() + timedelta(minutes=1)
    )
    assert_ok(key_client(key).get("/api/v1/users/me"))


def test_no_credentials_is_unauthorized_not_forbidden(db: Any) -> None:
    response = APIClient().get("/api/v1/media")
    assert_error(response, 401, "auth.unauthorized")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_jwt_lookalike_is_left_to_jwt_authentication(db: Any) -> None:
    assert_error(key_client("not-a-jwt").get("/api/v1/users/me"), 401, "auth.unauthorized")


def test_scopes_are_checked_against_the_known_ones(user: Any) -> None:
    with pytest.raises(ValidationError):
        apikeys.create_api_key(user, "job", ["uploads:read", "admin:everything"])
    row = ApiKey(user=user, name="job", scopes="uploads:read", key_hash="x" * 64, prefix="upk_x")
    with pytest.raises(ValidationError):
        row.full_clean()
    assert not ApiKey.objects.exists()


# --- the admin -------------------------------------------------------------------------


def added_key(admin_client: Client, **form: Any) -> tuple[Any, str]:
    """Add a key through the admin's form; returns the response and the key it showed."""
    response = admin_client.post(f"{KEYS_URL}add/", form, follow=True)
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"] if "The new API key is" in str(m)]
    assert len(shown) == 1, shown
    key = re.search(r"upk_[A-Za-z0-9_-]+", shown[0])
    assert key
    return response, key.group(0)


def test_admin_shows_a_new_key_once_and_keeps_its_hash(admin_client: Client, user: Any) -> None:
    response, key = added_key(
        admin_client,
        user=user.pk,
        name="nightly sync",
        scopes=["media:read", "uploads:read"],
    )

    row = ApiKey.objects.get()
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert row.user == user and row.scopes == ["media:read", "uploads:read"]
    assert row.prefix in response.content.decode()
    for page in (KEYS_URL, f"{KEYS_URL}{row.pk}/change/", KEYS_URL):
        assert key not in admin_client.get(page).content.decode()

    assert assert_ok(key_client(key).get("/api/v1/media")) == []
    assert_error(
        key_client(key).patch("/api/v1/users/me/avatar", {}, format="json"), 403, "auth.forbidden"
    )


def test_admin_offers_the_uploads_scopes_and_the_projects_own(admin_client: Client) -> None:
    form = admin_client.get(f"{KEYS_URL}add/").context["adminform"].form

    assert [value for value, _ in form.fields["scopes"].choices] == [
        "uploads:read",
        "uploads:write",
        "profile:write",
        "media:read",
        "media:write",
    ]


def test_admin_refuses_an_unknown_scope(admin_client: Client, user: Any) -> None:
    response = admin_client.post(
        f"{KEYS_URL}add/", {"user": user.pk, "name": "x", "scopes": ["root"]}
    )
    assert response.status_code == 200
    assert "scopes" in response.context["adminform"].form.errors
    assert not ApiKey.objects.exists()


def test_admin_edit_keeps_the_key_and_its_owner(
    admin_client: Client, user: Any, other_user: Any
) -> None:
    row, key = apikeys.create_api_key(user, "job", ["media:read"])
    response = admin_client.post(
        f"{KEYS_URL}{row.pk}/change/",
        {"user": other_user.pk, "name": "renamed", "scopes": ["media:read", "media:write"]},
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.name, row.user, row.scopes) == ("renamed", user, ["media:read", "media:write"])
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()


def test_admin_revokes_keys(admin_client: Client, user: Any) -> None:
    revoked, revoked_key = apikeys.create_api_key(user, "old", ALL_SCOPES)
    _, kept_key = apikeys.create_api_key(user, "current", ALL_SCOPES)

    response = admin_client.post(
        KEYS_URL, {"action": "revoke_keys", "_selected_action": [revoked.pk]}, follow=True
    )

    assert "Revoked 1 key(s)." in response.content.decode()
    revoked.refresh_from_db()
    assert revoked.revoked_at is not None
    assert_error(key_client(revoked_key).get("/api/v1/users/me"), 401, "auth.unauthorized")
    assert_ok(key_client(kept_key).get("/api/v1/users/me"))
    listing = admin_client.get(KEYS_URL).content.decode()
    assert "revoked" in listing and "active" in listing


def test_only_a_superuser_makes_a_key_for_another_user(user: Any, other_user: Any) -> None:
    """A key acts as its user: a staff member who may add keys makes them for themself only."""
    from django.contrib.auth.models import Permission

    user.is_staff = True
    user.save()
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_apikey", "view_apikey"])
    )
    staff = Client()
    staff.force_login(user)

    refused = staff.post(
        f"{KEYS_URL}add/", {"user": other_user.pk, "name": "x", "scopes": ["media:read"]}
    )
    assert refused.status_code == 200
    assert "Only a superuser may make a key for another user." in refused.content.decode()
    assert not ApiKey.objects.exists()

    own, _ = added_key(staff, user=user.pk, name="mine", scopes=["media:read"])
    assert ApiKey.objects.get().user == user


def test_the_new_key_never_travels_in_a_cookie(admin_client: Client, user: Any) -> None:
    """The message that shows the key once stays server-side (Django's default message
    storage would sign it into a cookie, readable by anyone who sees the cookie)."""
    form = {"user": user.pk, "name": "n", "scopes": ["media:read"]}
    response = admin_client.post(f"{KEYS_URL}add/", form)
    assert response.status_code == 302 and ApiKey.objects.exists()
    assert "messages" not in response.cookies
