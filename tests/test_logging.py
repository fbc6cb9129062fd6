"""The server log: one access line per request (method, path, status, time, user, request id),
nothing from Django repeating it, and an unhandled error logged once with its traceback."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from tests.conftest import client_for
from tests.helpers import PRESIGN, assert_error, assert_ok
from uploads.middleware import RequestIDLogFilter

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def plain_broken(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        raise RuntimeError("a bug in a plain view")
    raise RuntimeError("a bug in a plain view, signed out")


class ApiBroken(APIView):
    def get(self, request: Request) -> Response:
        raise RuntimeError("a bug in an API view")


# The project's URLs, and two views that fail.
urlpatterns = [
    path("api/v1/broken", ApiBroken.as_view()),
    path("pages/broken", plain_broken),
    path("", include("config.urls")),
]
handler404 = "uploads.api.errors.json_404"
handler500 = "uploads.api.errors.json_500"

ACCESS = re.compile(
    r"(?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) \d+\.\dms user=(?P<user>\S+)"
)


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """What reaches the console: the project's request id filter on the capturing handler,
    which reads the id when a record is emitted, as the console handler does."""
    id_filter = RequestIDLogFilter()
    caplog.handler.addFilter(id_filter)
    with caplog.at_level(logging.INFO):
        caplog.clear()
        yield caplog
    caplog.handler.removeFilter(id_filter)


def console_line(record: logging.LogRecord) -> str:
    """The record as the project's console prints it."""
    config: dict[str, Any] = settings.LOGGING
    return logging.Formatter(config["formatters"]["plain"]["format"]).format(record)


def the_access_line(
    records: list[logging.LogRecord], response: Any, status: int, user: Any
) -> logging.LogRecord:
    """The request's only access line says what the response did and carries its id."""
    access = [r for r in records if r.name == "uploads.access"]
    assert len(access) == 1, [console_line(r) for r in records]
    line = access[0]
    rid = response["X-Request-ID"]
    match = ACCESS.fullmatch(line.getMessage())
    assert match, line.getMessage()
    assert match["method"] == response.request["REQUEST_METHOD"]
    assert match["path"] == response.request["PATH_INFO"]
    assert int(match["status"]) == response.status_code == status
    assert match["user"] == (str(user.pk) if user else "-")
    assert line.levelno == (logging.INFO if status < 400 else logging.WARNING)
    assert line.request_id == rid  # type: ignore[attr-defined]
    assert f"[{rid}]" in console_line(line)
    return line


def test_a_success_is_one_line_with_the_user_and_the_id(
    api: APIClient, user: Any, log: pytest.LogCaptureFixture
) -> None:
    response = api.get("/api/v1/uploads", HTTP_X_REQUEST_ID="trace-ok-12345678")

    assert_ok(response)
    assert response["X-Request-ID"] == "trace-ok-12345678"
    the_access_line(log.records, response, 200, user)
    assert len(log.records) == 1


def test_a_not_found_in_the_envelope_is_one_line(
    api: APIClient, user: Any, log: pytest.LogCaptureFixture
) -> None:
    response = api.get(f"/api/v1/uploads/{uuid.uuid4()}")

    assert_error(response, 404, "upload.not_found")
    the_access_line(log.records, response, 404, user)
    assert len(log.records) == 1  # no "Not Found: /api/..." from django.request


def test_an_unknown_path_is_one_line_with_a_new_id(log: pytest.LogCaptureFixture) -> None:
    response = APIClient().get("/api/v1/no-such-thing")

    assert_error(response, 404, "not_found")
    the_access_line(log.records, response, 404, None)
    assert len(log.records) == 1


def test_a_validation_error_is_one_line(
    api: APIClient, user: Any, log: pytest.LogCaptureFixture
) -> None:
    response = api.post(
        PRESIGN, {"type": "avatar"}, format="json", HTTP_X_REQUEST_ID="trace-400-abc"
    )

    assert_error(response, 400, "validation.failed")
    the_access_line(log.records, response, 400, user)
    assert len(log.records) == 1


def test_a_refused_login_is_one_line_without_a_user(log: pytest.LogCaptureFixture) -> None:
    response = APIClient().get("/api/v1/uploads")

    assert_error(response, 401, "auth.unauthorized")
    the_access_line(log.records, response, 401, None)
    assert len(log.records) == 1


def the_error(records: list[logging.LogRecord], response: Any, message: str) -> None:
    """One error record, with the exception's traceback and the request's id."""
    errors = [r for r in records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [console_line(r) for r in errors]
    assert errors[0].exc_info and str(errors[0].exc_info[1]) == message
    assert errors[0].request_id == response["X-Request-ID"]  # type: ignore[attr-defined]
    assert "Traceback" in console_line(errors[0])


def test_an_api_view_that_raises_logs_one_error_and_one_line(
    api: APIClient, user: Any, log: pytest.LogCaptureFixture
) -> None:
    response = api.get("/api/v1/broken", HTTP_X_REQUEST_ID="trace-500-api")

    assert_error(response, 500, "server.error")
    the_error(log.records, response, "a bug in an API view")
    the_access_line(log.records, response, 500, user)
    assert len(log.records) == 2  # no "Internal Server Error: /api/v1/broken" after them


def test_a_plain_view_that_raises_logs_one_error_and_one_line(
    user: Any, log: pytest.LogCaptureFixture
) -> None:
    browser = APIClient(raise_request_exception=False)
    browser.force_login(user)  # a session, as a browser has
    log.clear()

    response = browser.get("/pages/broken", HTTP_X_REQUEST_ID="trace-500-page")

    assert response.status_code == 500
    assert b"a bug" not in response.content
    the_error(log.records, response, "a bug in a plain view")
    the_access_line(log.records, response, 500, user)
    assert len(log.records) == 2


def test_the_line_costs_no_query_for_a_user_nobody_asked_for(
    user: Any, log: pytest.LogCaptureFixture, django_assert_num_queries: Any
) -> None:
    browser = APIClient()
    browser.force_login(user)
    log.clear()

    # The local signer's download authorises by its token, never by the session.
    with django_assert_num_queries(0):
        response = browser.get("/uploads/local/get/not-a-token")

    assert_error(response, 403, "upload.signature_invalid")
    the_access_line(log.records, response, 403, None)


def test_each_request_logs_its_own_id(
    api: APIClient, user: Any, log: pytest.LogCaptureFixture
) -> None:
    first = api.get("/api/v1/uploads")
    second = client_for(user).get(f"/api/v1/uploads/{uuid.uuid4()}")

    ids = [r.request_id for r in log.records]  # type: ignore[attr-defined]
    assert ids == [first["X-Request-ID"], second["X-Request-ID"]]
    assert ids[0] != ids[1]
