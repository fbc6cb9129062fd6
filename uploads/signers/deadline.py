"""A deadline for all the storage calls of one HTTP request.

A worker that does not answer within the server's timeout (gunicorn's ``--timeout``, 30 s by
default) is killed, and the client gets the server's bare error page. So that a storage that
freezes yields the API's 503 instead, every storage call made while a request is served is
cut to what is left of ``UPLOADS['REQUEST_STORAGE_DEADLINE']`` (counted from the start of the
request), and none is started once it has passed. Outside a request (tasks, management
commands) there is no deadline: the calls keep the timeouts of the settings.

The deadline lives in a context variable, so that each thread (and each asyncio task) of a
server sees only its own request's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from uploads.app_settings import app_settings

_deadline: ContextVar[float | None] = ContextVar("uploads_storage_deadline", default=None)

A = TypeVar("A")
R = TypeVar("R")


def remaining() -> float | None:
    """Seconds left before the current deadline (0 or less once it passed), or None when no
    deadline applies."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


@contextmanager
def storage_deadline(seconds: float | None) -> Iterator[None]:
    """Storage calls within the block end within ``seconds`` from now (None: no deadline,
    lifting the request's for work that is not bound by it)."""
    token = _deadline.set(None if seconds is None else time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def carried(call: Callable[[A], R]) -> Callable[[A], R]:
    """``call`` bound by the current deadline in whichever thread runs it (a pool's threads
    start with no context of their own)."""
    deadline = _deadline.get()

    def bound(arg: A) -> R:
        token = _deadline.set(deadline)
        try:
            return call(arg)
        finally:
            _deadline.reset(token)

    return bound


def request_started(**_: Any) -> None:
    """Receiver of ``django.core.signals.request_started``."""
    _deadline.set(time.monotonic() + app_settings.REQUEST_STORAGE_DEADLINE)


def request_finished(**_: Any) -> None:
    """Receiver of ``django.core.signals.request_finished``: the thread serves another
    request (or runs other work) next."""
    _deadline.set(None)
