"""Real servers in subprocesses, for tests that go through real HTTP: the project under
runserver, and the storage emulators (tests/backends), started and stopped the same way."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from tests.requirements import postgres_url, require_binary

ROOT = Path(__file__).resolve().parent.parent
LOG_TAIL = 3000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> Callable[[], bool]:
    """A readiness check: something accepts connections on the loopback ``port``."""

    def ready() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    return ready


def _log_tail(log: Path | None) -> str:
    if log is None:
        return ""
    try:
        return ":\n" + log.read_text(errors="replace")[-LOG_TAIL:]
    except OSError:
        return ""


def start_process(
    command: Sequence[str],
    *,
    ready: Callable[[], bool],
    timeout: float,
    name: str,
    log: Path | None = None,
    group: bool = False,
    **popen: Any,
) -> subprocess.Popen[bytes]:
    """Start ``command`` and wait until ``ready()`` is true; on its exit or after ``timeout``
    seconds, stop it and raise RuntimeError (with the tail of ``log``, where its output goes;
    without one the output is dropped). ``group`` starts it in a session of its own, so that
    stop_process(..., group=True) reaches its children too."""
    with open(log or os.devnull, "wb") as out:
        process = subprocess.Popen(
            list(command), stdout=out, stderr=subprocess.STDOUT, start_new_session=group, **popen
        )
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}{_log_tail(log)}")
            if ready():
                return process
            time.sleep(0.05)
        raise RuntimeError(f"{name} was not ready within {timeout} s{_log_tail(log)}")
    except BaseException:
        stop_process(process, group=group)
        raise


def stop_process(
    process: subprocess.Popen[bytes], timeout: float = 10.0, *, group: bool = False
) -> None:
    """Terminate ``process`` (its whole session with ``group``), and kill it if it has not
    exited within ``timeout`` seconds."""
    if process.poll() is not None:
        return
    if group:
        os.killpg(process.pid, signal.SIGTERM)  # its own session: the group is its pid
    else:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        if group:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait()


@contextmanager
def running(command: Sequence[str], **options: Any) -> Iterator[subprocess.Popen[bytes]]:
    """start_process(command, **options) for the ``with`` block, stopped after it."""
    process = start_process(command, **options)
    try:
        yield process
    finally:
        stop_process(process, group=options.get("group", False))


# --- the project -------------------------------------------------------------------------


#: Not inherited from the tests' own environment: a live server gets these only when the
#: caller passes them (a GCS emulator's address must not reach an S3, Azure or local server).
NOT_INHERITED = ("DATABASE_URL", "REDIS_URL", "STORAGE_EMULATOR_HOST")


def project_env(var_dir: Path, **extra: str) -> dict[str, str]:
    """The project's environment on a private SQLite file and in-process cache."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env |= {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "1",
        "VAR_DIR": str(var_dir),
        "PYTHONUNBUFFERED": "1",
    }
    return env | extra


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@contextmanager
def serve(env: dict[str, str], port: int | None = None) -> Iterator[str]:
    """runserver on ``port`` (a free loopback one by default); yields its base URL; stops it
    by PID."""
    port = port or free_port()
    with running(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        ready=listening(port),
        timeout=30,
        name="runserver",
        cwd=ROOT,
        env=env,
    ):
        yield f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class DemoSite:
    """The project as `make run` leaves it: migrated, served, with the demo user."""

    base: str
    env: dict[str, str]
    printed: str  # what `manage.py demo_user` printed

    def shown(self, label: str) -> str:
        """The value printed after ``label`` (``Password``, ``Access token``...)."""
        found = re.search(rf"^{label}\s+(\S+)", self.printed, re.M)
        assert found, self.printed
        return found.group(1)

    @property
    def exports(self) -> dict[str, str]:
        """The ``export BASE=... TOKEN=... FILE=...`` line, as variables."""
        found = re.search(r"^export (BASE=\S+ TOKEN=\S+ FILE=\S+)$", self.printed, re.M)
        assert found, self.printed
        return dict(item.split("=", 1) for item in found.group(1).split())


@contextmanager
def demo_site(var_dir: Path, setup: str = "", **env: str) -> Iterator[DemoSite]:
    """Migrate a fresh project in ``var_dir`` (``env`` added to its environment), run the
    Python of ``setup`` in its shell (before the server reads anything), serve it and make
    the demo user, as `make run` does."""
    project = project_env(var_dir, **env)
    manage(project, "migrate", "--noinput")
    if setup:
        manage(project, "shell", "-c", setup)
    with serve(project) as base:
        yield DemoSite(base, project, manage(project, "demo_user", "--base-url", base))


def run_script(script: Path, env: dict[str, str], timeout: float = 60) -> str:
    """Run a docs/ walk-through with bash, as a reader would; asserts it succeeded and
    returns what it printed. bash runs in a session of its own, so that on a timeout its
    whole process group (curl and the rest) is killed, not bash alone."""
    require_binary("curl", "apt-get install curl")
    process = subprocess.Popen(
        ["bash", str(script)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # bash is not reaped yet: the group is ours
        stdout, stderr = process.communicate()
        raise AssertionError(
            f"{script.name} did not finish within {timeout} s:\n{stdout}{stderr}"
        ) from None
    except BaseException:  # interrupted: leave nothing running
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    assert process.returncode == 0, stdout + stderr
    return stdout


def assert_readme_shows(script: Path) -> None:
    """The README shows ``script`` verbatim, all but its shebang."""
    steps = script.read_text().split("\n", 1)[1]
    assert steps.strip() in (ROOT / "README.md").read_text()


def media_in_parts(part_size: int) -> str:
    """A demo_site setup: media files over ``part_size`` bytes go in parts of that size."""
    return (
        "from uploads.models import UploadPolicy; p = UploadPolicy.objects.get(name='media'); "
        f"p.part_size = {part_size}; p.multipart_threshold = {part_size}; p.save()"
    )


def fresh_database(stack: ExitStack, purpose: str) -> str:
    """A PostgreSQL database of its own on the server DATABASE_URL names, dropped after."""
    url = postgres_url()
    name = f"{urlsplit(url).path.lstrip('/')}_{purpose}_{uuid.uuid4().hex[:8]}"
    admin = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    stack.callback(drop)
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
