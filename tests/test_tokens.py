"""Tokens that can be taken back: logout, rotation with replay detection, revocation on a
password change or a deactivation. (Login lockouts: test_login_lockout.py.)"""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.forms import SetPasswordForm
from django.core.management import call_command
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tokens import VersionedRefreshToken
from accounts.user_cache import RecentUsers
from tests.factories import UserFactory
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


# ACCOUNTS_JWT_USER_CACHE_SECONDS --------------------------------------------------------


@pytest.fixture
def user_cache(settings: Any, monkeypatch: Any) -> list[float]:
    """Users reused for 30 seconds, on a clock the test moves."""
    settings.ACCOUNTS_JWT_USER_CACHE_SECONDS = 30
    clock = [1000.0]
    monkeypatch.setattr("accounts.user_cache.monotonic", lambda: clock[0])
    return clock


def queries_of(access: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert_works(access)
    return len(queries)


def test_a_user_cache_saves_the_user_query(user: Any, settings: Any, user_cache: Any) -> None:
    access = login(user)["access"]
    settings.ACCOUNTS_JWT_USER_CACHE_SECONDS = 0
    uncached = queries_of(access)
    settings.ACCOUNTS_JWT_USER_CACHE_SECONDS = 30
    queries_of(access)  # loads the user into the cache

    assert queries_of(access) == uncached - 1


def test_a_user_cache_delays_a_revocation_made_elsewhere_by_at_most_its_lifetime(
    user: Any, user_cache: list[float]
) -> None:
    access = login(user)["access"]
    assert_works(access)
    # Another process deactivates the user: nothing reaches this process's cache.
    User.objects.filter(pk=user.pk).update(is_active=False, token_version=F("token_version") + 1)

    user_cache[0] += 29.9
    assert_works(access)
    user_cache[0] += 0.1
    assert_refused(access)


def test_a_user_cache_sees_a_revocation_made_in_its_process_at_once(
    user: Any, user_cache: Any
) -> None:
    tokens = login(user)
    assert_works(tokens["access"])

    user.is_active = False
    user.save(update_fields=["is_active"])

    assert_refused(tokens["access"])


def test_a_user_cache_takes_the_tokens_of_a_new_sign_in_at_once(user: Any, user_cache: Any) -> None:
    before = login(user)
    assert_works(before["access"])
    # A password change in another process: this one still holds the older row.
    User.objects.filter(pk=user.pk).update(token_version=F("token_version") + 1)

    after = VersionedRefreshToken.for_user(User.objects.get(pk=user.pk))

    assert_works(str(after.access_token))
    assert_refused(before["access"])


def test_the_user_cache_holds_at_most_its_size_and_drops_the_oldest(db: Any) -> None:
    recent = RecentUsers(size=2)
    users = UserFactory.create_batch(3)
    for user in users:
        recent.put(user)
    tokens = [VersionedRefreshToken.for_user(user).access_token for user in users]

    assert recent.get(tokens[0], 30) is None
    assert [recent.get(t, 30).pk for t in tokens[1:]] == [u.pk for u in users[1:]]  # type: ignore[union-attr]
