"""The project's Redis cache backend (config.cache): Django's, with one client per server."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis

from config.cache import ReusedClientRedisCache
from tests.requirements import redis_url as required_redis_url


@pytest.fixture
def redis_url() -> str:
    return required_redis_url()


def test_one_client_serves_every_call_from_every_thread(redis_url: str, monkeypatch: Any) -> None:
    built = []
    real_init = redis.Redis.__init__

    def counting_init(self: Any, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counting_init)
    cache = ReusedClientRedisCache(redis_url, {"KEY_PREFIX": uuid.uuid4().hex})
    key = "hits"
    cache.add(key, 0, 60)

    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(lambda _: cache.incr(key), range(200)))

    assert sorted(counts) == list(range(1, 201))  # each increment seen exactly once
    assert cache.get(key) == 200
    cache.delete(key)
    assert cache.get(key) is None
    assert len(built) == 1


def test_incr_counts_a_live_key_keeping_its_expiry_and_refuses_a_missing_one(
    redis_url: str,
) -> None:
    cache = ReusedClientRedisCache(redis_url, {"KEY_PREFIX": uuid.uuid4().hex})
    cache.add("count", 0, 60)

    assert cache.incr("count") == 1
    assert cache.incr("count", 5) == 6
    assert 0 < cache._cache.get_client().ttl(cache.make_key("count")) <= 60
    with pytest.raises(ValueError, match="not found"):
        cache.incr("missing")
    assert not cache.has_key("missing")  # refused, and not made either


def test_an_increment_never_leaves_a_count_without_expiry(redis_url: str, monkeypatch: Any) -> None:
    cache = ReusedClientRedisCache(redis_url, {"KEY_PREFIX": uuid.uuid4().hex})
    cache.add("count", 0, 60)
    key = cache.make_key("count")
    real_exists = redis.Redis.exists

    def exists_then_expire(self: Any, *names: Any) -> Any:
        found = real_exists(self, *names)
        self.delete(*names)  # the count's window ends right after it was looked up
        return found

    # Django's own backend looks the key up, then increments: here its INCRBY would make
    # the key afresh with no expiry, and the rate limit would never reset.
    monkeypatch.setattr(redis.Redis, "exists", exists_then_expire)
    try:
        cache.incr("count")
    except ValueError:
        pass

    assert cache._cache.get_client().ttl(key) != -1  # -1: a key without expiry
