"""Presign's budget of round trips to PostgreSQL and Redis (issue 19), counted on the wire:
a real gunicorn on the project's default settings, its database and cache reached through
proxies that count each exchange (tests/round_trips.py)."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import requests

from tests.live import free_port, fresh_database, listening, manage, project_env, running
from tests.requirements import postgres_url, redis_url
from tests.round_trips import RoundTripProxy

pytestmark = pytest.mark.live

#: Presigns counted after the warm-up (the demo user's quota keeps 20 open).
COUNTED = 12


@dataclass
class Site:
    base: str
    token: str
    database: RoundTripProxy
    cache: RoundTripProxy
    database_url: str

    def presign(self, http: requests.Session) -> None:
        answer = http.post(
            f"{self.base}/api/v1/uploads/presign",
            json={"type": "avatar", "contentType": "image/png", "size": 1000},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    cache_url = redis_url()
    with ExitStack() as stack:
        database_url = fresh_database(stack, "trips")
        database = stack.enter_context(RoundTripProxy.in_front_of(database_url))
        cache = stack.enter_context(RoundTripProxy.in_front_of(cache_url))
        var_dir = tmp_path_factory.mktemp("trips")
        env = project_env(
            var_dir,
            DATABASE_URL=database.through(database_url),
            REDIS_URL=cache.through(cache_url),
        )
        manage(env, "migrate", "--noinput")
        port = free_port()
        printed = manage(env, "demo_user", "--base-url", f"http://127.0.0.1:{port}")
        token = re.search(r"^Access token\s+(\S+)", printed, re.M)
        assert token, printed
        command = [sys.executable, "-m", "gunicorn", "config.wsgi", "--workers", "1"]
        command += ["--bind", f"127.0.0.1:{port}"]
        stack.enter_context(
            running(
                command,
                ready=listening(port),
                timeout=60,
                name="gunicorn",
                cwd=Path(__file__).resolve().parent.parent,
                env=env,
                log=var_dir / "gunicorn.log",
                group=True,
            )
        )
        yield Site(f"http://127.0.0.1:{port}", token.group(1), database, cache, database_url)


def test_presign_makes_one_round_trip_to_postgresql_and_one_to_redis(site: Site) -> None:
    """PostgreSQL: the stored function's call. Redis: the token's version, the rate limit's
    count and the upload types' revision (uploads.counting.read_for_user)."""
    with requests.Session() as http:
        site.presign(http)  # warm: the worker's connections made, the upload types loaded
        site.database.reset()
        site.cache.reset()
        for _ in range(COUNTED):
            site.presign(http)
    database, cache = site.database.trips / COUNTED, site.cache.trips / COUNTED
    print(f"per presign: {database:.2f} to PostgreSQL, {cache:.2f} to Redis")
    assert site.database.connections == site.cache.connections == 0  # kept, not reopened
    assert (database, cache) == (1, 1)


def test_a_kept_connection_the_server_ended_is_replaced_before_the_request_uses_it(
    site: Site,
) -> None:
    """The health check costs no round trip (config/postgresql), and still catches a
    connection that PostgreSQL ended between two requests."""
    with requests.Session() as http:
        site.presign(http)
        site.database.reset()
        name = urlsplit(site.database_url).path.lstrip("/")
        with psycopg.connect(postgres_url(), autocommit=True) as admin:
            # Each backend gone (the timeout: wait for it), and what it sent last passed on
            # by the proxy, closed: the worker's socket then holds the news.
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            ).fetchall()
        assert ended, "the server held no connection to end"
        site.database.wait_until_open(0)
        site.presign(http)  # 201, not a 500 or a 503 from the dead connection
    assert site.database.connections == 1
