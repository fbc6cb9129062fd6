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

# django-s3direct's signing endpoints (bench.urls), measured beside presign by
# bench/wrk_bench.py: a destination only a logged-in user may sign for, on the stack's S3 bucket
# where it has one (SeaweedFS on the pg stack). Signing is an HMAC of what the browser sends:
# s3direct never calls the storage while signing, so the sqlite stack signs for a bucket no
# one serves. The keys are set here so that s3direct never asks botocore's credential chain.
AWS_STORAGE_BUCKET_NAME = os.environ.get("AWS_STORAGE_BUCKET_NAME", "bench-s3direct")
AWS_S3_REGION_NAME = os.environ.get("AWS_S3_REGION_NAME", "us-east-1")
AWS_S3_ENDPOINT_URL = os.environ.get("AWS_S3_ENDPOINT_URL", "https://s3.us-east-1.amazonaws.com")
AWS_ACCESS_KEY_ID = os.environ.get("AWS_ACCESS_KEY_ID", "bench-s3direct-access-key")
AWS_SECRET_ACCESS_KEY = os.environ.get("AWS_SECRET_ACCESS_KEY", "bench-s3direct-secret-key")
S3DIRECT_DESTINATIONS = {
    "bench": {
        "key": "s3direct-bench",
        "auth": lambda user: user.is_authenticated,
        "allowed": ["image/png"],
        "content_length_range": (1, 20 * 1024 * 1024),
    }
}
