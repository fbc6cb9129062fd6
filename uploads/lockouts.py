"""Login lockouts are django-axes' (an optional dependency: the project installs it, the app
never imports it unless it is installed): how long a locked-out client waits."""

from __future__ import annotations

import math
from typing import Any

from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone

#: Retry-After of a lockout without a cool-off (AXES_COOLOFF_TIME = None), which only an
#: operator ends: a day, not a promise.
PERMANENT = 24 * 3600


def retry_after(request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
    """Seconds until axes lets this client try again: the cool-off counted from the latest
    failure held against it (none is recorded while it is locked out), or from now when the
    handler cannot say."""
    from axes.handlers.proxy import AxesProxyHandler
    from axes.helpers import get_cool_off

    AxesProxyHandler.update_request(request)
    cool_off = get_cool_off(request)
    if cool_off is None:
        return PERMANENT
    now = timezone.now()
    latest = now
    attempts_of = getattr(AxesProxyHandler.get_implementation(), "get_user_attempts", None)
    if attempts_of is not None:
        found = [
            attempts.aggregate(latest=Max("attempt_time"))["latest"]
            for attempts in attempts_of(request, credentials)
        ]
        latest = max((time for time in found if time is not None), default=now)
    return max(1, math.ceil((latest + cool_off - now).total_seconds()))
