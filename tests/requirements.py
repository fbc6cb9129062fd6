"""What a test needs that a machine may lack, and the one way a test says it lacks it.

Every skip in tests/ goes through ``missing`` (tests/test_requirements.py fails on any other):
on a developer's machine a test whose service, binary or package is absent skips with a reason
that names what to install (the skip summary lists them at the end of the run); under
``UPLOADS_REQUIRE_ALL_BACKENDS=1``, which CI sets, it fails with that reason instead, so a CI
run with a dependency gone fails loudly rather than passing with fewer tests (and
tests/skip_guard.py fails such a run if anything skipped some other way).

Call these from a test or a fixture, never at a module's top level: there a failure would be a
collection error that stops the whole run instead of failing the tests that need the thing.
"""

from __future__ import annotations

import importlib
import os
import shutil
from types import ModuleType
from typing import NoReturn

import pytest

#: The environment variable that turns a missing dependency into a failure (.ci/run sets it).
REQUIRE_ALL = "UPLOADS_REQUIRE_ALL_BACKENDS"


def missing(reason: str) -> NoReturn:
    """Skip for something this machine lacks; fail under UPLOADS_REQUIRE_ALL_BACKENDS=1.
    ``reason`` names what is missing and how to install it."""
    if os.environ.get(REQUIRE_ALL) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ALL}=1: a missing dependency fails)", pytrace=False)
    pytest.skip(reason)


def require_postgres() -> None:
    """The test database is PostgreSQL (DATABASE_URL points at one)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        missing("needs PostgreSQL (DATABASE_URL)")


def postgres_url() -> str:
    """DATABASE_URL, for a test that starts a server of its own on PostgreSQL."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        missing("needs PostgreSQL (DATABASE_URL)")
    return url


def redis_url() -> str:
    """REDIS_URL, the Redis server the project's cache runs on."""
    url = os.environ.get("REDIS_URL", "")
    if not url:
        missing("needs Redis (REDIS_URL)")
    return url


def require_module(name: str, install: str) -> ModuleType:
    """The module ``name``, imported; ``install`` says how to get it (``pip install ...``)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"{name} is not installed ({install})")


def require_binary(name: str, install: str) -> str:
    """The path of the program ``name``: found on PATH, or a path to an executable file."""
    found = shutil.which(name)
    if found is None:
        missing(f"{name} is missing ({install})")
    return found
