"""Storage backends the conformance suite runs against, one module each.

Each module defines a session fixture named ``<name>_backend`` that starts its real server
(or, through tests.requirements.missing, skips, or fails under
UPLOADS_REQUIRE_ALL_BACKENDS=1) and returns a ``Backend``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import pytest

from tests.requirements import missing as missing  # the one way a test skips

#: What a backend's storage itself refuses. Signature and expiry are refused by every one.
ENFORCEABLE = frozenset({"content_type", "size", "checksum", "overwrite"})


class Backend(ABC):
    name: str
    #: The subset of ENFORCEABLE this provider's storage enforces on a signed upload.
    enforces: frozenset[str]
    #: Conformance scenarios (test names) the emulator cannot play although the real provider
    #: does, with the reason: they run as strict expected failures.
    emulator_gaps: dict[str, str] = {}

    @abstractmethod
    def storage_config(self) -> dict[str, Any]:
        """The settings.STORAGES entry for an upload storage on this backend (fresh bucket or
        container per test is not needed: keys are unique)."""

    def project_env(self, var_dir: Path) -> dict[str, str]:
        """The environment that points `make run` (UPLOADS_STORAGE=...) at this server,
        through the project's own config/storage_env module."""
        return {}

    def client_env(self) -> dict[str, str]:
        """Environment variables this backend's client library reads in-process. The fixtures
        that put a test on this backend set them for that test only (monkeypatch.setenv)."""
        return {}

    @abstractmethod
    def send(self, answer: dict[str, Any], body: bytes, headers: dict[str, str]) -> int:
        """Send ``body`` as a client would from a presign answer: its method to its uploadUrl,
        with ``headers`` (and the answer's ``fields`` for a POST policy). Returns the status."""

    #: Headers an uploader adds to the signed request unasked, to have them served back.
    uploader_headers: dict[str, str] = {
        "Cache-Control": "no-transform, max-age=7",
        "Content-Disposition": 'inline; filename="evil.html"',
    }

    @abstractmethod
    def read(self, key: str) -> bytes | None:
        """The stored object's bytes, straight from the server, or None when absent."""

    @abstractmethod
    def served_headers(self, key: str) -> dict[str, str]:
        """The object's Content-Type, Cache-Control and Content-Disposition as stored
        (lower-cased names; absent ones left out)."""

    def tamper(self, url: str) -> str:
        """The URL with its signature altered."""
        return _flip_last_signature_char(url)


def _flip_last_signature_char(url: str) -> str:
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    for i, (name, value) in enumerate(query):
        if name.lower() in ("x-amz-signature", "sig", "x-goog-signature", "signature"):
            query[i] = (name, value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
            return urlunsplit(parts._replace(query=urlencode(query)))
    raise ValueError(f"no signature parameter in {url}")


def activate(
    request: pytest.FixtureRequest, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Backend:
    """The backend that ``request.param`` names, made this test's default storage, with its
    client's environment set for this test only."""
    backend: Backend = request.getfixturevalue(f"{request.param}_backend")
    for name, value in backend.client_env().items():
        monkeypatch.setenv(name, value)
    settings.STORAGES = {**settings.STORAGES, "default": backend.storage_config()}
    return backend
