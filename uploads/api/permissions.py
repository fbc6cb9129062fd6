from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

SCOPES = ("uploads:read", "uploads:write", "profile:write", "media:read", "media:write")


def granted_scopes(request: Request) -> frozenset[str]:
    """A credential object with ``scopes`` (an API key) grants those; a JWT or a session
    grants every scope of its user."""
    scopes = getattr(request.auth, "scopes", None)
    return frozenset(SCOPES if scopes is None else scopes)


class HasScope(BasePermission):
    """Requires ``view.required_scopes[request.method]`` (None: no scope needed)."""

    message = "This credential lacks the scope this endpoint needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        required = getattr(view, "required_scopes", {}).get(request.method)
        return required is None or required in granted_scopes(request)
