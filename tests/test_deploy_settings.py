"""The project's secrets and production settings, as manage.py reads them from the
environment: a random secret per development checkout, a JWT key of its own, and a
production environment (docs/operations.md's) that `check --deploy` finds nothing to say about."""

from __future__ import annotations

import re
import secrets
import stat
import subprocess
import sys
from pathlib import Path

from tests.live import ROOT, manage, project_env

SECRETS = ("DJANGO_SECRET_KEY", "JWT_SIGNING_KEY")
PRINT_KEYS = (
    "from django.conf import settings; "
    "print(settings.SECRET_KEY); print(settings.SIMPLE_JWT['SIGNING_KEY'])"
)


def env_without_secrets(var_dir: Path, **extra: str) -> dict[str, str]:
    env = project_env(var_dir)
    for name in SECRETS:
        env.pop(name, None)
    return env | extra


def keys(env: dict[str, str]) -> list[str]:
    return manage(env, "shell", "-v", "0", "-c", PRINT_KEYS).split()


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_development_secrets_are_made_once_per_checkout(tmp_path: Path) -> None:
    first = keys(env_without_secrets(tmp_path / "a"))

    assert keys(env_without_secrets(tmp_path / "a")) == first  # kept, not made anew
    secret_key, jwt_key = first
    assert secret_key != jwt_key and len(secret_key) >= 50 and len(jwt_key) >= 50
    assert not secret_key.startswith("django-insecure")
    for name, value in (("secret_key", secret_key), ("jwt_signing_key", jwt_key)):
        path = tmp_path / "a" / name
        assert path.read_text() == value
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    other = keys(env_without_secrets(tmp_path / "b"))
    assert set(other).isdisjoint(first)  # another checkout, other secrets


def test_without_debug_each_secret_is_required_by_name(tmp_path: Path) -> None:
    env = env_without_secrets(tmp_path, DJANGO_DEBUG="0", DJANGO_SECRET_KEY="x" * 60)
    answer = run(env, "check")
    assert answer.returncode != 0
    assert "Set JWT_SIGNING_KEY" in answer.stderr
    assert not (tmp_path / "jwt_signing_key").exists()

    answer = run(env | {"JWT_SIGNING_KEY": "x" * 60}, "check")
    assert answer.returncode != 0
    assert "JWT_SIGNING_KEY must differ from DJANGO_SECRET_KEY" in answer.stderr


def readme_production_env() -> dict[str, str]:
    """The production environment of docs/operations.md, each ``<random>`` a fresh secret."""
    readme = (ROOT / "docs" / "operations.md").read_text()
    found = re.search(r"```sh\n# production\.env\b.*?\n(.*?)```", readme, re.S)
    assert found, "docs/operations.md shows no production.env block"
    env: dict[str, str] = {}
    for line in found.group(1).splitlines():
        if line and not line.startswith("#"):
            name, value = line.split("=", 1)
            env[name] = value.replace("<random>", secrets.token_urlsafe(50))
    return env


def test_the_documented_production_environment_passes_check_deploy(tmp_path: Path) -> None:
    production = readme_production_env()
    assert "DJANGO_DEBUG" not in production  # off by default
    env = env_without_secrets(tmp_path, **production)
    del env["DJANGO_DEBUG"]

    answer = run(env, "check", "--deploy", "--fail-level", "WARNING")

    assert answer.returncode == 0, answer.stderr
    assert "System check identified no issues" in answer.stdout
    settings = run(
        env,
        "shell",
        "-v",
        "0",
        "-c",
        "from django.conf import settings as s; print(s.DEBUG, s.SECURE_SSL_REDIRECT, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0, "
        "s.SIMPLE_JWT['ACCESS_TOKEN_LIFETIME'].total_seconds() <= 900)",
    )
    assert settings.stdout.split() == ["False", "True", "True", "True", "True", "True"]


def test_the_same_environment_without_https_fails_check_deploy(tmp_path: Path) -> None:
    env = env_without_secrets(tmp_path, **readme_production_env(), DJANGO_HTTPS="0")
    del env["DJANGO_DEBUG"]

    answer = run(env, "check", "--deploy", "--fail-level", "WARNING")

    assert answer.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in answer.stderr


SERVE_ONCE = """
import gc, io, json
from config.wsgi import application
statuses = []
body = application(
    {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/v1/uploads/types", "SERVER_NAME": "127.0.0.1",
     "SERVER_PORT": "80", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(),
     "wsgi.errors": io.StringIO(), "HTTP_HOST": "127.0.0.1"},
    lambda status, headers: statuses.append(status),
)
print(statuses[0], json.loads(b"".join(body))["error"]["code"], gc.get_freeze_count() > 10000)
"""


def test_the_wsgi_module_loads_the_views_and_keeps_them_from_the_collector(
    tmp_path: Path,
) -> None:
    served = manage(project_env(tmp_path), "shell", "-v", "0", "-c", SERVE_ONCE)

    assert served.split() == ["401", "Unauthorized", "auth.unauthorized", "True"]


def test_the_sizes_complete_goes_by_come_from_the_environment(tmp_path: Path) -> None:
    env = project_env(tmp_path) | {
        "UPLOADS_VERIFY_IN_BACKGROUND_ABOVE": "5000",
        "UPLOADS_WRITE_VERIFIED_UP_TO": "0",
    }
    show = (
        "from uploads.app_settings import app_settings as s; "
        "print(s.VERIFY_IN_BACKGROUND_ABOVE, s.WRITE_VERIFIED_UP_TO)"
    )
    assert manage(env, "shell", "-v", "0", "-c", show).split() == ["5000", "0"]
