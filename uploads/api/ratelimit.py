"""Presign's rate limit, keyed by the authenticated user, in django-ratelimit's notation,
windows and keys (``RATELIMIT_ENABLE``, ``RATELIMIT_USE_CACHE`` and its other settings apply).
The count is one round trip (uploads.counting), which also reads the keys the request will
need next. (Logins are throttled by django-axes: uploads.lockouts.)"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django_ratelimit import ALL
from django_ratelimit.core import EXPIRATION_FUDGE, _get_window, _make_cache_key, _split_rate
from rest_framework.request import Request

from uploads.api.errors import RateLimited
from uploads.app_settings import app_settings
from uploads.cache import BACKEND_ERRORS, unavailable
from uploads.counting import CountAhead, count_and_read, counted_ahead, take_back_ahead


@dataclass(frozen=True)
class RateInfo:
    limit: int
    remaining: int
    reset: int

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }

    def meta(self) -> dict[str, int]:
        return {"limit": self.limit, "remaining": self.remaining, "reset": self.reset}


def hit(request: Request, group: str, read_ahead: Sequence[str] = ()) -> RateInfo:
    """Count one request of the user against ``group``; raise RateLimited past the limit.
    ``read_ahead``: cache keys to read in the same round trip, for the rest of the request
    (uploads.counting.read_ahead), when they live in the rate limit's cache. A count made
    ahead (``count_ahead``) while the user was authenticated is taken as this one."""
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return RateInfo(0, 0, 0)
    limit, period = _split(app_settings.RATE_LIMIT)
    user = str(request.user.pk)
    key, expires = _counter(group, user)
    alias = _alias()
    count = counted_ahead(alias, key)
    if count is None:
        if alias != app_settings.CACHE_ALIAS:
            read_ahead = ()
        try:
            count, _ = count_and_read(caches[alias], key, expires, read_ahead)
        except BACKEND_ERRORS as err:
            raise unavailable(alias, err) from err
    now = int(time.time())
    time_left = max(1, _get_window(user, period) - now)
    info = RateInfo(limit=limit, remaining=max(0, limit - count), reset=now + time_left)
    if count > limit:
        raise RateLimited(retry_after=time_left, headers=info.headers())
    return info


def count_ahead(group: str, read_ahead: Sequence[str] = ()) -> CountAhead | None:
    """The count ``hit`` will make against ``group``, to be made in the round trip of the
    user's authentication (uploads.counting.counting_ahead); None where nothing counts."""
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return None
    alias = _alias()
    if alias != app_settings.CACHE_ALIAS:
        read_ahead = ()
    return CountAhead(alias, functools.partial(_counter, group), read_ahead)


def take_back() -> None:
    """Take back a count made ahead for a request refused before ``hit`` (its token revoked,
    its scope short): refused requests do not count. Best effort: a cache down keeps it."""
    try:
        take_back_ahead()
    except BACKEND_ERRORS:
        pass


def _counter(group: str, user: str) -> tuple[str, int]:
    """The cache key of the user's count against ``group`` in this window, and its expiry."""
    limit, period = rate = _split(app_settings.RATE_LIMIT)
    window = _get_window(user, period)
    return _make_cache_key(group, window, rate, user, ALL), period + EXPIRATION_FUDGE


def _alias() -> str:
    return getattr(settings, "RATELIMIT_USE_CACHE", "default")  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=16)
def _split(rate: str) -> tuple[int, int]:
    """django-ratelimit's (count, seconds) for a rate such as "60/m", parsed once."""
    return _split_rate(rate)  # type: ignore[no-any-return]
