"""Pages signed in with a Django session call the API with the CSRF token, as uploads.js does;
bearer tokens need none."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework_simplejwt.tokens import RefreshToken

from tests.helpers import PRESIGN, assert_error, assert_ok
from uploads.models import Upload

pytestmark = pytest.mark.django_db

BODY = {"type": "avatar", "contentType": "image/png", "size": 100}


@pytest.fixture
def session(user: Any) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf_token(client: Client) -> str:
    client.get("/admin/login/")  # any page that sets the CSRF cookie
    return str(client.cookies["csrftoken"].value)


def test_a_session_reads_without_a_token(session: Client) -> None:
    assert assert_ok(session.get("/api/v1/uploads")) == []


def test_a_session_write_without_the_csrf_token_is_refused_and_writes_nothing(
    session: Client,
) -> None:
    error = assert_error(
        session.post(PRESIGN, BODY, content_type="application/json"), 403, "auth.forbidden"
    )

    assert "CSRF" in error["message"]
    assert not Upload.objects.exists()


def test_a_session_write_with_the_csrf_token_goes_through(session: Client, user: Any) -> None:
    token = csrf_token(session)

    data = assert_ok(
        session.post(PRESIGN, BODY, content_type="application/json", HTTP_X_CSRFTOKEN=token), 201
    )

    assert Upload.objects.get(pk=data["id"]).owner == user


def test_a_bearer_token_needs_no_csrf_token(user: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    access = RefreshToken.for_user(user).access_token

    assert_ok(
        client.post(
            PRESIGN, BODY, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {access}"
        ),
        201,
    )


def test_no_session_and_no_token_is_unauthorized() -> None:
    assert_error(Client().get("/api/v1/uploads"), 401, "auth.unauthorized")
