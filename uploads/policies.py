"""Upload policies as presign reads them: from process memory, checked against a version
kept in the shared cache.

An edit bumps the version (after its transaction commits), so every worker process sees
it on its very next request, and a request pays one cache read instead of a query.
``UPLOADS["POLICY_CACHE_SECONDS"]`` trades that for speed: a process then checks the
version at most once in so many seconds, and an edit takes up to that long to reach the
other processes (the one that made it sees it at once).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from time import monotonic

from django.core.cache import caches

from uploads.app_settings import app_settings
from uploads.cache import cache_errors

VERSION_KEY = "uploads:policies:version"


@dataclass(frozen=True)
class Policy:
    id: int
    name: str
    label: str
    allowed_content_types: tuple[str, ...]
    max_size: int
    expires_in: int
    storage: str
    key_prefix: str
    method: str
    is_public: bool
    require_size: bool
    require_sha256: bool
    deduplicate: bool
    max_pixels: int
    strip_metadata: bool
    multipart_threshold: int | None
    part_size: int


def _cache():  # type: ignore[no-untyped-def]
    return caches[app_settings.CACHE_ALIAS]


def bump_version() -> None:
    _cache().set(VERSION_KEY, uuid.uuid4().hex, None)
    registry.forget()


class PolicyRegistry:
    """The active policies of one process."""

    def __init__(self) -> None:
        self._state: tuple[str | None, dict[str, Policy]] = (None, {})
        self._checked_at = -float("inf")  # monotonic() of the last version check
        self._lock = threading.Lock()

    def get(self, name: str) -> Policy | None:
        return self._current().get(name)

    def active(self) -> list[Policy]:
        return sorted(self._current().values(), key=lambda p: p.name)

    def forget(self) -> None:
        self._state = (None, {})
        self._checked_at = -float("inf")

    def _current(self) -> dict[str, Policy]:
        loaded_version, policies = self._state
        now = monotonic()
        if (
            loaded_version is not None
            and now - self._checked_at < app_settings.POLICY_CACHE_SECONDS
        ):
            return policies
        cache = _cache()
        with cache_errors(app_settings.CACHE_ALIAS):
            version = cache.get(VERSION_KEY)
            if version is None:
                # First use, or the cache lost the key: agree on a new version.
                cache.add(VERSION_KEY, uuid.uuid4().hex, None)
                version = cache.get(VERSION_KEY)
        self._checked_at = now
        if version != loaded_version or version is None:
            with self._lock:
                # The version is read before loading: an edit committed meanwhile bumps it
                # again, and the next request loads once more.
                policies = self._load()
                self._state = (version, policies)
        return policies

    @staticmethod
    def _load() -> dict[str, Policy]:
        from uploads.models import UploadPolicy

        return {
            p.name: Policy(
                id=p.pk,
                name=p.name,
                label=p.label,
                allowed_content_types=tuple(p.allowed_content_types),
                max_size=p.max_size,
                expires_in=p.expires_in,
                storage=p.storage,
                key_prefix=p.key_prefix,
                method=p.method,
                is_public=p.is_public,
                require_size=p.require_size,
                require_sha256=p.require_sha256,
                deduplicate=p.deduplicate,
                max_pixels=p.max_pixels,
                strip_metadata=p.strip_metadata,
                multipart_threshold=p.multipart_threshold,
                part_size=p.part_size,
            )
            for p in UploadPolicy.objects.filter(is_active=True)
        }


registry = PolicyRegistry()
