"""The project's settings as the benchmark serves them: production-like (DEBUG off), the
local signer allowed, a presign rate limit and quotas too high to matter, and one extra "bare"
endpoint (bench.urls) that measures the framework's floor.

Everything else comes from config.settings and its environment: DATABASE_URL and
REDIS_URL when set, otherwise SQLite and an in-process cache under VAR_DIR.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuv")
os.environ.setdefault("JWT_SIGNING_KEY", "bench-only-jwt-signing-key-0123456789abcdefghijklmnopq")
os.environ.setdefault("DJANGO_HTTPS", "0")  # served over plain HTTP on the loopback

from config.settings import *  # noqa: E402,F403

DEBUG = False
ROOT_URLCONF = "bench.urls"
UPLOADS = {  # noqa: F405
    **UPLOADS,  # noqa: F405
    "LOCAL_ALLOW_WITHOUT_DEBUG": True,
    "RATE_LIMIT": "1000000/m",
    # One user presigns thousands of times, and leaves each upload pending.
    "MAX_OPEN_UPLOADS": 10**9,
    "MAX_PENDING_BYTES": 2**62,
}
