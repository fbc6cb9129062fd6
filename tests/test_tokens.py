"""Tokens that can be taken back: logout, rotation with replay detection, revocation on a
password change or a deactivation. (Login lockouts: test_login_lockout.py.)"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.forms import SetPasswordForm
from django.core.management import call_command
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from tests.helpers import assert_error, assert_ok

PASSWORD = "pw-123456"


def login(user: Any, password: str = PASSWORD, **extra: Any) -> dict[str, str]:
    answer = APIClient().post(
        "/api/v1/auth/token",
        {"username": user.username, "password": password},
        format="json",
        **extra,
    )
    return dict(assert_ok(answer))


def refresh(token: str) -> Any:
    return APIClient().post("/api/v1/auth/token/refresh", {"refresh": token}, format="json")


def logout(token: str) -> Any:
    return APIClient().post("/api/v1/auth/logout", {"refresh": token}, format="json")


def me(access: str) -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/v1/users/me")


def assert_works(access: str) -> None:
    """The access token authenticates: GET users/me answers 200 with its user."""
    assert assert_ok(me(access))["id"]


def assert_refused(access: str) -> None:
    """The access token no longer authenticates: 401 auth.unauthorized."""
    assert_error(me(access), 401, "auth.unauthorized")


def test_logout_ends_the_refresh_token(user: Any) -> None:
    tokens = login(user)

    assert assert_ok(logout(tokens["refresh"])) == {}

    assert_error(refresh(tokens["refresh"]), 401, "auth.unauthorized")
    assert_error(logout("not-a-token"), 401, "auth.unauthorized")
    assert_error(
        APIClient().post("/api/v1/auth/logout", {}, format="json"), 400, "validation.failed"
    )


def test_a_refresh_rotates_and_the_old_token_is_spent(user: Any) -> None:
    first = login(user)

    second = assert_ok(refresh(first["refresh"]))

    assert set(second) == {"access", "refresh"} and second["refresh"] != first["refresh"]
    assert_works(second["access"])
    assert assert_ok(refresh(second["refresh"]))["refresh"]


def test_a_replayed_refresh_token_revokes_every_token_of_its_user(user: Any) -> None:
    stolen = login(user)
    elsewhere = login(user)  # another device, not involved
    rotated = assert_ok(refresh(stolen["refresh"]))

    assert_error(refresh(stolen["refresh"]), 401, "auth.unauthorized")  # the replay

    for tokens in (rotated, elsewhere):
        assert_error(refresh(tokens["refresh"]), 401, "auth.unauthorized")
        assert_refused(tokens["access"])
    assert_works(login(user)["access"])  # the password still signs in


def test_a_replay_revokes_nothing_of_other_users(user: Any, other_user: Any) -> None:
    theirs = login(other_user)
    mine = login(user)
    assert_ok(refresh(mine["refresh"]))

    assert_error(refresh(mine["refresh"]), 401, "auth.unauthorized")

    assert_works(theirs["access"])
    assert_ok(refresh(theirs["refresh"]))


def test_a_logged_out_token_presented_again_counts_as_a_replay(user: Any) -> None:
    other = login(user)
    tokens = login(user)
    assert_ok(logout(tokens["refresh"]))

    assert_error(refresh(tokens["refresh"]), 401, "auth.unauthorized")

    assert_refused(other["access"])


def test_a_password_change_revokes_the_tokens_issued_before(user: Any) -> None:
    before = login(user)
    form = SetPasswordForm(
        user, {"new_password1": "n3w-Passw0rd!", "new_password2": "n3w-Passw0rd!"}
    )
    assert form.is_valid(), form.errors
    form.save()

    assert_refused(before["access"])
    assert_error(refresh(before["refresh"]), 401, "auth.unauthorized")
    assert_error(
        APIClient().post(
            "/api/v1/auth/token", {"username": user.username, "password": PASSWORD}, format="json"
        ),
        401,
        "auth.unauthorized",
    )
    after = login(user, "n3w-Passw0rd!")
    assert_works(after["access"])
    # The old token's failure was no replay: the new sign-in is left alone.
    assert_ok(refresh(after["refresh"]))


def test_saving_a_user_without_a_new_password_keeps_their_tokens(user: Any) -> None:
    tokens = login(user)
    user.first_name = "Ada"
    user.save()

    assert_works(tokens["access"])
    assert_ok(refresh(tokens["refresh"]))


def test_deactivation_revokes_tokens_and_reactivation_does_not_bring_them_back(
    user: Any,
) -> None:
    tokens = login(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    user.is_active = True
    user.save()

    assert_refused(tokens["access"])
    assert_error(refresh(tokens["refresh"]), 401, "auth.unauthorized")
    assert_works(login(user)["access"])


@pytest.mark.parametrize(
    "body",
    [[], "text", {"username": 5, "password": "x"}, {"username": "alice", "password": ["x"]}, {}],
)
def test_a_malformed_token_request_is_a_validation_error(db: Any, body: Any) -> None:
    answer = APIClient().post("/api/v1/auth/token", body, format="json")
    assert_error(answer, 400, "validation.failed")


def test_the_demo_users_printed_token_works_after_each_reset(db: Any) -> None:
    for _ in range(2):  # the second run changes the password: the first token dies
        out = StringIO()
        call_command("demo_user", stdout=out)
        token = next(
            line.split()[2] for line in out.getvalue().splitlines() if line.startswith("Access")
        )
        assert_works(token)


# ACCOUNTS_TOKEN_VERSION_CACHE_SECONDS (accounts.token_versions) ------------------------


def queries_of(access: str) -> int:
    """The queries of listing one's uploads, a view that reads nothing of the user but its id."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    with CaptureQueriesContext(connection) as queries:
        assert_ok(client.get("/api/v1/uploads"))
    return len(queries)


