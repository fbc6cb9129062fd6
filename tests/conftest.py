from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import caches
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.demo import png_bytes
from tests.factories import UserFactory
from uploads.models import UploadPolicy
from uploads.policies import registry

pytest_plugins = [
    *(f"tests.backends.{name}" for name in ("local", "s3", "azure", "gcs")),
    "tests.skip_summary",
    "tests.skip_guard",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A transactional test starts from the migrated data (the default upload types), not
    from the empty tables the flush after the previous one left: such a test passed alone
    and failed after another transactional test."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is not None and marker.kwargs.get("transaction"):
            kwargs = {**marker.kwargs, "serialized_rollback": True}
            item.add_marker(pytest.mark.django_db(*marker.args, **kwargs), append=False)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Rate-limit counts and the policy version start empty in every test, and the process's
    policies are loaded afresh (a test database rolled back or flushed goes back to an
    earlier revision number with other rows than this process saw at that number)."""
    for cache in caches.all():
        cache.clear()
    registry.forget()
    yield


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Any) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "storage"), "base_url": None},
        },
    }


def make_png(width: int = 1, height: int = 1, extra: bytes = b"") -> bytes:
    return png_bytes(width, height, extra)


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.fixture
def png() -> bytes:
    return make_png(4, 4)


@pytest.fixture
def user(db: Any) -> Any:
    return UserFactory()


@pytest.fixture
def other_user(db: Any) -> Any:
    return UserFactory()


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def api(user: Any) -> APIClient:
    return client_for(user)


@pytest.fixture
def presign(api: APIClient) -> Callable[..., Any]:
    def do(**body: Any) -> Any:
        body = {"type": "avatar", "contentType": "image/png", **body}
        return api.post("/api/v1/uploads/presign", body, format="json")

    return do


@pytest.fixture
def put() -> Callable[..., Any]:
    """Sends exactly what a presign answer says to send, as a client would."""

    def do(answer: dict[str, Any], body: bytes, **header_overrides: str) -> Any:
        headers = {**answer["headers"], **header_overrides}
        content_type = headers.pop("Content-Type", "")
        extra = {}
        if "Content-Length" in headers:
            extra["CONTENT_LENGTH"] = headers.pop("Content-Length")
        return APIClient().generic(
            answer["method"], answer["uploadUrl"], body, content_type=content_type, **extra
        )

    return do


@pytest.fixture
def uploaded(
    presign: Callable[..., Any], put: Callable[..., Any], png: bytes
) -> Callable[..., Any]:
    """Presign and PUT a file; returns the presign answer's data."""

    def do(body: bytes = png, **fields: Any) -> dict[str, Any]:
        fields.setdefault("size", len(body))
        answer = presign(**fields)
        assert answer.status_code == 201, answer.content
        data = answer.json()["data"]
        response = put(data, body)
        assert response.status_code == 200, response.content
        return data

    return do


@pytest.fixture
def edit_policy(django_capture_on_commit_callbacks: Any) -> Callable[..., UploadPolicy]:
    """Edits an upload type as an operator does in the admin: save, and commit (whose
    on-commit version bump makes every process reload its policy snapshot)."""

    def do(name: str, **fields: Any) -> UploadPolicy:
        policy = UploadPolicy.objects.get(name=name)
        for field, value in fields.items():
            setattr(policy, field, value)
        with django_capture_on_commit_callbacks(execute=True):
            policy.save()
        return policy

    return do
