"""Users a process loaded lately, for ``ACCOUNTS_JWT_USER_CACHE_SECONDS``
(accounts.authentication)."""

from __future__ import annotations

import copy
import threading
from time import monotonic
from typing import Any

from rest_framework_simplejwt.settings import api_settings as jwt_settings

from accounts.models import User


class RecentUsers:
    """Active users by the id their tokens carry; each request gets its own copy of the row.
    Bounded: the oldest go first."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._users: dict[str, tuple[float, User]] = {}
        self._lock = threading.Lock()  # for gthread workers: evicting iterates the dict

    def get(self, token: Any, seconds: float) -> User | None:
        found = self._users.get(str(token.get(jwt_settings.USER_ID_CLAIM)))
        if found is None or monotonic() - found[0] >= seconds:
            return None
        return copy.copy(found[1])

    def put(self, user: User) -> None:
        key, entry = _key(user), (monotonic(), copy.copy(user))
        with self._lock:
            self._users.pop(key, None)
            self._users[key] = entry
            while len(self._users) > self.size:
                self._users.pop(next(iter(self._users)), None)

    def forget(self, user: User) -> None:
        """The user's tokens were revoked here: this process sees it at once."""
        self._users.pop(_key(user), None)

    def clear(self) -> None:
        self._users.clear()


def _key(user: User) -> str:
    return str(getattr(user, jwt_settings.USER_ID_FIELD))


recent_users = RecentUsers()
