"""What one complete of a small PNG avatar costs on SeaweedFS, without HTTP: storage calls
and SQL queries counted per complete, the Django test client's wall time, and a cProfile of
the loop. Uploads are presigned and PUT (untimed) first; each complete runs its on-commit
work as a server does (the staging object's removal and, with the default immediate tasks
backend, the avatar's ``thumb`` variant, counted apart).

Run from the project root (DATABASE_URL / REDIS_URL honoured as by bench/run.py):
``.venv/bin/python bench/profile_complete.py [--uploads N] [--top K]``; ``--tasks rq`` (with
REDIS_URL) enqueues the variant on RQ as bench/wrk_bench.py's pg stack does, none made, and
``--sql`` prints the last complete's statements. It starts its own
SeaweedFS (tests/backends/s3.py's launcher) and removes everything it made on the way out.

Instructions per complete: ``valgrind --tool=callgrind .venv/bin/python
bench/profile_complete.py --uploads 20 --callgrind`` zeroes callgrind's counts before the
timed loop of completes and dumps them after it (``callgrind_control -z``, ``-d``; the cProfile
part is skipped): ``callgrind_annotate callgrind.out.<pid>.1 | head`` gives that loop's
instructions (divide by 20).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.profile_presign import client_for, print_top, profile  # noqa: E402
from bench.run import (  # noqa: E402
    PNG,
    PRESIGN_BODY,
    PRESIGN_PATH,
    isolated_environment,
    prepare_database,
    setup_django,
)
from tests.backends.s3 import S3Backend, seaweedfs  # noqa: E402

STEPS = (
    ("uploads/services/complete.py", "examine", "verify, check and promote"),
    ("uploads/services/promote.py", "drop", "delete the staging object (on commit)"),
    ("uploads/services/variants.py", "make_variants", "the thumb variant (on commit)"),
    ("django/db/backends/utils.py", "_execute", "SQL, every query"),
)


@contextmanager
def counted_storage_calls() -> Iterator[Counter[str]]:
    """Requests to the storage by client and method: botocore's at its before-send event,
    the lean client's (where the signer has one) as its urllib3 pool sends them."""
    from uploads.signers import get_signer

    signer: Any = get_signer("default")
    calls: Counter[str] = Counter()

    def botocore_sent(request: Any, **_: Any) -> None:
        calls[f"botocore {request.method}"] += 1

    for client in (signer.client, signer.copy_client):
        client.meta.events.register("before-send.s3", botocore_sent)
    lean = signer._lean() if hasattr(signer, "_lean") else None
    if lean is not None:
        urlopen = lean.pool.urlopen

        def lean_sent(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            calls[f"lean {method}"] += 1
            return urlopen(method, url, *args, **kwargs)

        lean.pool.urlopen = lean_sent
    try:
        yield calls
    finally:
        if lean is not None:
            lean.pool.urlopen = urlopen
        for client in (signer.client, signer.copy_client):
            client.meta.events.unregister("before-send.s3", botocore_sent)


def staged_uploads(client: Any, count: int) -> list[str]:
    ids = []
    with requests.Session() as session:
        for _ in range(count):
            response = client.post(PRESIGN_PATH, PRESIGN_BODY, format="json")
            answer = response.json()["data"]
            stored = session.put(answer["uploadUrl"], data=PNG, headers=answer["headers"])
            if stored.status_code != 200:
                raise SystemExit(f"PUT -> {stored.status_code}: {stored.text[:200]}")
            ids.append(answer["id"])
    return ids


def completes(client: Any, ids: list[str]) -> None:
    for upload_id in ids:
        response = client.post(f"/api/v1/uploads/{upload_id}/complete")
        if response.status_code != 200 or response.json()["data"]["status"] != "completed":
            raise SystemExit(f"complete -> {response.status_code}: {response.content[:300]!r}")


def collecting(under_callgrind: bool, action: str) -> None:
    if under_callgrind:
        subprocess.run(["callgrind_control", action, str(os.getpid())], check=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--uploads", type=int, default=200, help="completes per loop (200)")
    parser.add_argument("--top", type=int, default=25, help="functions per ranking (25)")
    parser.add_argument(
        "--callgrind", action="store_true", help="under valgrind: collect the completes only"
    )
    parser.add_argument(
        "--tasks",
        choices=("immediate", "rq"),
        default="immediate",
        help="the tasks backend: rq (REDIS_URL's server) enqueues the variant as the pg "
        "stack of bench/wrk_bench.py does, no worker running it (default: immediate)",
    )
    parser.add_argument("--sql", action="store_true", help="print the last complete's queries")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with seaweedfs() as server, isolated_environment() as (env, var_dir):
        setup_django(env | S3Backend(server).project_env(var_dir) | {"TASKS_BACKEND": args.tasks})
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        client = client_for(prepare_database())
        completes(client, staged_uploads(client, 10))  # warm-up: imports, clients, pools

        ids = staged_uploads(client, args.uploads)
        with counted_storage_calls() as calls, CaptureQueriesContext(connection) as queries:
            collecting(args.callgrind, "-z")
            began = time.perf_counter()
            completes(client, ids)
            wall_ms = (time.perf_counter() - began) * 1000 / args.uploads
            collecting(args.callgrind, "-d")
        per = {name: count / args.uploads for name, count in sorted(calls.items())}
        print(f"Test client, no profiler: complete {wall_ms:.2f} ms per request")
        print(f"Storage calls per complete, variant included: {per}")
        print(f"SQL queries per complete, variant included: {len(queries) / args.uploads:.1f}")
        if args.sql:
            last = len(queries.captured_queries) * (args.uploads - 1) // args.uploads
            for query in queries.captured_queries[last:]:
                print(f"  {query['sql'][:300]}")
        if args.callgrind:
            return 0

        ids = staged_uploads(client, args.uploads)
        stats = profile(lambda: completes(client, ids))
        table = stats.stats  # type: ignore[attr-defined]
        print("\n== complete: steps, ms per request under cProfile (calls per request) ==")
        for suffix, name, label in STEPS:
            rows = [
                (ct, nc)
                for (file, _, function), (_, nc, _, ct, _) in table.items()
                if function == name and file.endswith(suffix)
            ]
            if rows:
                ct, nc = max(rows)
                print(f"  {ct * 1000 / args.uploads:7.3f}  {label} (x{nc / args.uploads:g})")
        print(f"\n== complete: top {args.top} by own time ==")
        print_top(stats, "tottime", args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
