"""Round trips per presign and per complete, for bench/wrk_bench.py's pg stack: a gunicorn of
its own (one sync worker, the default settings) reaches PostgreSQL, Redis and the storage
through tests/round_trips.py's counting proxies; a measured number of requests, one at a
time and untimed, after a few that open its connections."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import requests

from bench.run import Api, complete, gunicorn, presign, presign_and_put
from tests.round_trips import RoundTripProxy

WARM_UP = 5
#: What each proxy stands in front of: the environment variable that names it.
SERVICES = {
    "postgres": "DATABASE_URL",
    "redis": "REDIS_URL",
    "storage": "AWS_S3_ENDPOINT_URL",
}


@contextmanager
def proxied(env: dict[str, str]) -> Iterator[tuple[dict[str, str], dict[str, RoundTripProxy]]]:
    """Proxies in front of the services ``env`` names, and ``env`` pointed at them."""
    with ExitStack() as stack:
        proxies: dict[str, RoundTripProxy] = {}
        changed = dict(env)
        for name, variable in SERVICES.items():
            if env.get(variable):
                proxy = stack.enter_context(RoundTripProxy.in_front_of(env[variable]))
                proxies[name] = proxy
                changed[variable] = proxy.through(env[variable])
        yield changed, proxies


def per_request(
    proxies: dict[str, RoundTripProxy], count: int, send: Callable[[int], object]
) -> dict[str, Any]:
    for proxy in proxies.values():
        proxy.reset()
    for index in range(count):
        send(index)
    trips = {name: proxy.trips / count for name, proxy in proxies.items()}
    return trips | {
        "per_request": trips.get("postgres", 0) + trips.get("redis", 0),
        "requests": count,
        # A connection opened meanwhile adds its handshake's round trips to its service's.
        "connections_opened": {name: proxy.connections for name, proxy in proxies.items()},
    }


def count_round_trips(env: dict[str, str], log: Path, token: str, count: int) -> dict[str, Any]:
    """Round trips per presign, and per complete of uploads presigned and PUT beforehand."""
    with proxied(env) as (proxied_env, proxies), gunicorn(proxied_env, log, workers=1) as url:
        api = Api(url, token)
        with requests.Session() as session:
            for _ in range(WARM_UP):
                presign(api, session)
            presigns = per_request(proxies, count, lambda _: presign(api, session))
            ids = [presign_and_put(api, session) for _ in range(WARM_UP + count)]
            for upload_id in ids[:WARM_UP]:
                complete(api, session, upload_id)
            completes = per_request(
                proxies, count, lambda i: complete(api, session, ids[WARM_UP + i])
            )
    return {"presign": presigns, "complete": completes}
