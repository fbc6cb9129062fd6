"""Each user's token version mirrored in the cache, so that a JWT is checked with one cache
read and no query (accounts.authentication).

A revocation (accounts.tokens.revoke_all) removes the user's entry at once and writes the
new version once it commits: every process sees it on its next request. A version the cache
does not hold is read from the user's row, and put back only if still missing (``add``), so
that a read that raced a revocation never puts the old version back over the new one. Each
entry lasts ``ACCOUNTS_TOKEN_VERSION_CACHE_SECONDS`` (300; 0 reads the row on every
request): the bound on how long a revocation the cache did not receive (it was down, or the
change bypassed ``save()``, as ``QuerySet.update(is_active=False)`` does) goes unseen.

With a cache of each process's own (LocMemCache, the default without REDIS_URL), a
revocation reaches the process that made it at once and the others within that bound.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache
from django.db import router, transaction
from django.db.models import DEFERRED

from accounts.models import User
from uploads.counting import read_for_user

logger = logging.getLogger("accounts")

#: What a deleted user's entry holds: no token carries it.
DELETED = -1


def seconds() -> int:
    return int(getattr(settings, "ACCOUNTS_TOKEN_VERSION_CACHE_SECONDS", 300))


def _key(user_id: Any) -> str:
    return f"accounts:token-version:{user_id}"


def cached(user_id: Any) -> int | None:
    """The version the cache holds for the user; None when it holds none or is down (the
    row decides then)."""
    if seconds() <= 0:
        return None
    try:
        # With a request's rate-limit count, where it has one on this cache: one round trip.
        value = read_for_user(DEFAULT_CACHE_ALIAS, user_id, _key(user_id))
    except Exception as err:  # any backend's failure: the row is the fallback
        logger.warning("Token versions not read from the cache: %s", err)
        return None
    return value if isinstance(value, int) else None


def fill(user_id: Any, version: int) -> None:
    """Put a version read from the row, unless the cache has one meanwhile."""
    if seconds() > 0:
        _write(cache.add, user_id, version)


def revoked(user_id: Any, version: int) -> None:
    """A revocation (or a deletion: DELETED) in the current transaction: the user's entry
    goes at once, so that until the transaction ends the row decides (and a rollback leaves
    it right); the new version is put once it commits."""
    try:
        cache.delete(_key(user_id))
    except Exception as err:
        logger.warning("Token version of user %s not removed from the cache: %s", user_id, err)
    transaction.on_commit(lambda: publish(user_id, version))


def publish(user_id: Any, version: int) -> None:
    """Put the version a revocation has committed."""
    _write(cache.set, user_id, version)


def _write(method: Any, user_id: Any, version: int) -> None:
    try:
        method(_key(user_id), version, max(seconds(), 1))
    except Exception as err:
        logger.warning("Token version of user %s not written to the cache: %s", user_id, err)


def token_user(user_id: Any) -> User:
    """The user a token names, known only by its id: its fields load together, in one query,
    at the first read of any of them (User.refresh_from_db), and a save writes only those
    read or set (so never a version or an activity it did not read)."""
    fields = User._meta.concrete_fields
    values: list[Any] = [DEFERRED] * len(fields)  # a value for each: from_db maps none
    values[_pk_index()] = User._meta.pk.to_python(user_id)  # type: ignore[union-attr]
    return User.from_db(router.db_for_read(User), ["id"], values)


@functools.cache
def _pk_index() -> int:
    return list(User._meta.concrete_fields).index(User._meta.pk)
