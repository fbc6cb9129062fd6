"""Django's Redis cache with one ``redis.Redis`` client per server instead of one per call,
and ``incr`` in one round trip.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` around the same
connection pool for every cache operation, and building one costs about as much as the
round trip to Redis on the loopback. A presign makes three cache calls (the policy version,
the rate limit's add and incr). redis-py's client holds no connection of its own (it takes one
from the pool per command) and is thread-safe, so one per pool serves every thread.

Django's ``incr`` sends EXISTS, then INCRBY: two round trips, and a key that expires between
them comes back from INCRBY with no expiry at all (for django-ratelimit, a count that never
resets). Here one script does both, atomically.

Without Redis, the in-process cache (``InProcessLocMemCache``) skips Django's memcached key
warnings.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

INCR_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) end
return false
"""


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        build = self._client  # type: ignore[has-type]
        clients: dict[int, Any] = {}  # by id of the pool, which Django keeps for good

        def client_for(connection_pool: Any) -> Any:
            client = clients.get(id(connection_pool))
            if client is None:
                client = clients.setdefault(
                    id(connection_pool), build(connection_pool=connection_pool)
                )
            return client

        # get_client() calls self._client(connection_pool=pool) for every operation.
        self._client = client_for
        self._incr_existing: Any = None  # a redis-py Script: EVALSHA, loaded on first use

    def incr(self, key: Any, delta: int) -> Any:
        client = self.get_client(key, write=True)
        if self._incr_existing is None:
            self._incr_existing = client.register_script(INCR_EXISTING)
        value = self._incr_existing(keys=[key], args=[delta], client=client)
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value


class ReusedClientRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient

    def get_master_client(self) -> Any:
        """The first server's one client, for django-rq's ``USE_REDIS_CACHE`` (config.settings
        with TASKS_BACKEND=rq): enqueueing then takes a connection from this pool instead of
        opening a new one for each job, as django-rq does from a ``URL``."""
        return self._cache.get_client(write=True)


class InProcessLocMemCache(LocMemCache):
    """Django's in-process cache, without the warnings about keys memcached would refuse,
    which it looks for on every call (a presign makes four): this cache is never memcached,
    and its keys (rate-limit counts, token versions, the upload types' revision) are short
    and plain."""

    def validate_key(self, key: str) -> None:
        pass
