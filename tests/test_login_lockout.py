"""Login throttling (django-axes) on every login surface the project serves: a user name from
one address is locked after a few wrong passwords, an address after more over any names; a
stranger's failures never keep the user out of their own address."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tests.helpers import assert_error, assert_ok

PASSWORD = "pw-123456"
SURFACES = ["/api/v1/auth/token", "/login/", "/admin/login/"]
HOME, STRANGER = "10.0.0.1", "10.0.0.66"


@pytest.fixture(autouse=True)
def limits(settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 6
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


@pytest.fixture
def victim(db: Any) -> Any:
    return UserFactory(username="alice", is_staff=True)  # staff: /admin/login/ lets it in


def attempt(surface: str, name: str, password: str, address: str, **headers: Any) -> Any:
    body = {"username": name, "password": password}
    if surface.startswith("/api/"):
        return APIClient().post(surface, body, format="json", REMOTE_ADDR=address, **headers)
    return Client().post(surface, body, REMOTE_ADDR=address, **headers)


def assert_signed_in(surface: str, answer: Any) -> None:
    """The login worked: the API answers the tokens, a page redirects."""
    if surface.startswith("/api/"):
        assert set(assert_ok(answer)) == {"access", "refresh"}
    else:
        assert answer.status_code == 302, answer.content


def assert_wrong_password(surface: str, answer: Any) -> None:
    """Refused as a wrong password, not locked out: 401 on the API, the form again on a page."""
    if surface.startswith("/api/"):
        assert_error(answer, 401, "auth.unauthorized")
    else:
        assert answer.status_code == 200, answer.content
        assert "correct username and password" in answer.content.decode()


def assert_locked_out(surface: str, answer: Any) -> int:
    """A lockout answer (429 with Retry-After); returns its Retry-After."""
    if surface.startswith("/api/"):
        error = assert_error(answer, 429, "rate_limited")
        assert error["i18nVars"]["retryAfter"] == int(answer["Retry-After"])
        assert "access" not in answer.content.decode()
    else:
        assert answer.status_code == 429, answer.content
        assert b"Try again at" in answer.content
    return int(answer["Retry-After"])


def fail(
    surface: str, name: str, times: int, address: str, locks: bool = False, **headers: Any
) -> None:
    """``times`` wrong passwords, each refused as such; with ``locks``, the last one reaches
    a limit and is answered with the lockout itself."""
    for n in range(times):
        answer = attempt(surface, name, "wrong", address, **headers)
        if locks and n == times - 1:
            assert_locked_out(surface, answer)
        else:
            assert_wrong_password(surface, answer)


@pytest.mark.parametrize("surface", SURFACES)
def test_wrong_passwords_lock_the_name_out_of_that_address_only(surface: str, victim: Any) -> None:
    fail(surface, "alice", 3, STRANGER, locks=True)

    refused = attempt(surface, "alice", PASSWORD, STRANGER)

    assert 14 * 60 < assert_locked_out(surface, refused) <= 15 * 60
    assert_signed_in(surface, attempt(surface, "alice", PASSWORD, HOME))  # the user, at home
    # ...which resets nothing for the stranger's address.
    assert_locked_out(surface, attempt(surface, "alice", PASSWORD, STRANGER))


@pytest.mark.parametrize("surface", SURFACES)
def test_case_and_space_variants_of_a_name_count_as_one(surface: str, victim: Any) -> None:
    for variant in ("Alice", " ALICE ", "alicE"):
        fail(surface, variant, 1, STRANGER, locks=variant == "alicE")

    assert_locked_out(surface, attempt(surface, "alice", PASSWORD, STRANGER))


@pytest.mark.parametrize("surface", SURFACES)
def test_an_address_spraying_many_names_is_stopped(surface: str, victim: Any) -> None:
    for n in range(5):  # one wrong password each: under the per-name limit
        fail(surface, f"someone{n}", 1, STRANGER)
    # An address many people share is not locked by a few mistakes each...
    assert_signed_in(surface, attempt(surface, "alice", PASSWORD, STRANGER))

    fail(surface, "someone5", 1, STRANGER, locks=True)

    # ...but past its own limit, over any names, it is.
    assert_locked_out(surface, attempt(surface, "alice", PASSWORD, STRANGER))
    assert_signed_in(surface, attempt(surface, "alice", PASSWORD, HOME))


@pytest.mark.parametrize("surface", SURFACES)
def test_the_lockout_ends_with_its_cool_off(surface: str, victim: Any) -> None:
    with time_machine.travel(timezone.now(), tick=False) as clock:
        fail(surface, "alice", 3, STRANGER, locks=True)
        clock.shift(timedelta(minutes=5))
        # Counted from the failure that locked it out, not pushed back by this try.
        assert 9 * 60 < assert_locked_out(surface, attempt(surface, "alice", PASSWORD, STRANGER))
        assert assert_locked_out(surface, attempt(surface, "alice", PASSWORD, STRANGER)) <= 10 * 60

        clock.shift(timedelta(minutes=10, seconds=1))

        assert_signed_in(surface, attempt(surface, "alice", PASSWORD, STRANGER))


def test_auth_token_answers_a_lockout_in_its_envelope_with_axes_as_the_readme_sets_it_up(
    victim: Any, settings: Any
) -> None:
    settings.AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
    settings.AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
    settings.AXES_COOLOFF_TIME = 0.25  # hours
    settings.AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
    for name in ("AXES_USERNAME_CALLABLE", "AXES_CLIENT_IP_CALLABLE", "AXES_LOCKOUT_CALLABLE"):
        setattr(settings, name, None)
    token = "/api/v1/auth/token"
    fail(token, "alice", 3, STRANGER, locks=True)

    assert (
        14 * 60 < assert_locked_out(token, attempt(token, "alice", PASSWORD, STRANGER)) <= 15 * 60
    )
    assert_signed_in(token, attempt(token, "alice", PASSWORD, HOME))


def test_a_name_longer_than_any_user_name_is_refused_as_wrong(db: Any) -> None:
    token = "/api/v1/auth/token"
    for name in ("x" * 1000, "é" * 300):
        assert_error(attempt(token, name, "wrong", STRANGER), 401, "auth.unauthorized")


def test_the_proxy_header_names_the_address_only_when_configured(
    victim: Any, settings: Any
) -> None:
    token = "/api/v1/auth/token"
    # Not configured: a header the client sends is no address; all come from REMOTE_ADDR.
    for n in range(3):
        fail(token, "alice", 1, STRANGER, locks=n == 2, HTTP_X_REAL_IP=f"10.9.9.{n}")
    assert_locked_out(token, attempt(token, "alice", PASSWORD, STRANGER, HTTP_X_REAL_IP="10.9.9.9"))

    settings.CLIENT_IP_HEADER = "HTTP_X_REAL_IP"
    proxy, another = "192.0.2.1", "10.0.0.77"  # another stranger: STRANGER is locked out already
    fail(token, "alice", 3, proxy, locks=True, HTTP_X_REAL_IP=another)

    assert_locked_out(token, attempt(token, "alice", PASSWORD, proxy, HTTP_X_REAL_IP=another))
    assert_signed_in(token, attempt(token, "alice", PASSWORD, proxy, HTTP_X_REAL_IP=HOME))


def test_operators_see_lockouts_in_the_admin_and_clear_them_by_command(
    victim: Any, admin_client: Any
) -> None:
    token = "/api/v1/auth/token"
    fail(token, " Alice", 3, STRANGER, locks=True)

    listed = admin_client.get("/admin/axes/accessattempt/")
    assert listed.status_code == 200
    assert STRANGER in listed.content.decode()

    call_command("axes_reset_username", "alice", stdout=StringIO())  # the name as counted

    assert_signed_in(token, attempt(token, "alice", PASSWORD, STRANGER))


@pytest.mark.parametrize("loopback", ["127.0.0.1", "::1"])
def test_with_debug_on_a_local_tool_is_never_locked_out(
    loopback: str, victim: Any, settings: Any
) -> None:
    settings.DEBUG = True
    fail("/api/v1/auth/token", "alice", 10, loopback)  # over both limits, each a plain 401

    assert_signed_in(
        "/api/v1/auth/token", attempt("/api/v1/auth/token", "alice", PASSWORD, loopback)
    )


def test_with_debug_on_other_addresses_are_locked_out_as_ever(victim: Any, settings: Any) -> None:
    settings.DEBUG = True
    fail("/api/v1/auth/token", "alice", 3, STRANGER, locks=True)

    assert_locked_out(
        "/api/v1/auth/token", attempt("/api/v1/auth/token", "alice", PASSWORD, STRANGER)
    )


@pytest.mark.parametrize("surface", SURFACES)
def test_with_debug_off_the_loopback_is_locked_out_like_any_address(
    surface: str, victim: Any
) -> None:
    fail(surface, "alice", 3, "127.0.0.1", locks=True)

    assert_locked_out(surface, attempt(surface, "alice", PASSWORD, "127.0.0.1"))
