"""The shared cache's failures, as the services' error: a cache that does not answer makes
the request a 503 ``service.unavailable`` the client may retry, not a 500."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from uploads import exceptions

logger = logging.getLogger("uploads")


def _backend_errors() -> tuple[type[BaseException], ...]:
    # A refused or broken connection is an OSError in most clients; Redis has its own.
    errors: list[type[BaseException]] = [OSError]
    try:
        from redis.exceptions import RedisError
    except ImportError:  # pragma: no cover - redis is optional
        pass
    else:
        errors.append(RedisError)
    return tuple(errors)


BACKEND_ERRORS = _backend_errors()


@contextmanager
def cache_errors(alias: str) -> Iterator[None]:
    try:
        yield
    except BACKEND_ERRORS as err:
        raise unavailable(alias, err) from err


def unavailable(alias: str, err: BaseException) -> exceptions.ServiceUnavailable:
    """What to raise for ``err``, one of BACKEND_ERRORS (logged): on a hot path, catch them
    yourself rather than enter ``cache_errors``."""
    logger.warning("Cache %r unavailable: %s", alias, err)
    return exceptions.ServiceUnavailable()
