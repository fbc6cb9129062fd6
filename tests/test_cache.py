"""The project's Redis cache backend (config.cache): Django's, with one client per server."""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis

from config.cache import ReusedClientRedisCache


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("needs Redis (REDIS_URL)")
    return url


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
