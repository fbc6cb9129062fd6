"""bench.settings for bench/multipart.py, with the storage read timeout raised when
BENCH_STORAGE_READ_TIMEOUT is set (``--storage-read-timeout``): a server-side copy of a large
file (promotion) may take longer than the shipped 5 s, and then complete fails."""

import os

from bench.settings import *  # noqa: F403
from bench.settings import UPLOADS

if os.environ.get("BENCH_STORAGE_READ_TIMEOUT"):
    UPLOADS = {**UPLOADS, "STORAGE_READ_TIMEOUT": int(os.environ["BENCH_STORAGE_READ_TIMEOUT"])}
