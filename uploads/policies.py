"""Upload policies as presign reads them: from process memory, checked against a revision
number mirrored in the shared cache.

The number's source of truth is the database (``PolicyRevision``): each edit bumps it in its
own transaction, and once the edit commits the number is copied to the cache, so that every
worker process sees it on its very next request while a request pays one cache read, not a
query. ``UPLOADS["POLICY_CACHE_SECONDS"]`` trades that for speed: a process then checks the
cache at most once in so many seconds, and an edit takes up to that long to reach the other
processes (the one that made it sees it at once).

The cache can lose an edit: down when it was made, or back from a restart with old data.
So a process also reads the number from the database when the cache lacks it, when the
cache failed it since its last check, and at least every DATABASE_CHECK_SECONDS; it then
reloads if the number moved and puts the database's number back in the cache.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from time import monotonic
from typing import TYPE_CHECKING

from django.core.cache import caches
from django.db import transaction
from django.db.models import F

from uploads import exceptions
from uploads.app_settings import app_settings
from uploads.cache import BACKEND_ERRORS, cache_errors
from uploads.counting import read_ahead

if TYPE_CHECKING:
    from uploads.models import Upload, VariantSpec

logger = logging.getLogger("uploads")

#: An int: the database's revision number as last copied. (Not the key that held the random
#: versions of earlier releases, whose values mean nothing now.)
VERSION_KEY = "uploads:policies:revision"
#: How stale a process may stay when the cache says nothing changed but is wrong.
DATABASE_CHECK_SECONDS = 60.0

#: The failures to publish an edit, collected for whoever watches (the admin tells the
#: operator); None when nobody does.
_unpublished: ContextVar[list[BaseException] | None] = ContextVar(
    "uploads_policies_unpublished", default=None
)


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
    checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeclaredVariant:
    """A variant an upload type declares, as complete and the answers read it."""

    name: str
    digest: str

    @classmethod
    def of(cls, spec: VariantSpec) -> DeclaredVariant:
        return cls(spec.name, spec.digest)


@dataclass(frozen=True)
class Declared:
    """What completing an upload needs beyond its row, as of one revision: each type's
    variants (by policy id, active types or not) and the events that some active webhook
    endpoint wants. Editing either bumps the revision, as editing a type does."""

    revision: int
    variants: Mapping[int, tuple[DeclaredVariant, ...]]
    webhook_events: frozenset[str]


def declared_variants(upload: Upload) -> tuple[DeclaredVariant, ...]:
    """The variants the upload's type declares: as read with it (complete's, or prefetched
    with a list), else from the registry at the database's revision."""
    if upload.declared_variants is not None:
        return upload.declared_variants
    policy = upload.policy
    if "variant_specs" in getattr(policy, "_prefetched_objects_cache", {}):
        return tuple(DeclaredVariant.of(spec) for spec in policy.variant_specs.all())
    return registry.declared(upload.policy_revision).variants.get(policy.pk, ())


def wants_webhook(upload: Upload, event_type: str) -> bool:
    """Whether some active webhook endpoint wants the upload's event (their rows are read
    only then)."""
    return event_type in registry.declared(upload.policy_revision).webhook_events


def _cache():  # type: ignore[no-untyped-def]
    return caches[app_settings.CACHE_ALIAS]


def bump_version() -> None:
    """Record that the upload types changed: bumps the revision in the current transaction
    and, once it commits, copies it to the cache. Saving or deleting an UploadPolicy calls
    it; call it yourself after changing them without signals (``QuerySet.update``)."""
    from uploads.models import PolicyRevision

    if not PolicyRevision.objects.filter(pk=1).update(number=F("number") + 1):
        PolicyRevision.objects.get_or_create(pk=1, defaults={"number": 1})
    registry.forget()  # this process reloads at once, from its own transaction
    transaction.on_commit(publish_version)


