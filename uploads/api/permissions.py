"""Scopes: a view declares the scope each method needs; a credential grants some.

The app's own endpoints need ``uploads:read`` or ``uploads:write``. A host's views declare
scopes of their own the same way: the app keeps no list of them.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

READ = "uploads:read"
WRITE = "uploads:write"
#: The scopes of the app's own endpoints, for a host's list of the scopes its keys may hold.
UPLOAD_SCOPES = (READ, WRITE)


def has_scope(request: Request, scope: str) -> bool:
    """A credential object with ``scopes`` (an API key, say) grants those; any other
    credential (a JWT, a session) grants every scope of its user."""
    scopes = getattr(request.auth, "scopes", None)
    return scopes is None or scope in scopes


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
        return required is None or has_scope(request, required)
