"""HTTP benchmark of the upload API under gunicorn: presign against a bare endpoint, and complete.

Run from the project root: ``.venv/bin/python bench/run.py [--requests N] [--json FILE]``.
See bench/README.md for what it measures and how to read it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from accounts.demo import png_bytes  # noqa: E402
from tests.live import free_port, running  # noqa: E402

SETTINGS_MODULE = "bench.settings"
SECRET_KEY = "bench-only-secret-key-0123456789abcdefghijklmnopqrstuv"
WORKERS = 2
CONCURRENCIES = (1, 16)
SETUP_CONCURRENCY = 16
READY_TIMEOUT = 30.0
TARGET_RATIO = 0.4
STRETCH_RATIO = 0.6

PRESIGN_PATH = "/api/v1/uploads/presign"
BARE_PATH = "/bench/bare"

T = TypeVar("T")


# --- what is sent -------------------------------------------------------------------------


PNG = png_bytes(8, 8)
PRESIGN_BODY = {
    "type": "avatar",
    "contentType": "image/png",
    "size": len(PNG),
    "fileName": "bench.png",
}


# --- results ------------------------------------------------------------------------------


@dataclass
class Phase:
    """One timed (or untimed) batch of requests at one concurrency."""

    operation: str
    concurrency: int
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the latencies."""
        if not self.latencies_ms:
            return math.nan
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    def absorb(self, other: Phase) -> None:
        """Add another run of the same operation to this one."""
        self.seconds += other.seconds
        self.latencies_ms += other.latencies_ms
        self.errors += other.errors

    def summary(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "concurrency": self.concurrency,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p99_ms": round(self.percentile(99), 2),
            "errors": len(self.errors),
        }


class RequestFailed(Exception):
    """A response other than the one the contract promises."""


# --- HTTP client --------------------------------------------------------------------------


@dataclass(frozen=True)
class Api:
    base_url: str
    token: str

    def post(
        self, session: requests.Session, path: str, body: dict[str, Any] | None = None
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return session.post(self.base_url + path, json=body, headers=headers, timeout=60)


def expect(response: requests.Response, status: int) -> Any:
    """The envelope's data when the status is the expected one and the body a success."""
    if response.status_code != status:
        raise RequestFailed(
            f"{response.request.method} {response.request.path_url[:60]} -> "
            f"{response.status_code} (expected {status}): {response.text[:200]}"
        )
    body = response.json()
    if body.get("success") is not True:
        raise RequestFailed(
            f"{response.request.path_url[:60]}: not a success: {response.text[:200]}"
        )
    return body["data"]


def presign(api: Api, session: requests.Session, _: object = None) -> dict[str, Any]:
    data: dict[str, Any] = expect(api.post(session, PRESIGN_PATH, PRESIGN_BODY), 201)
    return data


def bare(api: Api, session: requests.Session, _: object = None) -> None:
    data = expect(api.post(session, BARE_PATH, PRESIGN_BODY), 200)
    if data != {"ok": True}:
        raise RequestFailed(f"bare view answered {data!r}")


def presign_and_put(api: Api, session: requests.Session, _: object = None) -> str:
    """Start an upload and send its bytes exactly as the presign answer says; its id."""
    answer = presign(api, session)
    stored = session.request(
        answer["method"], answer["uploadUrl"], data=PNG, headers=answer["headers"], timeout=60
    )
    if stored.headers.get("Content-Type", "").startswith("application/json"):
        expect(stored, 200)  # the local signer's PUT answers with the API's envelope
    elif stored.status_code != 200:  # a storage's (S3) answers with its own
        raise RequestFailed(f"PUT to the storage -> {stored.status_code}: {stored.text[:200]}")
    upload_id: str = answer["id"]
    return upload_id


def complete(api: Api, session: requests.Session, upload_id: str) -> None:
    data = expect(api.post(session, f"/api/v1/uploads/{upload_id}/complete"), 200)
    if data.get("status") != "completed":
        raise RequestFailed(f"complete answered status {data.get('status')!r}")


# --- load generator -----------------------------------------------------------------------


def run_phase(
    name: str, concurrency: int, items: Sequence[T], call: Callable[[requests.Session, T], Any]
) -> tuple[Phase, list[Any]]:
    """Send one request per item from ``concurrency`` threads, each with its own session.

    Returns the phase's timings and errors, and each item's result (None where it failed).
    """
    phase = Phase(name, concurrency)
    results: list[Any] = [None] * len(items)
    next_index = iter(range(len(items)))
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)

    def claim() -> int | None:
        with lock:
            return next(next_index, None)

    def worker() -> None:
        with requests.Session() as session:
            start.wait()
            while (index := claim()) is not None:
                began = time.perf_counter()
                try:
                    results[index] = call(session, items[index])
                except (RequestFailed, requests.RequestException, ValueError) as err:
                    with lock:
                        phase.errors.append(f"{name}: {err}")
                    continue
                elapsed_ms = (time.perf_counter() - began) * 1000
                with lock:
                    phase.latencies_ms.append(elapsed_ms)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    phase.seconds = time.perf_counter() - began
    return phase, results


