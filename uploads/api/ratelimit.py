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
from uploads.counting import count_and_read


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
    (uploads.counting.read_ahead), when they live in the rate limit's cache."""
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return RateInfo(0, 0, 0)
    limit, period = rate = _split(app_settings.RATE_LIMIT)
    user = str(request.user.pk)
    window = _get_window(user, period)
    key = _make_cache_key(group, window, rate, user, ALL)
    alias = getattr(settings, "RATELIMIT_USE_CACHE", "default")
    if alias != app_settings.CACHE_ALIAS:
        read_ahead = ()
    try:
        count, _ = count_and_read(caches[alias], key, period + EXPIRATION_FUDGE, read_ahead)
    except BACKEND_ERRORS as err:
        raise unavailable(alias, err) from err
    now = int(time.time())
    time_left = max(1, window - now)
    info = RateInfo(limit=limit, remaining=max(0, limit - count), reset=now + time_left)
    if count > limit:
        raise RateLimited(retry_after=time_left, headers=info.headers())
    return info


@functools.lru_cache(maxsize=16)
def _split(rate: str) -> tuple[int, int]:
    """django-ratelimit's (count, seconds) for a rate such as "60/m", parsed once."""
    return _split_rate(rate)  # type: ignore[no-any-return]
