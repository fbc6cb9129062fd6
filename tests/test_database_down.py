"""A database that does not answer is a 503 ``service.unavailable`` with Retry-After on the
API, wherever the request meets it (authentication, the view, a middleware), and the next
request after it is back works: PostgreSQL refusing connections, or killing one mid-request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import close_old_connections, connection
from rest_framework.test import APIClient

from tests.conftest import client_for
from tests.helpers import PRESIGN, assert_error, assert_ok
from tests.live import free_port
from tests.requirements import require_postgres

AVATAR = {"type": "avatar", "contentType": "image/png", "size": 100}

pytestmark = pytest.mark.django_db(transaction=True)  # the tests close the connection


@pytest.fixture(autouse=True)
def _postgresql() -> Iterator[None]:
    require_postgres()
    yield
    connection.close()  # a connection a failed test left broken is not the next one's


def assert_retry(response: Any) -> None:
    assert_error(response, 503, "service.unavailable")
    assert int(response["Retry-After"]) > 0


@contextmanager
def refusing_connections() -> Iterator[None]:
    """The database server takes no connection: the project's settings point at a port
    where nothing listens."""
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(free_port())
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port


def test_a_database_refusing_connections_is_a_503_and_then_serves_again(user: Any) -> None:
    api = client_for(user)

    with refusing_connections():
        assert_retry(api.get("/api/v1/uploads"))  # authentication's user lookup
        assert_retry(api.post(PRESIGN, AVATAR, format="json"))

    assert_ok(api.get("/api/v1/uploads"))


def test_a_session_middleware_meeting_the_database_down_is_a_503_too(
    user: Any, settings: Any
) -> None:
    # Outside DRF's views: this middleware reads the session's user before any view runs.
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "django.contrib.auth.middleware.LoginRequiredMiddleware",
    ]
    api = APIClient(raise_request_exception=False)  # answered as a server would
    api.force_login(user)

    with refusing_connections():
        assert_retry(api.get("/api/v1/uploads"))

    assert_ok(api.get("/api/v1/uploads"))


def killing_before(table: str) -> Callable[..., Any]:
    """An execute wrapper that has the server terminate this connection, from another one,
    just before the first statement naming ``table`` is sent."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    killed: list[int] = []

    def wrapper(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        if table in sql and not killed:
            killed.append(pid)
            other = connection.copy()
            try:
                with other.cursor() as cursor:  # waits until the backend has gone
                    cursor.execute("SELECT pg_terminate_backend(%s, 10000)", [pid])
            finally:
                other.close()
        return execute(sql, *args)

    return wrapper


@pytest.mark.parametrize(
    "table",
    [
        pytest.param("accounts_user", id="in-authentication"),
        pytest.param("uploads_upload", id="in-the-view"),  # its list of uploads
    ],
)
def test_a_connection_killed_mid_request_is_a_503_and_the_next_request_works(
    user: Any, table: str
) -> None:
    api = client_for(user)

    with connection.execute_wrapper(killing_before(table)):
        assert_retry(api.get("/api/v1/uploads"))

    close_old_connections()  # what Django does as every request ends and starts
    assert_ok(api.get("/api/v1/uploads"))