@pytest.fixture
def local_cache(settings: Any) -> None:
    """An in-process cache, whose clock the tests can move."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def test_a_token_whose_version_the_cache_holds_costs_no_user_query(
    user: Any, settings: Any
) -> None:
    access = login(user)["access"]
    settings.ACCOUNTS_TOKEN_VERSION_CACHE_SECONDS = 0
    with_row = queries_of(access)
    settings.ACCOUNTS_TOKEN_VERSION_CACHE_SECONDS = 300
    queries_of(access)  # the version goes to the cache

    assert queries_of(access) == with_row - 1


def test_the_user_of_a_token_loads_its_other_fields_in_one_query(user: Any) -> None:
    from accounts.token_versions import token_user

    found = token_user(str(user.pk))
    with CaptureQueriesContext(connection) as queries:
        assert (found.username, found.email, found.is_staff) == (
            user.username,
            user.email,
            user.is_staff,
        )
    assert len(queries) == 1


@pytest.mark.parametrize("revoke", ["deactivate", "password", "delete"])
def test_a_revocation_reaches_the_cache_and_refuses_the_token_at_once(
    user: Any, revoke: str, django_capture_on_commit_callbacks: Any
) -> None:
    access = login(user)["access"]
    assert_works(access)  # its version is in the cache now
    with django_capture_on_commit_callbacks(execute=True):
        if revoke == "deactivate":
            user.is_active = False
            user.save()
        elif revoke == "password":
            user.set_password("another-pw-654321")
            user.save()
        else:
            user.delete()

    assert_refused(access)


def test_a_revocation_the_cache_missed_is_refused_once_its_entry_lapses(
    user: Any, local_cache: None, monkeypatch: Any, settings: Any
) -> None:
    settings.ACCOUNTS_TOKEN_VERSION_CACHE_SECONDS = 300
    access = login(user)["access"]
    assert_works(access)
    # Deactivated without save(): no signal, nothing reaches the cache.
    User.objects.filter(pk=user.pk).update(is_active=False, token_version=F("token_version") + 1)
    clock = time.time()
    monkeypatch.setattr("django.core.cache.backends.locmem.time", _Clock(clock + 299))
    assert_works(access)  # within the bound the docs state

    monkeypatch.setattr("django.core.cache.backends.locmem.time", _Clock(clock + 301))
    assert_refused(access)


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def test_a_version_read_from_the_row_never_replaces_a_newer_one(user: Any) -> None:
    from accounts import token_versions

    token_versions.publish(user.pk, 7)  # a revocation, committed meanwhile
    token_versions.fill(user.pk, 6)  # a slower request's read of the row from before it

    assert token_versions.cached(user.pk) == 7


def test_with_the_cache_down_the_row_decides(user: Any, settings: Any) -> None:
    access = login(user)["access"]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens there
        }
    }
    assert_works(access)
    User.objects.filter(pk=user.pk).update(token_version=F("token_version") + 1)
    assert_refused(access)


def test_an_access_token_verified_before_is_refused_once_it_expires(
    user: Any, time_machine: Any
) -> None:
    """At the instant simplejwt's own check says so, though this process keeps it."""
    time_machine.move_to(timezone.now(), tick=False)
    access = login(user)["access"]
    assert_works(access)  # verified, and kept by this process
    exp = AccessToken(access)["exp"]

    time_machine.move_to(datetime.fromtimestamp(exp - 0.001, tz=UTC), tick=False)
    assert_works(access)
    time_machine.move_to(datetime.fromtimestamp(exp, tz=UTC), tick=False)
    with pytest.raises(TokenError, match="expired"):
        AccessToken(access)  # simplejwt's own verdict, from here on
    assert_refused(access)


def test_the_in_process_cache_keeps_the_versions_of_many_users() -> None:
    """Without REDIS_URL the project's cache is each process's own: it must hold a version for
    each of many users (beside their rate-limit counts), not cull them past Django's default
    of 300 entries, when every request would then read the row again."""
    from django.core.cache.backends.locmem import LocMemCache

    from accounts import token_versions
    from config.settings import IN_PROCESS_CACHE

    cache = LocMemCache("many-users", {"OPTIONS": IN_PROCESS_CACHE["OPTIONS"]})
    for user_id in range(3000):
        cache.set(f"rate:{user_id}", 1)
        cache.add(token_versions._key(user_id), 0, 300)
    assert all(cache.get(token_versions._key(user_id)) == 0 for user_id in range(3000))
