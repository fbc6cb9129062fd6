"""The open-upload cap holds under concurrency: a real server (gunicorn, processes of threads,
each with its own database connection), many presigns of one user at once, on PostgreSQL and
on a SQLite file; multipart presigns refused leave no upload started in storage."""

from __future__ import annotations

import re
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import requests

from tests.backends.s3 import S3Backend
from tests.live import ROOT, free_port, listening, manage, project_env, running
from tests.requirements import postgres_url

AT_ONCE = 40
ROUNDS = 4  # the race of the old count-then-insert showed in 3 bursts of 5
MAX_OPEN = 20  # the default UPLOADS["MAX_OPEN_UPLOADS"]
MB = 1024 * 1024


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: Any) -> Iterator[dict[str, str]]:
    """The live server's database: a SQLite file (the project's default) or a fresh
    PostgreSQL database on the server DATABASE_URL names."""
    if request.param == "sqlite":
        yield {}
        return
    url = postgres_url()
    name = f"{urlsplit(url).path.lstrip('/')}_cap_{uuid.uuid4().hex[:8]}"
    admin = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"DATABASE_URL": urlunsplit(urlsplit(url)._replace(path=f"/{name}"))}
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def gunicorn_site(var_dir: Path, **extra: str) -> Iterator[tuple[str, str]]:
    """The project under gunicorn, two processes of 20 threads each (AT_ONCE in all);
    yields its base URL and the demo user's access token."""
    env = project_env(var_dir, UPLOADS_RATE_LIMIT="1000/m", **extra)
    manage(env, "migrate", "--noinput")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    printed = manage(env, "demo_user", "--base-url", base)
    token = re.search(r"^Access token\s+(\S+)", printed, re.M)
    assert token, printed
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}"]
    command += ["--worker-class", "gthread", "--workers", "2", "--threads", str(AT_ONCE // 2)]
    # The sessions' kept connections wait while the others warm up: past gunicorn's default
    # 2 s keep-alive on a busy machine, it closed them and the round's first posts were reset.
    command += ["--keep-alive", "120"]
    log = var_dir / "gunicorn.log"
    options: dict[str, Any] = {"cwd": ROOT, "env": env, "log": log, "group": True}
    with running(command, ready=listening(port), timeout=60, name="gunicorn", **options):
        yield base, token.group(1)


def presign_at_the_cap(base: str, token: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """MAX_OPEN - 1 single-URL presigns; then, ROUNDS times, AT_ONCE presigns of ``body`` at
    once, each round but the last deleting the one upload it made. The uploads made."""
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{base}/api/v1/uploads"
    single = {"type": "avatar", "contentType": "image/png", "size": 100}
    sessions = [requests.Session() for _ in range(AT_ONCE)]
    for session in sessions:  # each its own kept connection, before the rounds start
        assert session.get(f"{url}/types", headers=headers, timeout=30).status_code == 200
    for _ in range(MAX_OPEN - 1):
        assert sessions[0].post(f"{url}/presign", json=single, headers=headers).status_code == 201

    def presign(session: requests.Session) -> requests.Response:
        start.wait()
        return session.post(f"{url}/presign", json=body, headers=headers, timeout=60)

    made = []
    with ThreadPoolExecutor(AT_ONCE) as pool:
        for round in range(ROUNDS):
            start = threading.Barrier(AT_ONCE)
            answers = list(pool.map(presign, sessions))
            statuses = sorted(a.status_code for a in answers)
            assert statuses == [201] + [429] * (AT_ONCE - 1), (round, statuses)
            refused = {a.json()["error"]["code"] for a in answers if a.status_code == 429}
            assert refused == {"upload.quota_exceeded"}
            made += [a.json()["data"] for a in answers if a.status_code == 201]
            if round < ROUNDS - 1:
                deleted = sessions[0].delete(f"{url}/{made[-1]['id']}", headers=headers)
                assert deleted.status_code == 200, deleted.content
                assert deleted.json()["data"]["id"] == made[-1]["id"]
    listed = sessions[0].get(f"{url}?status=pending", headers=headers)
    assert listed.json()["meta"]["pagination"]["total"] == MAX_OPEN, listed.json()
    for session in sessions:
        session.close()
    return made


def test_concurrent_presigns_at_the_cap_let_exactly_one_through(
    tmp_path: Path, database: dict[str, str]
) -> None:
    with gunicorn_site(tmp_path, **database) as (base, token):
        presign_at_the_cap(base, token, {"type": "avatar", "contentType": "image/png", "size": 1})


def test_concurrent_multipart_presigns_at_the_cap_leave_one_upload_in_storage(
    tmp_path: Path, s3_backend: S3Backend
) -> None:
    # Multipart presign starts the upload in storage before its insert: those refused abort it.
    bucket = s3_backend.new_bucket()
    env = s3_backend.project_env(tmp_path) | {"AWS_STORAGE_BUCKET_NAME": bucket}
    body = {"type": "media", "contentType": "video/mp4", "size": 20 * MB, "multipart": True}
    with gunicorn_site(tmp_path, **env) as (base, token):
        made = presign_at_the_cap(base, token, body)

    # The rounds' deletes aborted theirs; the refused never left one.
    in_storage = s3_backend.admin.list_multipart_uploads(Bucket=bucket).get("Uploads") or []
    assert [u["Key"] for u in in_storage] == [f"staging/{made[-1]['key']}"]
