"""The API in a host's URLconf: it answers only its own paths, the token endpoints are an
include of their own, and the JSON error handlers follow wherever the API is mounted."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client
from django.urls import include, path

from tests.conftest import client_for
from tests.helpers import assert_error, assert_ok

pytestmark = pytest.mark.django_db


def host_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"host": True})


def broken_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug of the host's")


# A host that mounts the API under its own prefix, keeps views of its own beside it, skips
# the token endpoints and opts in to the JSON handlers.
urlpatterns = [
    path("services/files/", include("uploads.api.urls")),
    path("services/files/things", host_view),
    path("services/files/broken", broken_view),
    path("pages/broken", broken_view),
]
handler404 = "uploads.api.errors.json_404"
handler500 = "uploads.api.errors.json_500"

HOST = "tests.test_host_urls"


@pytest.mark.urls(HOST)
def test_the_hosts_own_paths_beside_the_api_are_its_own(user: Any) -> None:
    api = client_for(user)

    assert api.get("/services/files/things").json() == {"host": True}
    assert assert_ok(api.get("/services/files/uploads/types"))


@pytest.mark.urls(HOST)
def test_the_token_endpoints_come_only_with_their_include(user: Any) -> None:
    answer = Client().post(
        "/services/files/auth/token", {"username": user.username, "password": "pw-123456"}
    )

    assert_error(answer, 404, "not_found")


@pytest.mark.urls(HOST)
def test_unknown_paths_under_the_api_mount_get_the_envelope_and_others_djangos_page(
    settings: Any,
) -> None:
    settings.DEBUG = False

    assert_error(Client().get("/services/files/nothing-here"), 404, "not_found")
    page = Client().get("/pages/nothing-here")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


@pytest.mark.urls(HOST)
def test_a_crash_under_the_api_mount_is_a_json_500_and_elsewhere_djangos(settings: Any) -> None:
    settings.DEBUG = False
    client = Client(raise_request_exception=False)

    assert_error(client.get("/services/files/broken"), 500, "server.error")
    page = client.get("/pages/broken")
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


def test_the_project_keeps_its_catch_all_under_api_in_any_debug_mode(settings: Any) -> None:
    for debug in (True, False):
        settings.DEBUG = debug
        assert_error(Client().get("/api/v1/nothing-here"), 404, "not_found")
