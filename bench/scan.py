"""Scan throughput through clamd: files of a few sizes streamed with INSTREAM by the app's
own client (uploads.scanning.clamd), as the ClamAV check sends a staged file, to a real clamd
started here with the tests' signature database (tests/clamd.py; nothing is downloaded).

Run from the project root: ``.venv/bin/python bench/scan.py [--sizes 1,16,64] [--runs 5]``.
See bench/README.md ("Malware scan") for what it measures and how to read it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.clamd import FOUND, MARKER, Clamd, clamd_binary  # noqa: E402
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1,16,64", help="MiB, comma-separated")
    parser.add_argument("--runs", type=int, default=5, help="timed scans per file")
    args = parser.parse_args(argv)
    sizes = [int(s) * MiB for s in args.sizes.split(",")]

    clamd = Clamd(clamd_binary(), stream_max=f"{max(sizes) // MiB + 1}M")
    clamd.start()
    try:
        # Honesty: the marker is found, a clean file passes, before anything is timed.
        assert instream(clamd.address, [b"x" * 1000 + MARKER], 30) == FOUND
        assert instream(clamd.address, [b"clean"], 30) is None
        print(f"clamd with the test signatures, {platform.node()}, {os.cpu_count()} cores")
        print(f"{'file':>16} | {'median':>8} | {'best':>8} | MB/s (median)")
        for size in sizes:
            for kind, data in samples(size).items():
                instream(clamd.address, pieces(data), 300)  # untimed warm-up
                times = []
                for _ in range(args.runs):
                    start = time.perf_counter()
                    assert instream(clamd.address, pieces(data), 300) is None
                    times.append(time.perf_counter() - start)
                median = statistics.median(times)
                print(
                    f"{size // MiB:>5} MiB {kind:>6} | {median:>7.3f}s | {min(times):>7.3f}s |"
                    f" {size / MiB / median:>8.0f}"
                )
    finally:
        clamd.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
