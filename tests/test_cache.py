"""The project's Redis cache backend (config.cache): Django's, with one client per server; and
uploads.counting, the rate limit's count with what the request reads next."""

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


# --- uploads.counting: the rate limit's count and what the request reads next, one trip --


@pytest.mark.parametrize("backend", ["redis", "locmem"])
def test_count_and_read_counts_with_an_expiry_and_reads_the_keys(
    backend: str, request: Any
) -> None:
    from django.core.cache.backends.locmem import LocMemCache
    from django.core.cache.backends.redis import RedisCache

    from uploads.counting import count_and_read, read_ahead, reading_ahead

    prefix = uuid.uuid4().hex
    cache: Any = (
        RedisCache(request.getfixturevalue("redis_url"), {"KEY_PREFIX": prefix})
        if backend == "redis"
        else LocMemCache(prefix, {})
    )
    cache.set("revision", 7)
    with reading_ahead():
        counts = [count_and_read(cache, "hits", 60, ["revision", "absent"])[0] for _ in range(3)]
        assert read_ahead("revision") == (True, 7)
        assert read_ahead("revision") == (False, None)  # handed out once
        assert read_ahead("absent") == (True, None)  # read, and not there
    assert read_ahead("revision") == (False, None)  # outside the block: nothing kept

    assert counts == [1, 2, 3]
    assert cache.get("hits") == 3
    if backend == "redis":
        assert 0 < cache._cache.get_client().ttl(cache.make_key("hits")) <= 60


def test_count_and_read_is_one_round_trip_to_redis(redis_url: str) -> None:
    from django.core.cache.backends.redis import RedisCache

    from tests.round_trips import RoundTripProxy
    from uploads.counting import count_and_read

    with RoundTripProxy.in_front_of(redis_url) as proxy:
        cache = RedisCache(proxy.through(redis_url), {"KEY_PREFIX": uuid.uuid4().hex})
        count_and_read(cache, "hits", 60, ["a", "b"])  # connects, loads the script
        proxy.reset()
        count, found = count_and_read(cache, "hits", 60, ["a", "b"])

    assert (count, found) == (2, {})
    assert proxy.trips == 1


def test_a_count_ahead_goes_in_the_round_trip_of_the_users_read(
    redis_url: str, settings: Any
) -> None:
    """Inside counting_ahead, the first read made for a user (authentication's) also counts
    for that user and reads the block's keys: one round trip; a count taken back is gone."""
    from django.core.cache import caches

    from tests.round_trips import RoundTripProxy
    from uploads.counting import (
        CountAhead,
        counted_ahead,
        counting_ahead,
        read_ahead,
        read_for_user,
        reading_ahead,
        take_back_ahead,
    )

    prefix = uuid.uuid4().hex
    with RoundTripProxy.in_front_of(redis_url) as proxy:
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": proxy.through(redis_url),
                "KEY_PREFIX": prefix,
            }
        }
        cache = caches["default"]
        cache.set("version:7", 3)
        cache.set("revision", 11)
        ahead = CountAhead("default", lambda user: (f"hits:{user}", 60), ["revision"])
        with reading_ahead(), counting_ahead(ahead):
            proxy.reset()
            assert read_for_user("default", 7, "version:7") == 3
            assert proxy.trips == 1
            assert counted_ahead("default", "hits:7") == 1
            assert counted_ahead("default", "hits:8") is None  # another counter
            assert read_ahead("revision") == (True, 11)
            assert read_for_user("default", 7, "version:7") == 3  # a plain read: no count
        assert cache.get("hits:7") == 1

        with reading_ahead(), counting_ahead(ahead := CountAhead("default", ahead.counter)):
            read_for_user("default", 7, "version:7")
            take_back_ahead()
            assert counted_ahead("default", "hits:7") is None
        assert cache.get("hits:7") == 1  # the first count stays; the second was taken back

        with reading_ahead(), counting_ahead(ahead := CountAhead("default", ahead.counter)):
            read_for_user("default", 9, "version:9")
            cache.delete("hits:9")  # its window over before the request was refused
            take_back_ahead()
        assert cache.get("hits:9") is None  # no count without an expiry left behind


def test_without_redis_a_count_ahead_waits_for_the_rate_limit(settings: Any) -> None:
    """Another cache reads only what is asked: the rate limit then counts on its own."""
    from uploads.counting import CountAhead, counted_ahead, counting_ahead, read_for_user

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    ahead = CountAhead("default", lambda user: (f"hits:{user}", 60))
    with counting_ahead(ahead):
        assert read_for_user("default", 7, "version:7") is None
        assert counted_ahead("default", "hits:7") is None


def test_a_count_taken_back_with_the_cache_down_leaves_the_refusal_as_it_was(
    settings: Any,
) -> None:
    """Taking back is best effort: with Redis gone since the count, the request's own refusal
    (a revoked token's 401) is what the caller gets, not a cache error."""
    from uploads.api import ratelimit
    from uploads.counting import CountAhead, counting_ahead

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
    ahead = CountAhead("default", lambda user: (f"hits:{user}", 60))
    ahead.user_id, ahead.key, ahead.count = "7", "hits:7", 1  # as counted before Redis went
    with counting_ahead(ahead):
        ratelimit.take_back()  # no error