def split(total: int, parts: int) -> list[int]:
    """``total`` as ``parts`` near-equal positive sizes (fewer parts when total is small)."""
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


@dataclass
class Bench:
    api: Api
    count: int
    warmup: int
    rounds: int
    phases: list[Phase] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def batch(
        self,
        name: str,
        concurrency: int,
        items: Sequence[T],
        call: Callable[[requests.Session, T], Any],
    ) -> list[Any]:
        """An untimed batch (set-up or warm-up): only its errors are kept."""
        phase, results = run_phase(name, concurrency, items, call)
        self.errors += phase.errors
        return results

    def record(self, phase: Phase) -> None:
        self.errors += phase.errors
        self.phases.append(phase)
        print(
            f"  {phase.operation:<9} c={phase.concurrency:<3} {phase.rps:8.1f} req/s"
            f"  errors {len(phase.errors)}",
            flush=True,
        )

    def run_compared(self, concurrency: int) -> None:
        """Bare and presign in alternating rounds, so that a change in the machine's load
        during the run weighs on both alike; each one's rounds add up to one phase."""
        calls = {"bare": self.sender(bare), "presign": self.sender(presign)}
        totals = {name: Phase(name, concurrency) for name in calls}
        for name, send in calls.items():
            self.batch(f"{name} warm-up", concurrency, range(self.warmup), send)
        for round_number, size in enumerate(split(self.count, self.rounds)):
            order = list(calls) if round_number % 2 == 0 else list(reversed(calls))
            for name in order:
                part, _ = run_phase(name, concurrency, range(size), calls[name])
                totals[name].absorb(part)
        for phase in totals.values():
            self.record(phase)

    def run_complete(self, concurrency: int) -> None:
        def finish(session: requests.Session, upload_id: str) -> None:
            complete(self.api, session, upload_id)

        wanted = range(self.warmup + self.count)
        ids = self.batch("complete set-up", SETUP_CONCURRENCY, wanted, self.sender(presign_and_put))
        ready = [upload_id for upload_id in ids if upload_id is not None]
        self.batch("complete warm-up", concurrency, ready[: self.warmup], finish)
        phase, _ = run_phase("complete", concurrency, ready[self.warmup :], finish)
        self.record(phase)

    def sender(
        self, call: Callable[[Api, requests.Session, object], Any]
    ) -> Callable[[requests.Session, object], Any]:
        """``call`` bound to this bench's API."""
        return lambda session, item: call(self.api, session, item)

    def run(self, concurrencies: Sequence[int]) -> None:
        for concurrency in concurrencies:
            self.run_compared(concurrency)
            self.run_complete(concurrency)


