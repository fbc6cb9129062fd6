from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import storages
from django.urls import reverse
from rest_framework.test import APIClient

from tests.backends import ENFORCEABLE, Backend


class LocalBackend(Backend):
    name = "local"
    enforces = ENFORCEABLE

    def __init__(self, root: Path) -> None:
        self.root = root

    def storage_config(self) -> dict[str, Any]:
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(self.root), "base_url": None},
        }

    def send(self, answer: dict[str, Any], body: bytes, headers: dict[str, str]) -> int:
        headers = dict(headers)
        content_type = headers.pop("Content-Type", "")
        extra = {}
        if "Content-Length" in headers:
            extra["CONTENT_LENGTH"] = headers.pop("Content-Length")
        extra |= {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        response = APIClient().generic(
            answer["method"], answer["uploadUrl"], body, content_type=content_type, **extra
        )
        return response.status_code

    def read(self, key: str) -> bytes | None:
        storage = storages["default"]
        if not storage.exists(key):
            return None
        with storage.open(key, "rb") as fh:
            return fh.read()

    def served_headers(self, key: str) -> dict[str, str]:
        response = APIClient().get(reverse("uploads:local-file", args=[key]))
        assert response.status_code == 200, response
        names = ("content-type", "cache-control", "content-disposition")
        return {name: response[name] for name in names if response.has_header(name)}

    def tamper(self, url: str) -> str:
        head, token = url.rsplit("/", 1)
        return f"{head}/{token[:-2]}{'AA' if token[-2:] != 'AA' else 'BB'}"


@pytest.fixture(scope="session")
def local_backend(tmp_path_factory: pytest.TempPathFactory) -> LocalBackend:
    return LocalBackend(tmp_path_factory.mktemp("local-storage"))