def publish_version() -> bool:
    """Copy the database's revision to the cache; False (logged, and told to the watcher
    of ``watching_publication``) when the cache did not answer: the other processes then
    see the edit within DATABASE_CHECK_SECONDS of the cache answering again."""
    registry.forget()
    number = database_revision()
    try:
        _cache().set(VERSION_KEY, number, None)
    except BACKEND_ERRORS as err:
        logger.warning("Upload types revision %s not copied to the cache: %s", number, err)
        failures = _unpublished.get()
        if failures is not None:
            failures.append(err)
        return False
    return True


@contextmanager
def watching_publication() -> Iterator[list[BaseException]]:
    """Yields the list of failures to publish an edit made inside the block."""
    failures: list[BaseException] = []
    token = _unpublished.set(failures)
    try:
        yield failures
    finally:
        _unpublished.reset(token)


def database_revision() -> int:
    from uploads.models import PolicyRevision

    number = PolicyRevision.objects.filter(pk=1).values_list("number", flat=True).first()
    return number or 0


class PolicyRegistry:
    """The active policies of one process."""

    def __init__(self) -> None:
        self._state: tuple[int | None, dict[str, Policy]] = (None, {})
        self._checked_at = -float("inf")  # of the last cache check
        self._confirmed_at = -float("inf")  # of the last database check
        self._lock = threading.Lock()
        self._declared: Declared | None = None

    def get(self, name: str) -> Policy | None:
        return self._current().get(name)

    def active(self) -> list[Policy]:
        return sorted(self._current().values(), key=lambda p: p.name)

    def forget(self) -> None:
        self._state = (None, {})
        self._checked_at = -float("inf")
        self._declared = None

    def declared(self, revision: int | None = None) -> Declared:
        """Variants and webhook events at ``revision``, a number read from the database
        (None: read now), loaded once per revision. Whatever is loaded is at least as new
        as the number: an edit committed meanwhile is kept until the next bump."""
        if revision is None:
            revision = database_revision()
        declared = self._declared
        if declared is None or declared.revision != revision:
            declared = self._declared = _load_declared(revision)
        return declared

    def _current(self) -> dict[str, Policy]:
        loaded, policies = self._state
        now = monotonic()
        if loaded is not None and now - self._checked_at < app_settings.POLICY_CACHE_SECONDS:
            return policies
        try:
            found, cached = read_ahead(VERSION_KEY)  # in the rate limit's round trip
            if not found:
                with cache_errors(app_settings.CACHE_ALIAS):
                    cached = _cache().get(VERSION_KEY)
        except exceptions.ServiceUnavailable:
            # When it answers again, it may have missed edits: ask the database then.
            self._confirmed_at = -float("inf")
            raise
        self._checked_at = now
        if (
            loaded is not None
            and cached == loaded
            and now - self._confirmed_at < DATABASE_CHECK_SECONDS
        ):
            return policies
        with self._lock:
            # The number is read before loading: an edit committed meanwhile bumps it again,
            # and a later check loads once more.
            number = database_revision()
            self._confirmed_at = now
            if number != loaded:
                policies = self._load()
                self._state = (number, policies)
        if cached != number:  # missing, or stale: put the truth back
            cache = _cache()
            try:
                if cached is None:  # add: an edit's own number may have arrived meanwhile
                    cache.add(VERSION_KEY, number, None)
                else:
                    cache.set(VERSION_KEY, number, None)
            except BACKEND_ERRORS as err:
                logger.warning("Upload types revision not copied to the cache: %s", err)
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
                checks=tuple(p.checks or ()),
            )
            for p in UploadPolicy.objects.filter(is_active=True)
        }


def _load_declared(revision: int) -> Declared:
    from uploads.models import VariantSpec
    from uploads.webhooks.models import WebhookEndpoint

    variants: dict[int, list[DeclaredVariant]] = {}
    for spec in VariantSpec.objects.order_by("name"):
        variants.setdefault(spec.policy_id, []).append(DeclaredVariant.of(spec))
    endpoints = WebhookEndpoint.objects.filter(is_active=True).values_list("events", flat=True)
    return Declared(
        revision,
        {policy: tuple(specs) for policy, specs in variants.items()},
        frozenset(event for events in endpoints for event in events),
    )


registry = PolicyRegistry()
