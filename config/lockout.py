"""django-axes, as this project uses it: whom a failure counts against, where the client's
address comes from, a limit per lockout parameter, and the page a locked-out client sees."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit, get_lockout_parameters
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from uploads.lockouts import retry_after


def folded_username(request: HttpRequest, credentials: Mapping[str, Any] | None) -> str | None:
    """The user name tried, case-folded and stripped: "Alice " and "ALICE" are one name to
    the guesser, as they are to a database that compares names without case. Cut to what
    axes' column holds: a longer name (the API takes any) would fail the failure's insert."""
    name = (credentials or {}).get("username")
    if name is None:
        data = getattr(request, "data", None)
        name = data.get("username") if isinstance(data, Mapping) else request.POST.get("username")
    if name is None:
        return None
    return str(name).strip().casefold()[: AccessAttempt._meta.get_field("username").max_length]


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or the header named by CLIENT_IP_HEADER that the operator's proxy sets.
    Of a list (X-Forwarded-For), the last address: the one the proxy itself appended."""
    remote = request.META.get("REMOTE_ADDR")
    header = settings.CLIENT_IP_HEADER
    if not header:
        return remote
    value = str(request.META.get(header, "")).split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:  # missing or garbled: the request did not come through the proxy
        return remote


def local_tool_in_debug(request: HttpRequest, credentials: Mapping[str, Any] | None) -> bool:
    """AXES_WHITELIST_CALLABLE: with DEBUG on (`make run`), a client on this machine's loopback
    (a fuzzer, a script run over and over) is never locked out. Its failures still count; with
    DEBUG off nothing is spared."""
    if not settings.DEBUG:
        return False
    address = client_ip(request)
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class LoginFailures(AxesDatabaseHandler):
    """Axes' database handler with a limit of its own for the address alone
    (settings.LOGIN_ADDRESS_FAILURE_LIMIT): axes compares one number with AXES_FAILURE_LIMIT,
    so each parameter's count is scaled to that limit, reaching it exactly when the count
    reaches the parameter's own limit."""

    def get_failures(self, request: Any, credentials: dict[str, Any] | None = None) -> int:
        limit = get_failure_limit(request, credentials)
        worst = 0
        for parameter, attempts in zip(
            get_lockout_parameters(request, credentials),
            self.get_user_attempts(request, credentials),
            strict=True,
        ):
            count = attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            own = settings.LOGIN_ADDRESS_FAILURE_LIMIT if parameter == "ip_address" else limit
            worst = max(worst, count * limit // own)
        return worst


def locked_out(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE for the login pages: 429, Retry-After and a page saying when to
    try again. (The API's auth/token answers its lockouts itself, in its envelope.)"""
    seconds = retry_after(request, credentials)
    until = timezone.now() + timedelta(seconds=seconds)
    context = {"until": until, "minutes": math.ceil(seconds / 60)}
    response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response
