"""Where a presign request spends its time, without HTTP: the Django test client in a loop
under cProfile, against the bare view for comparison.

Run from the project root: ``.venv/bin/python bench/profile_presign.py [--requests N] [--top K]``.
Same settings and environment as bench/run.py (DATABASE_URL / REDIS_URL honoured).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import (  # noqa: E402
    BARE_PATH,
    PRESIGN_BODY,
    PRESIGN_PATH,
    isolated_environment,
    prepare_database,
    setup_django,
)

# (module path suffix, function name, label): the steps a presign request goes through.
STEPS: tuple[tuple[str, str, str], ...] = (
    ("django/core/handlers/base.py", "get_response", "whole request, middleware included"),
    ("rest_framework/views.py", "dispatch", "DRF dispatch"),
    ("rest_framework_simplejwt/authentication.py", "authenticate", "JWT authentication"),
    (
        "rest_framework_simplejwt/authentication.py",
        "get_validated_token",
        "  token decoding and checks",
    ),
    ("rest_framework_simplejwt/authentication.py", "get_user", "  user query"),
    ("uploads/api/ratelimit.py", "hit", "rate limit (cache)"),
    ("rest_framework/serializers.py", "is_valid", "request serializer"),
    ("uploads/services/presign.py", "presign_upload", "presign_upload service"),
    ("uploads/policies.py", "get", "policy registry lookup (cache)"),
    ("uploads/signers/__init__.py", "get_signer", "get_signer"),
    ("uploads/signers/local.py", "presign_upload", "local signer: signing.dumps + reverse"),
    ("django/db/models/base.py", "save", "Upload.save (INSERT + commit)"),
    ("rest_framework/serializers.py", "data", "UploadSerializer(...).data"),
    ("uploads/api/serializers.py", "get_publicUrl", "  publicUrl"),
    ("django/http/request.py", "build_absolute_uri", "build_absolute_uri"),
    ("rest_framework/response.py", "rendered_content", "JSON rendering"),
    ("django/db/backends/utils.py", "_execute", "SQL execution, every query (driver time)"),
)


def client_for(token: str) -> Any:
    from rest_framework.test import APIClient

    client = APIClient(HTTP_HOST="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def request_loop(client: Any, path: str, status: int, count: int) -> Callable[[], None]:
    def loop() -> None:
        for _ in range(count):
            response = client.post(path, PRESIGN_BODY, format="json")
            if response.status_code != status:
                raise SystemExit(f"{path} -> {response.status_code}: {response.content[:300]!r}")

    return loop


def wall_ms_per_request(loop: Callable[[], None], count: int) -> float:
    began = time.perf_counter()
    loop()
    return (time.perf_counter() - began) * 1000 / count


def profile(loop: Callable[[], None]) -> pstats.Stats:
    profiler = cProfile.Profile()
    profiler.runcall(loop)
    return pstats.Stats(profiler)


def step_times(stats: pstats.Stats, count: int) -> list[tuple[str, float, int]]:
    """Cumulative ms per request and calls per request of each step in STEPS. Where a name
    matches several functions (an override calling its parent), the outermost one counts."""
    table = stats.stats  # type: ignore[attr-defined]
    rows = []
    for suffix, name, label in STEPS:
        cumulative = 0.0
        calls = 0
        for (filename, _, function), (_, ncalls, _, ct, _) in table.items():
            if function == name and filename.endswith(suffix):
                cumulative = max(cumulative, ct)
                calls = max(calls, ncalls)
        rows.append((label, cumulative * 1000 / count, calls // count))
    return rows


def print_top(stats: pstats.Stats, sort: str, top: int) -> None:
    buffer = io.StringIO()
    stats.stream = buffer  # type: ignore[attr-defined]
    stats.strip_dirs().sort_stats(sort).print_stats(top)
    print("\n".join(line for line in buffer.getvalue().splitlines() if line.strip())[:12000])


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=500, help="requests per loop (default 500)")
    parser.add_argument(
        "--top", type=int, default=25, help="functions listed per ranking (default 25)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with isolated_environment() as (env, _):
        setup_django(env)
        token = prepare_database()
        client = client_for(token)
        presign = request_loop(client, PRESIGN_PATH, 201, args.requests)
        bare = request_loop(client, BARE_PATH, 200, args.requests)
        request_loop(client, PRESIGN_PATH, 201, 20)()  # warm-up: imports, caches, connection
        request_loop(client, BARE_PATH, 200, 20)()

        bare_ms = wall_ms_per_request(bare, args.requests)
        presign_ms = wall_ms_per_request(presign, args.requests)
        print(
            f"Test client, no profiler: bare {bare_ms:.2f} ms, "
            f"presign {presign_ms:.2f} ms per request "
            f"(ratio of throughputs {bare_ms / presign_ms:.2f})"
        )

        for name, loop in (("bare", bare), ("presign", presign)):
            stats = profile(loop)
            print(f"\n== {name}: steps, ms per request under cProfile (calls per request) ==")
            for label, ms, calls in step_times(stats, args.requests):
                if ms:
                    print(f"  {ms:7.3f}  {label} (x{calls})")
            if name == "presign":
                print(f"\n== presign: top {args.top} by own time ==")
                print_top(stats, "tottime", args.top)
                print(f"\n== presign: top {args.top} by cumulative time ==")
                print_top(stats, "cumulative", args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
