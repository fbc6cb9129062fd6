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
    """Requires ``view.required_scopes[method]``: a scope, or None for none. HEAD is GET (Django
    answers it with the GET handler); a method the view does not list is refused, except
    OPTIONS and methods the view has no handler for (they answer 405)."""

    message = "This credential lacks the scope this endpoint needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        method = "GET" if request.method == "HEAD" else str(request.method)
        if method == "OPTIONS" or not hasattr(view, method.lower()):
            return True  # OPTIONS reveals nothing; a method with no handler answers 405
        scopes: dict[str, str | None] = getattr(view, "required_scopes", {})
        if method not in scopes:
            return False
        required = scopes[method]
        return required is None or required in granted_scopes(request)
