"""One Redis hash per side effect, ``<EFFECTS_KEY>:<effect>``, mapping an upload's id to the
number of times the effect happened to it."""

from __future__ import annotations

import os

import redis

#: The environment variable naming the key prefix, one per test run.
KEY_VARIABLE = "TOPOLOGY_EFFECTS_KEY"


def _client(url: str | None = None) -> redis.Redis:
    return redis.Redis.from_url(url or os.environ["REDIS_URL"])


def count(effect: str, upload_id: object) -> None:
    """Record that ``effect`` happened to the upload, in whatever process it happened."""
    with _client() as client:
        client.hincrby(f"{os.environ[KEY_VARIABLE]}:{effect}", str(upload_id), 1)


def counts(redis_url: str, prefix: str, effect: str) -> dict[str, int]:
    """Upload id -> how many times ``effect`` happened to it."""
    with _client(redis_url) as client:
        found = client.hgetall(f"{prefix}:{effect}")
    return {key.decode(): int(value) for key, value in found.items()}


def forget(redis_url: str, prefix: str) -> None:
    with _client(redis_url) as client:
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
