"""Counting a hit in a cache, and reading what the rest of the request will need in the same
round trip.

A presign counts itself against the caller's rate limit and then reads the upload types'
revision: on Redis (Django's ``RedisCache``) both go in one script, one round trip, instead
of three (add, incr, get). The values read along the way are kept for the request, inside
``reading_ahead()``, where ``read_ahead(key)`` hands each out once. Any other cache takes the
same calls one by one.

A request that knows it will count once its user is known (``counting_ahead``) can count in the
round trip of the first read made for that user, as authentication's (``read_for_user``): a
token's version and presign's rate limit then cost one round trip, not two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.core.cache import BaseCache, caches
from django.core.cache.backends.redis import RedisCache

# INCR makes a missing key 1; only then does it get its expiry, so a window's count always
# expires (an INCR on a key that expired between two calls would have made one that never does).
COUNT_AND_READ = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local found = {count}
for i = 2, #KEYS do found[i] = redis.call('GET', KEYS[i]) end
return found
"""

# A count taken back only where its window's key still exists: DECR on a key that expired
# meanwhile would make one without an expiry.
UNCOUNT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0
"""

_scripts: dict[str, Any] = {}  # redis-py Scripts by source: EVALSHA on whichever client
_read: ContextVar[dict[str, Any] | None] = ContextVar("uploads_read_ahead", default=None)
_MISSING = object()


def count_and_read(
    cache: BaseCache, key: str, expires: int, read: Sequence[str] = ()
) -> tuple[int, dict[str, Any]]:
    """Add one to the counter ``key`` (made with an expiry of ``expires`` seconds) and read
    the keys ``read``: the new count, and the values found (missing keys left out). Inside
    ``reading_ahead()``, the values are also kept for ``read_ahead``."""
    if isinstance(cache, RedisCache):
        count, found = _in_one_trip(cache, key, expires, read)
    else:
        count = _count(cache, key, expires)
        found = cache.get_many(read) if read else {}
    kept = _read.get()
    if kept is not None:
        kept.update(found)
        kept.update({name: None for name in read if name not in found})
    return count, found


def _in_one_trip(
    cache: RedisCache, key: str, expires: int, read: Sequence[str]
) -> tuple[int, dict[str, Any]]:
    answer = _run(cache, COUNT_AND_READ, [key, *read], [expires])
    loads = cache._cache._serializer.loads  # type: ignore[attr-defined]
    pairs = zip(read, answer[1:], strict=True)
    found = {name: loads(value) for name, value in pairs if value is not None}
    return int(answer[0]), found


def _run(cache: RedisCache, source: str, keys: Sequence[str], args: Sequence[Any] = ()) -> Any:
    """Run the Lua script ``source`` on the cache's ``keys`` (made into its Redis keys)."""
    redis_keys = [cache.make_and_validate_key(k) for k in keys]
    # RedisCache writes every key to its first server, so the script finds them all there.
    client = cache._cache.get_client(redis_keys[0], write=True)
    script = _scripts.get(source)
    if script is None:
        script = _scripts[source] = client.register_script(source)
    return script(keys=redis_keys, args=list(args), client=client)


def _count(cache: BaseCache, key: str, expires: int) -> int:
    # Every hit but a window's first finds its count: one call for those, where an add
    # first would make two.
    try:
        return int(cache.incr(key))
    except ValueError:  # no count: this hit starts a window
        pass
    if cache.add(key, 1, expires):
        return 1
    try:
        return int(cache.incr(key))  # another hit started it meanwhile
    except ValueError:  # and it expired already: a new window again
        cache.add(key, 1, expires)
        return 1


class reading_ahead:  # a context manager, named as one
    """Keep, for the block, what ``count_and_read`` reads along the way. (A class: a
    generator-based context manager costs presign several times as much.)"""

    def __enter__(self) -> None:
        self._token = _read.set({})

    def __exit__(self, *exc: object) -> None:
        _read.reset(self._token)


def read_ahead(key: str) -> tuple[bool, Any]:
    """(True, value) when ``key`` was read ahead in this block and not handed out yet (the
    value None when the cache had nothing); else (False, None). Each value is handed out
    once: a second look at the same key reads the cache again."""
    kept = _read.get()
    value = _MISSING if kept is None else kept.pop(key, _MISSING)
    return (False, None) if value is _MISSING else (True, value)


@dataclass
class CountAhead:
    """A count the request will make once its user is known: in cache ``alias``, the counter
    ``counter(user_id)`` gives (its key and expiry), reading ``read`` along."""

    alias: str
    counter: Callable[[str], tuple[str, int]]
    read: Sequence[str] = ()
    user_id: str | None = None  # once counted: for whom, in which key, the count
    key: str = ""
    count: int = 0


_ahead: ContextVar[CountAhead | None] = ContextVar("uploads_count_ahead", default=None)


class counting_ahead:  # a context manager, named as one
    """For the block, let ``read_for_user`` make ``count`` in its round trip (None: no
    count ahead)."""

    def __init__(self, count: CountAhead | None) -> None:
        self.count = count

    def __enter__(self) -> None:
        self._token = _ahead.set(self.count)

    def __exit__(self, *exc: object) -> None:
        _ahead.reset(self._token)


def read_for_user(alias: str, user_id: Any, key: str) -> Any:
    """``caches[alias].get(key)``, read for the request of user ``user_id``. Inside
    ``counting_ahead``, on the same Redis cache, the block's count for that user is made in
    the same round trip (once), with its reads kept for ``read_ahead``."""
    cache = caches[alias]
    ahead = _ahead.get()
    if ahead is None or ahead.user_id is not None or ahead.alias != alias:
        return cache.get(key)
    if not isinstance(cache, RedisCache):
        return cache.get(key)
    user = str(user_id)
    counter, expires = ahead.counter(user)
    count, found = count_and_read(cache, counter, expires, [key, *ahead.read])
    ahead.user_id, ahead.key, ahead.count = user, counter, count
    return found.get(key)


def counted_ahead(alias: str, counter: str) -> int | None:
    """The count the block made ahead in ``counter`` of cache ``alias``, or None."""
    ahead = _ahead.get()
    if ahead is None or ahead.user_id is None or (ahead.alias, ahead.key) != (alias, counter):
        return None
    return ahead.count


def take_back_ahead() -> None:
    """Take back the count the block made ahead, if any: for a request refused after it was
    made (its token revoked, say), which must not count."""
    ahead = _ahead.get()
    if ahead is None or ahead.user_id is None:
        return
    _ahead.set(None)  # nothing counted ahead any more in this block
    cache = caches[ahead.alias]
    assert isinstance(cache, RedisCache)  # only Redis counts ahead
    _run(cache, UNCOUNT, [ahead.key])
