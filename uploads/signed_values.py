"""``django.core.signing.dumps`` without building a signer for each value: the HMAC key,
derived from SECRET_KEY and the salt, is kept for the next value (presign signs two or
three). ``signing.loads`` reads them back, with SECRET_KEY_FALLBACKS, as ever."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import time
from typing import Any

from django.conf import settings
from django.core import signing
from django.utils.encoding import force_bytes

# signing.JSONSerializer's encoder, made once.
_JSON = json.JSONEncoder(separators=(",", ":"))
_stamp = (0, "0")  # the last second signed, as TimestampSigner writes it


def dumps(obj: Any, salt: str) -> str:
    """The same value as ``signing.dumps(obj, salt=salt)`` (not compressed)."""
    data = _JSON.encode(obj).encode("latin-1")
    value = f"{signing.b64_encode(data).decode()}:{_timestamp()}"
    mac = hmac.digest(_key(salt, settings.SECRET_KEY), value.encode(), "sha256")
    return f"{value}:{signing.b64_encode(mac).decode()}"


def _timestamp() -> str:
    global _stamp
    now, stamp = int(time.time()), _stamp
    if stamp[0] != now:
        stamp = _stamp = (now, signing.b62_encode(now))
    return stamp[1]


@functools.lru_cache(maxsize=8)
def _key(salt: str, secret: str | bytes) -> bytes:
    # As django.core.signing.Signer(salt=salt) derives it (salted_hmac, sha256).
    return hashlib.sha256(force_bytes(f"{salt}signer") + force_bytes(secret)).digest()