# --- the server under test ----------------------------------------------------------------


def bench_environment(var_dir: Path, database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE=SETTINGS_MODULE,
        DJANGO_SECRET_KEY=SECRET_KEY,
        DJANGO_DEBUG="0",
        VAR_DIR=str(var_dir),
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


@contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """For a PostgreSQL DATABASE_URL, a throwaway database on the same server, dropped on
    the way out, so the bench neither migrates nor litters the named one. Any other URL
    (none: SQLite under the temporary VAR_DIR) is used as it is."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        yield url
        return
    import psycopg
    from psycopg import sql

    name = f"uploads_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            admin.execute(drop.format(sql.Identifier(name)))


@contextmanager
def isolated_environment(database_url: str | None = None) -> Iterator[tuple[dict[str, str], Path]]:
    """The environment of the server under test, with a temporary VAR_DIR (SQLite file,
    stored uploads, logs) and database (a scratch one beside ``database_url``, by default
    DATABASE_URL's), both removed on the way out."""
    if database_url is None:
        database_url = os.environ.get("DATABASE_URL", "")
    var_dir = Path(tempfile.mkdtemp(prefix="uploads-bench-"))
    try:
        with scratch_database(database_url) as database_url:
            yield bench_environment(var_dir, database_url), var_dir
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def prepare_database() -> str:
    """Migrate, create the bench user and return a JWT access token for it."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connections
    from rest_framework_simplejwt.tokens import RefreshToken

    call_command("migrate", interactive=False, verbosity=0)
    user = get_user_model()(username="bench")
    user.set_password(uuid.uuid4().hex)
    user.save()
    token = str(RefreshToken.for_user(user).access_token)
    connections.close_all()
    return token


@contextmanager
def gunicorn(
    env: dict[str, str],
    log_path: Path,
    *,
    workers: int = WORKERS,
    worker_class: str = "sync",
    threads: int = 1,
) -> Iterator[str]:
    """A running gunicorn, ready when a worker answers HTTP (any status); yields its base
    URL and stops it, workers and all, on the way out."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            requests.get(base_url + BARE_PATH, timeout=2)
            return True
        except (requests.ConnectionError, requests.Timeout):
            return False

    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--threads",
        str(threads),
        "--chdir",
        str(ROOT),
        "--log-level",
        "warning",
    ]
    with running(
        command,
        ready=answers,
        timeout=READY_TIMEOUT,
        name="gunicorn",
        log=log_path,
        group=True,
        env=env,
        cwd=ROOT,
    ):
        yield base_url


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- report -------------------------------------------------------------------------------


def describe_environment(args: argparse.Namespace) -> dict[str, str]:
    import django
    import gunicorn as gunicorn_package
    from django.conf import settings
    from django.db import connection

    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        mode = db.get("OPTIONS", {}).get("transaction_mode", "DEFERRED")
        database = f"sqlite, fresh temporary file, transaction_mode {mode}"
    else:
        where = f"{db.get('HOST') or 'local socket'}:{db.get('PORT') or 'default port'}"
        database = f"{connection.vendor} at {where}, scratch database {db.get('NAME')}"
    cache = settings.CACHES["default"]
    backend = cache["BACKEND"].rsplit(".", 1)[-1]
    cache_text = f"{backend} {cache.get('LOCATION', '')}".strip()
    if backend == "LocMemCache":
        cache_text += " (one per worker process)"
    return {
        "database": database,
        "cache": cache_text,
        "server": f"gunicorn {gunicorn_package.__version__}, {WORKERS} sync workers",
        "python": platform.python_version(),
        "django": django.get_version(),
        "cpus": str(os.cpu_count()),
        "requests per run": (
            f"{args.requests} (+{args.warmup} warm-up); bare and presign alternate"
            f" in {args.rounds} rounds"
        ),
    }


def ratio_text(ratio: float | None) -> str:
    if ratio is None:
        return ""
    if ratio < TARGET_RATIO:
        verdict = "BELOW TARGET"
    elif ratio < STRETCH_RATIO:
        verdict = "meets target"
    else:
        verdict = "meets stretch"
    return f"{ratio:.3f} {verdict} (target >= {TARGET_RATIO}, stretch {STRETCH_RATIO})"


def presign_ratios(phases: Sequence[Phase]) -> dict[int, float]:
    """Presign req/s over bare req/s, per concurrency."""
    bare_rps = {p.concurrency: p.rps for p in phases if p.operation == "bare"}
    return {
        p.concurrency: p.rps / bare_rps[p.concurrency]
        for p in phases
        if p.operation == "presign" and bare_rps.get(p.concurrency)
    }


def print_report(
    environment: dict[str, str], phases: Sequence[Phase], errors: Sequence[str]
) -> None:
    print("\nEnvironment")
    for key, value in environment.items():
        print(f"  {key + ':':<18} {value}")
    ratios = presign_ratios(phases)
    header = (
        f"{'operation':<10} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
        "  presign/bare req/s"
    )
    print("\n" + header + "\n" + "-" * len(header))
    order = ["bare", "presign", "complete"]
    for p in sorted(phases, key=lambda p: (p.concurrency, order.index(p.operation))):
        ratio = ratios.get(p.concurrency) if p.operation == "presign" else None
        print(
            f"{p.operation:<10} {p.concurrency:>4} {p.rps:>9.1f} {p.percentile(50):>8.2f} "
            f"{p.percentile(99):>8.2f} {len(p.errors):>6}  {ratio_text(ratio)}"
        )
    if errors:
        print(
            f"\n!!! {len(errors)} REQUEST(S) FAILED: THESE FIGURES ARE NOT VALID !!!",
            file=sys.stderr,
        )
        for message, times in Counter(errors).most_common(10):
            print(f"  x{times} {message}", file=sys.stderr)


def write_json(
    path: Path, environment: dict[str, str], phases: Sequence[Phase], errors: Sequence[str]
) -> None:
    ratios = presign_ratios(phases)
    results = []
    for p in phases:
        row = p.summary()
        if p.operation == "presign" and p.concurrency in ratios:
            row["ratio_to_bare"] = round(ratios[p.concurrency], 3)
        results.append(row)
    payload = {
        "environment": environment,
        "results": results,
        "target_ratio": TARGET_RATIO,
        "stretch_ratio": STRETCH_RATIO,
        "errors": list(errors),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nFigures written to {path}")


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--requests", type=int, default=400, help="timed requests per operation and concurrency")
    add("--warmup", type=int, default=40, help="untimed requests before each timed phase")
    add("--rounds", type=int, default=4, help="alternating bare/presign rounds per concurrency")
    add("--json", type=Path, metavar="FILE", help="also write the figures to FILE as JSON")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0 or args.rounds < 1:
        parser.error("--requests and --rounds must be >= 1, --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with isolated_environment() as (env, var_dir):
            setup_django(env)
            token = prepare_database()
            environment = describe_environment(args)
            log_path = var_dir / "gunicorn.log"
            with gunicorn(env, log_path) as base_url:
                print(f"gunicorn ready at {base_url}; running...", flush=True)
                bench = Bench(Api(base_url, token), args.requests, args.warmup, args.rounds)
                bench.run(CONCURRENCIES)
            print_report(environment, bench.phases, bench.errors)
            if bench.errors:
                print(f"\ngunicorn log (tail):\n{tail(log_path)}", file=sys.stderr)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except RuntimeError as err:  # the server did not start
        print(f"\n{err}", file=sys.stderr)
        return 2
    if args.json:
        write_json(args.json, environment, bench.phases, bench.errors)
    return 1 if bench.errors else 0


if __name__ == "__main__":
    sys.exit(main())
