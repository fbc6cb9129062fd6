"""Scan throughput through clamd: files of a few sizes streamed with INSTREAM by the app's
own client (uploads.scanning.clamd), as the ClamAV check sends a staged file, to a real clamd
started here with the tests' signature database (tests/clamd.py; nothing is downloaded).
With ``--s3``, also the whole check as complete runs it (uploads.scanning.clamav.scan): the
file read from SeaweedFS (S3) a MiB per ranged GET, the next while clamd scans the last, and
streamed to clamd; beside the read alone.

Run from the project root: ``.venv/bin/python bench/scan.py [--sizes 1,16,64] [--runs 5]
[--s3]``.
See bench/README.md ("Malware scan") for what it measures and how to read it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.clamd import FOUND, MARKER, Clamd, clamd_binary  # noqa: E402
from uploads.scanning import StagedFile  # noqa: E402
from uploads.scanning.clamd import MAX_CHUNK, instream  # noqa: E402

MiB = 1024 * 1024


def pieces(data: bytes, size: int = MAX_CHUNK) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), size):
        yield bytes(view[start : start + size])


def samples(size: int) -> dict[str, bytes]:
    """Random bytes (no format clamd recognises) and plain text, each ``size`` bytes."""
    line = b"The quick brown fox jumps over the lazy dog, 0123456789.\n"
    return {
        "random": os.urandom(size),
        "text": (line * (size // len(line) + 1))[:size],
    }


def timed(runs: int, scan: Callable[[], object]) -> tuple[float, float]:
    """The median and best seconds of ``runs`` calls, after an untimed one."""
    scan()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        scan()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def row(label: str, size: int, median: float, best: float) -> str:
    return f"{label:>24} | {median:>7.3f}s | {best:>7.3f}s | {size / MiB / median:>8.0f}"


@contextmanager
def staged_on_s3(clamd: str) -> Iterator[Callable[[str, bytes], StagedFile]]:
    """SeaweedFS, and a way to store bytes there as a StagedFile the S3 signer reads."""
    import django
    from django.conf import settings

    from tests.backends.s3 import BUCKET, S3Backend, seaweedfs

    with seaweedfs() as server:
        settings.configure(
            STORAGES={"default": S3Backend(server).storage_config()},
            UPLOADS={"STORAGES": ["default"], "CLAMD": clamd},
            USE_TZ=True,
        )
        django.setup()
        from uploads.signers import get_signer

        signer = get_signer("default")
        admin = server.client()

        def store(key: str, data: bytes) -> StagedFile:
            admin.put_object(Bucket=BUCKET, Key=key, Body=data)
            return StagedFile(
                uuid.uuid4(),
                1,
                "bench",
                "application/octet-stream",
                len(data),
                key,
                "",
                lambda start, length: signer.read_range(key, start, length),
            )

        yield store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1,16,64", help="MiB, comma-separated")
    parser.add_argument("--runs", type=int, default=5, help="timed scans per file")
    parser.add_argument("--s3", action="store_true", help="also through SeaweedFS")
    args = parser.parse_args(argv)
    sizes = [int(s) * MiB for s in args.sizes.split(",")]

    clamd = Clamd(clamd_binary(), stream_max=f"{max(sizes) // MiB + 1}M")
    clamd.start()
    stack = ExitStack()
    try:
        store = stack.enter_context(staged_on_s3(clamd.address)) if args.s3 else None
        # Honesty: the marker is found, a clean file passes, before anything is timed.
        assert instream(clamd.address, [b"x" * 1000 + MARKER], 30) == FOUND
        assert instream(clamd.address, [b"clean"], 30) is None
        print(f"clamd with the test signatures, {platform.node()}, {os.cpu_count()} cores")
        print(f"{'file':>24} | {'median':>8} | {'best':>8} | MiB/s (median)")
        for size in sizes:
            for kind, data in samples(size).items():
                label = f"{size // MiB} MiB {kind}"

                def scan(data: bytes = data) -> None:
                    assert instream(clamd.address, pieces(data), 300) is None

                print(row(f"{label}, memory", size, *timed(args.runs, scan)))
                if store is None:
                    continue
                file = store(f"staging/bench/{uuid.uuid4()}", data)

                def read(file: StagedFile = file) -> None:
                    assert sum(len(c) for c in file.chunks()) == file.size

                def check(file: StagedFile = file) -> None:
                    from uploads.scanning.clamav import scan

                    scan(file)  # the check itself: raises Refused for a file clamd flags

                print(row(f"{label}, S3 read", size, *timed(args.runs, read)))
                print(row(f"{label}, S3 + scan", size, *timed(args.runs, check)))
    finally:
        stack.close()
        clamd.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
