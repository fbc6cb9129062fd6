"""API keys: made here, stored as a hash, looked up by that hash."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import ApiKey, User, validate_scopes

# Shown in the admin to tell keys apart: "upk_" and 8 random characters.
SHOWN_PREFIX_LENGTH = len(ApiKey.PREFIX) + 8
# last_used_at is written at most this often per key, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def generate_key() -> str:
    """``upk_`` and 43 URL-safe characters of a 256-bit random secret."""
    return ApiKey.PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    # A plain, fast SHA-256 is right here, unlike for passwords: the keys are 256 bits of
    # randomness, so there is nothing to guess from a leaked hash and a slow hash (PBKDF2,
    # argon2) would only add its cost to every request. The hash is also deterministic,
    # so the key can be looked up by it through a unique index.
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    user: User,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """A new key for ``user``; returns the row and the key, which is never stored."""
    key = generate_key()
    api_key = ApiKey(user=user, name=name, scopes=list(scopes), expires_at=expires_at)
    fill_new_key(api_key, key)
    validate_scopes(api_key.scopes)
    api_key.save()
    return api_key, key


def fill_new_key(api_key: ApiKey, key: str) -> ApiKey:
    api_key.prefix = key[:SHOWN_PREFIX_LENGTH]
    api_key.key_hash = hash_key(key)
    return api_key


def find_key(key: str) -> ApiKey | None:
    """The key's row with its user, whatever its state, or None."""
    return ApiKey.objects.select_related("user").filter(key_hash=hash_key(key)).first()


def touch(api_key: ApiKey, now: datetime | None = None) -> None:
    """Record a use, writing at most once per LAST_USED_RESOLUTION (the filter makes the
    write conditional in the database too, so concurrent requests do not all write)."""
    now = now or timezone.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiKey.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION),
        pk=api_key.pk,
    ).update(last_used_at=now)
    api_key.last_used_at = now


def revoke(keys: QuerySet[ApiKey]) -> int:
    """Revoke the keys not revoked yet; returns how many were."""
    return keys.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
