"""The open-upload cap holds under concurrency: a real server, its threads each with their own
database connection, many presigns of one user at once, on PostgreSQL and on a SQLite file."""

from __future__ import annotations

import os
import re
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import requests

from tests.backends import missing
from tests.live import ROOT, free_port, listening, manage, project_env, running

AT_ONCE = 40
MAX_OPEN = 20  # the default UPLOADS["MAX_OPEN_UPLOADS"]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: Any) -> Iterator[dict[str, str]]:
    """The live server's database: a SQLite file (the project's default) or a fresh
    PostgreSQL database on the server DATABASE_URL names."""
    if request.param == "sqlite":
        yield {}
        return
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        missing("needs PostgreSQL (DATABASE_URL)")
    name = f"{urlsplit(url).path.lstrip('/')}_cap_{uuid.uuid4().hex[:8]}"
    admin = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"DATABASE_URL": urlunsplit(urlsplit(url)._replace(path=f"/{name}"))}
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def server(tmp_path: Path, database: dict[str, str]) -> Iterator[tuple[str, str]]:
    """The project under gunicorn, two processes of 20 threads each (AT_ONCE in all);
    yields its base URL and the demo user's access token."""
    env = project_env(tmp_path, UPLOADS_RATE_LIMIT="1000/m", **database)
    manage(env, "migrate", "--noinput")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    printed = manage(env, "demo_user", "--base-url", base)
    token = re.search(r"^Access token\s+(\S+)", printed, re.M)
    assert token, printed
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}"]
    command += ["--worker-class", "gthread", "--workers", "2", "--threads", str(AT_ONCE // 2)]
    log = tmp_path / "gunicorn.log"
    options: dict[str, Any] = {"cwd": ROOT, "env": env, "log": log, "group": True}
    with running(command, ready=listening(port), timeout=60, name="gunicorn", **options):
        yield base, token.group(1)


def test_concurrent_presigns_at_the_cap_let_exactly_one_through(
    server: tuple[str, str],
) -> None:
    base, token = server
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    body = {"type": "avatar", "contentType": "image/png", "size": 100}
    url = f"{base}/api/v1/uploads/presign"
    for _ in range(MAX_OPEN - 1):
        assert session.post(url, json=body, headers=headers, timeout=30).status_code == 201
    start = threading.Barrier(AT_ONCE)

    def presign(_: int) -> requests.Response:
        with requests.Session() as own:  # a connection, and so a server thread, each
            start.wait()
            return own.post(url, json=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(AT_ONCE) as pool:
        answers = list(pool.map(presign, range(AT_ONCE)))

    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [429] * (AT_ONCE - 1), statuses
    refused = [a.json()["error"]["code"] for a in answers if a.status_code == 429]
    assert set(refused) == {"upload.quota_exceeded"}
    listed = session.get(f"{base}/api/v1/uploads?status=pending", headers=headers)
    assert listed.json()["meta"]["pagination"]["total"] == MAX_OPEN, listed.json()
