"""The large file of bench/multipart.py inside ``make bench``: one run through the API (and its
baseline: boto3's own upload to SeaweedFS, or a plain copy on the local signer) on the
stack's database and cache, to SeaweedFS on the pg stack and the local signer on sqlite.

Tasks run within the request here (the immediate backend), so that complete's time is the
time until the upload is usable: every multipart upload is verified by a task, which a worker
would otherwise run after complete has answered.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench import multipart

STORAGE = {"pg": "s3", "sqlite": "local"}


def measure(
    stack: str, env: dict[str, str], var_dir: Path, token: str, size: str
) -> dict[str, Any]:
    """Parts, complete and whole-upload seconds of one ``size`` file on ``stack``."""
    target = STORAGE[stack]
    args = multipart.parse_args(
        ["--size", size, "--targets", target, "--repeat", "1", "--tmpdir", str(var_dir)]
    )
    env = env | {"TASKS_BACKEND": "immediate"}
    with tempfile.TemporaryDirectory(prefix="bench-multipart-", dir=var_dir) as scratch:
        source = Path(scratch) / "large.mp4"
        print(f"[{stack}] multipart: writing {size} of random bytes", flush=True)
        sha256 = multipart.make_file(source, args.size)
        multipart.create_policy(args.size, args.part_size, args.public)
        from django.db import connections

        connections.close_all()
        rows = multipart.run_target(target, args, env, var_dir, token, source, sha256)
    api = [row for row in rows if row.method.startswith("API")]

    def step(name: str) -> multipart.Row:
        return next(row for row in api if row.step.startswith(name))

    baseline = next(row for row in rows if not row.method.startswith("API"))
    failed = [row.note for row in rows if row.note.startswith("FAILED")]
    return {
        "size": size,
        "storage": target if target == "local" else "SeaweedFS",
        "plan": step("parts").method,
        "parts_s": step("parts").seconds,
        "complete_s": step("complete").seconds,
        "whole_s": step("whole").seconds,
        "baseline": f"{baseline.method}: {baseline.seconds:.1f} s",
        "errors": failed,
    }
