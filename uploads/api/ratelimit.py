"""Presign's rate limit with django-ratelimit, keyed by the authenticated user. (Logins are
throttled by django-axes: uploads.lockouts.)"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django_ratelimit import ALL
from django_ratelimit.core import get_usage
from rest_framework.request import Request

from uploads.api.errors import RateLimited
from uploads.app_settings import app_settings
from uploads.cache import cache_errors


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


def _user_key(group: str, request: Request) -> str:
    return str(request.user.pk)


def hit(request: Request, group: str) -> RateInfo:
    """Count one request of the user against ``group``; raise RateLimited past the limit."""
    return _hit(request, group, _user_key, app_settings.RATE_LIMIT)


def _hit(request: Request, group: str, key: Any, rate: str) -> RateInfo:
    with cache_errors(getattr(settings, "RATELIMIT_USE_CACHE", "default")):
        usage = get_usage(request, group=group, key=key, rate=rate, method=ALL, increment=True)
    if usage is None:  # RATELIMIT_ENABLE = False
        return RateInfo(0, 0, 0)
    time_left = max(1, int(usage["time_left"]))
    info = RateInfo(
        limit=usage["limit"],
        remaining=max(0, usage["limit"] - usage["count"]),
        reset=int(time.time()) + time_left,
    )
    if usage["should_limit"]:
        raise RateLimited(retry_after=time_left, headers=info.headers())
    return info
