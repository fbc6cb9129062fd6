"""Where a gunicorn worker's time goes under load: wrk sends presigns (or the bare view) at
c=16 as 300 users while py-spy samples both sync workers; the stacks are added up by the
steps of a presign, each step's share including what it calls.

Run from the project root: ``.venv/bin/python bench/profile_workers.py [--target presign]
[--stack sqlite|pg] [--seconds 7]`` (py-spy, in the ``bench`` extra, and wrk). py-spy reads
another process's memory: as root, or with ``ptrace`` allowed. Its samples are of running
Python only (a worker idle in ``accept`` is not sampled), so the shares are of busy time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import (  # noqa: E402
    PRESIGN_BODY,
    PRESIGN_PATH,
    gunicorn,
    isolated_environment,
    prepare_database,
    setup_django,
)

#: (label, the frames that mark it: any of them, "Function (path" as py-spy names a frame).
STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Django handler (middleware and view)", ("BaseHandler.get_response (django/",)),
    ("  DRF dispatch", ("APIView.dispatch (rest_framework/views.py",)),
    ("    authentication", ("Request._authenticate (rest_framework/request.py",)),
    ("      the user's row", ("JWTAuthentication.get_user (rest_framework_simplejwt",)),
    ("      the token version", ("cached (accounts/token_versions.py",)),
    ("    rate limit (and the revision)", ("hit (uploads/api/ratelimit.py",)),
    ("    request serializer", ("is_valid (rest_framework/serializers.py",)),
    ("    presign service", ("presign_upload (uploads/services/presign.py",)),
    ("      the quota's lock, count, INSERT, COMMIT", ("_insert_within_quota (uploads/",)),
    ("      signing the URL", ("presign_upload (uploads/signers/",)),
    ("      the Upload built", ("Model.__init__ (django/db/models/base.py",)),
    ("    response serializer", ("data (rest_framework/serializers.py",)),
    ("    JSON rendering", ("JSONRenderer.render (rest_framework/renderers.py",)),
    ("gunicorn's HTTP parsing and writing", ("(gunicorn/http", "Response.write (gunicorn")),
)

LUA = """
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", nil, {["Authorization"] = "Bearer " .. TOKENS[i % #TOKENS + 1],
                                  ["Content-Type"] = "application/json"}, BODY)
end
"""


def shares(stacks: Counter[str]) -> list[tuple[str, float]]:
    total = sum(stacks.values()) or 1
    return [
        (label, 100 * sum(n for s, n in stacks.items() if any(m in s for m in marks)) / total)
        for label, marks in STEPS
    ]


def record(pids: Sequence[int], seconds: int, py_spy: str) -> Counter[str]:
    stacks: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        outs = [Path(tmp) / f"{pid}.txt" for pid in pids]
        spies = [
            subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "-p",
                    str(pid),
                    "-d",
                    str(seconds),
                    "-r",
                    "250",
                    "-f",
                    "raw",
                    "-o",
                    str(out),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for pid, out in zip(pids, outs, strict=True)
        ]
        for spy in spies:
            spy.wait()
        for out in outs:
            for line in out.read_text().splitlines():
                stack, count = line.rsplit(" ", 1)
                stacks[stack] += int(count)
    return stacks


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--target", choices=["presign", "floor"], default="presign")
    parser.add_argument("--stack", choices=["sqlite", "pg"], default="sqlite")
    parser.add_argument("--seconds", type=int, default=7)
    args = parser.parse_args(argv)
    py_spy, wrk = shutil.which("py-spy"), shutil.which("wrk")
    if py_spy is None or wrk is None:
        parser.error("needs py-spy (pip install py-spy) and wrk (apt-get install wrk)")
    from bench.wrk_bench import bench_users

    database = "postgresql://postgres@127.0.0.1:5432/test" if args.stack == "pg" else ""
    with isolated_environment(database) as (env, var_dir):
        env |= {"JWT_ACCESS_MINUTES": "240", "UPLOADS_STORAGE": "local"}
        if args.stack == "pg":
            env["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
        setup_django(env)
        prepare_database()
        tokens = bench_users(300)
        with (
            gunicorn(env, var_dir / "gunicorn.log") as url,
            tempfile.NamedTemporaryFile("w", suffix=".lua") as script,
        ):
            script.write(f"TOKENS = {{{','.join(json.dumps(t) for t in tokens)}}}\n")
            script.write(f"BODY = {json.dumps(json.dumps(PRESIGN_BODY))}\n{LUA}")
            script.flush()
            path = PRESIGN_PATH if args.target == "presign" else "/bench/floor"
            load = [wrk, "-t2", "-c16", "-s", script.name, url + path]
            subprocess.run([*load[:1], "-d2s", *load[1:]], capture_output=True, check=True)
            port = url.rsplit(":", 1)[1]
            found = subprocess.run(
                ["pgrep", "-f", f"gunicorn.*{port}"], capture_output=True, text=True
            ).stdout.split()
            workers = sorted(int(pid) for pid in found)[1:]  # the first is the arbiter
            running = subprocess.Popen(
                [*load[:1], f"-d{args.seconds + 3}s", *load[1:]],
                stdout=subprocess.PIPE,
                text=True,
            )
            time.sleep(1)
            stacks = record(workers, args.seconds, py_spy)
            answer = running.communicate()[0]
    rate = next((line.split()[-1] for line in answer.splitlines() if "Requests/sec" in line), "?")
    print(
        f"{args.target} on {args.stack}: {rate} req/s under the profiler, "
        f"{sum(stacks.values())} samples of {len(workers)} workers"
    )
    for label, share in shares(stacks):
        print(f"  {share:5.1f} %  {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
