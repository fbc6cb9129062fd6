"""The demo page: the app's upload widget, with a token for the signed-in user."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from accounts.tokens import VersionedRefreshToken


@require_safe
@never_cache  # the page carries a bearer token: no cache may keep it
def demo(request: HttpRequest) -> HttpResponse:
    """GET /demo/: upload a file from the browser. A signed-in (session) user gets a fresh
    JWT access token prefilled; anyone else pastes one."""
    return render(request, "demo.html", _context(request))


@require_safe
@never_cache
def demo_uppy(request: HttpRequest) -> HttpResponse:
    """GET /demo/uppy/: Uppy's Dashboard uploading through the API (uploads/uppy.js), with
    Uppy's bundle from npm when it is installed."""
    installed = (settings.UPPY_DIST / "uppy.min.mjs").is_file()
    return render(request, "demo_uppy.html", _context(request) | {"uppy_installed": installed})


def _context(request: HttpRequest) -> dict[str, str]:
    """A fresh JWT access token for a signed-in (session) user, and where the API is."""
    token = ""
    if request.user.is_authenticated and request.user.is_active:
        token = str(VersionedRefreshToken.for_user(request.user).access_token)
    api_base = reverse("uploads-api:types").removesuffix("/uploads/types")
    return {"token": token, "api_base": api_base}
