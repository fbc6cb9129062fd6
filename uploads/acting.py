"""Who acts: the user a form's upload value is issued to, and who posts it back.

``uploads.middleware.RequestIDMiddleware`` makes each request current; its user is read only
when asked (AuthenticationMiddleware sets ``request.user`` later, on the same request object).
Code that runs without a request (a task, a shell, a host's tests) names the user instead:

    with acting_as(user):
        form = ArticleForm(data, instance=article)
        form.is_valid()

With nobody known, forms refuse every posted upload value rather than take it from anyone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest

if TYPE_CHECKING:
    # Only for type checkers: the logging setup imports the middleware, and so this module,
    # before the apps (and the user model) are loaded.
    from uploads.types import User

_request: ContextVar[HttpRequest | None] = ContextVar("uploads_request", default=None)
_acting: ContextVar[Any] = ContextVar("uploads_acting_user", default=None)


@contextmanager
def acting_as(user: User) -> Iterator[None]:
    """Within the block, ``user`` acts (inside a request too, in place of its user)."""
    token = _acting.set(user)
    try:
        yield
    finally:
        _acting.reset(token)


@contextmanager
def in_request(request: HttpRequest) -> Iterator[None]:
    """Within the block, the request's user acts (once authentication has set it)."""
    token = _request.set(request)
    try:
        yield
    finally:
        _request.reset(token)


def anyone_known() -> bool:
    """Whether a request or ``acting_as`` says who acts (who may be signed out)."""
    return _acting.get() is not None or _request.get() is not None


def acting_user() -> User | None:
    """The signed-in user who acts; None when nobody is known or nobody is signed in."""
    user = _acting.get()
    if user is None:
        request = _request.get()
        user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return user  # type: ignore[no-any-return]
