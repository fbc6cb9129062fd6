"""Instructions per request, counted by valgrind (callgrind), for a figure that the machine's
other load does not move: the bare DRF view, presign and complete through Django's test
client (no HTTP), each the difference between two runs of a different number of requests,
so that start-up and warm-up cancel out.

Run from the project root: ``.venv/bin/python bench/instructions.py [--requests 60]``.
Same settings and environment as bench/run.py (DATABASE_URL / REDIS_URL honoured; the
database and the cache then run outside valgrind, so their own work is not counted).
Needs valgrind (``apt-get install valgrind``); takes a few minutes.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WARM = 10
TARGETS = ("floor", "presign", "complete")


def child(target: str, count: int) -> None:
    """Run ``WARM + count`` requests of ``target`` (inside valgrind)."""
    from bench.profile_presign import client_for
    from bench.run import (
        PRESIGN_BODY,
        PRESIGN_PATH,
        isolated_environment,
        prepare_database,
        setup_django,
    )

    with isolated_environment() as (env, _):
        setup_django(env)
        token = prepare_database()
        client = client_for(token)
        total = WARM + count
        # A full collection of the start-up's objects, whenever it falls, would weigh more
        # than the difference measured: they are left out of the collections from here on.
        gc.collect()
        gc.freeze()
        if target == "complete":
            ids = [_prepared_upload(client) for _ in range(total)]
            for upload_id in ids:
                _expect(client.post(f"/api/v1/uploads/{upload_id}/complete"), 200)
            return
        path, status = ("/bench/floor", 200) if target == "floor" else (PRESIGN_PATH, 201)
        for _ in range(total):
            _expect(client.post(path, PRESIGN_BODY, format="json"), status)


def _prepared_upload(client: object) -> str:
    """A presigned upload with its bytes already in storage (the local signer's own PUT)."""
    from urllib.parse import urlsplit

    from bench.run import PNG, PRESIGN_BODY, PRESIGN_PATH

    answer = client.post(PRESIGN_PATH, PRESIGN_BODY, format="json")  # type: ignore[attr-defined]
    data = _expect(answer, 201)
    url = urlsplit(str(data["uploadUrl"]))
    headers: dict[str, str] = data["headers"]  # type: ignore[assignment]
    put = client.generic(  # type: ignore[attr-defined]
        "PUT",
        f"{url.path}?{url.query}",
        PNG,
        content_type=headers.get("Content-Type", ""),
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()},
    )
    assert put.status_code in (200, 201, 204), put.content
    return str(data["id"])


def _expect(response: object, status: int) -> dict[str, object]:
    code = response.status_code  # type: ignore[attr-defined]
    if code != status:
        raise SystemExit(f"{code}: {response.content[:300]!r}")  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    return body.get("data", body)


def counted(target: str, count: int, valgrind: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        run = subprocess.run(
            [
                valgrind,
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--child",
                target,
                str(count),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=os.environ.copy(),
            check=False,
        )
    found = re.search(r"Collected : (\d+)", run.stderr)
    if run.returncode != 0 or found is None:
        raise SystemExit(f"{target} x{count} failed:\n{run.stdout[-2000:]}{run.stderr[-3000:]}")
    return int(found.group(1))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=60, help="the difference in requests")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--child", nargs=2, metavar=("TARGET", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]))
        return 0
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        parser.error("valgrind is not installed: apt-get install valgrind")
    targets = args.targets.split(",")
    runs = [(t, n) for t in targets for n in (0, args.requests)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        totals = dict(
            zip(runs, pool.map(lambda r: counted(r[0], r[1], valgrind), runs), strict=True)
        )
    per = {t: (totals[t, args.requests] - totals[t, 0]) / args.requests for t in targets}
    print(f"instructions per request (callgrind, difference of {args.requests} requests):")
    for target in targets:
        ratio = f"  ({per[target] / per['floor']:.2f}x the bare view)" if "floor" in per else ""
        print(f"  {target:<10} {per[target] / 1e6:8.2f} M{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
