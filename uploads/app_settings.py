"""The app's settings, read lazily from ``settings.UPLOADS`` with defaults.

Nothing here is ever written into ``django.conf.settings``. A key the app does not know
fails loudly, naming the keys it does know, so that a typo never silently falls back
to a default.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SEVEN_DAYS = 7 * 24 * 3600

DEFAULTS: dict[str, Any] = {
    # Aliases of settings.STORAGES that operators may pick for an upload type.
    "STORAGES": ["default"],
    # Storage alias -> dotted path of a Signer class, overriding the one chosen from the
    # storage's backend class.
    "SIGNERS": {},
    # Presign rate limit per user, in django-ratelimit's notation.
    "RATE_LIMIT": "30/m",
    # Ceilings that no policy edited in the admin may exceed.
    "MAX_SIZE_CEILING": 5 * 1024**3,
    "MAX_EXPIRY_CEILING": SEVEN_DAYS,
    # Lifetime of a signed download URL.
    "DOWNLOAD_EXPIRY": 300,
    # Lifetime of a form's upload value (fieldValue), issued to one user: a form shown or an
    # upload made longer ago than this asks for the file again.
    "FIELD_VALUE_MAX_AGE": 24 * 3600,
    # A CDN in front of public uploads: publicUrl becomes <base>/<key>.
    "PUBLIC_BASE_URL": "",
    # The local signer is for development; it refuses to work with DEBUG off unless this is set.
    "LOCAL_ALLOW_WITHOUT_DEBUG": False,
    # Bytes read from the start of an object to recognise its type.
    "SNIFF_BYTES": 4096,
    # Chunk size for streaming bodies to and from storage.
    "CHUNK_SIZE": 64 * 1024,
    "FILE_NAME_MAX_LENGTH": 255,
    # Per user: uploads whose URL is still live and not yet completed, and the bytes they
    # may write (the declared size, or the type's max_size when none was declared).
    "MAX_OPEN_UPLOADS": 20,
    "MAX_PENDING_BYTES": 2 * 1024**3,
    # Images and JSON are read whole on complete to decode them; a type allowing either may
    # not have a larger max_size.
    "VERIFY_READ_LIMIT": 64 * 1024**2,
    # Seconds ffprobe may take to read a completed video's duration and size (over a signed
    # URL); past it they stay unknown.
    "PROBE_TIMEOUT": 15,
    # Complete writes a file it read whole (an image, a JSON file, anything no longer than
    # SNIFF_BYTES) of at most this many bytes to its key itself, with its sha256, rather than
    # copy the staging object there and prove the copy (by S3's checksum of it, else by
    # reading it back). 0: always copy.
    "WRITE_VERIFIED_UP_TO": 1024**2,
    # Pending uploads are swept this long after their URL expired.
    "CLEANUP_GRACE": 3600,
    "CACHE_ALIAS": "default",
    # Seconds a process trusts its copy of the upload types before it checks the shared cache
    # again. 0: every presign checks, and an admin edit applies from the next request; more
    # saves a cache round trip per request, and an edit then takes up to that long.
    "POLICY_CACHE_SECONDS": 0,
    # PostgreSQL: presign's insert commits without waiting for its WAL to reach the disk
    # (synchronous_commit off for that transaction alone). Faster; a crash of PostgreSQL
    # within its last few hundred milliseconds can lose pending uploads whose URLs it answered
    # (docs/operations.md). Off by default.
    "PRESIGN_ASYNC_COMMIT": False,
    # Signed URLs write under this prefix; complete copies the verified object to its key.
    "STAGING_PREFIX": "staging",
    # Storage alias -> a private bucket (a container on Azure) of the same account that
    # holds that storage's staging objects, so that no public access on the storage's own
    # bucket reaches unverified bytes. Azure and GCS signers.
    "STAGING_BUCKETS": {},
    # Cache-Control set on every completed object (after "public, " or "private, ").
    "CACHE_CONTROL": "max-age=31536000, immutable",
    # Bounds on every storage call, so that a storage that does not answer fails fast.
    "STORAGE_CONNECT_TIMEOUT": 2,
    "STORAGE_READ_TIMEOUT": 5,
    "STORAGE_ATTEMPTS": 3,
    # The read timeout of calls where the storage works on a whole object before it answers
    # (a server-side copy, assembling parts): proportional to the object's size.
    "STORAGE_COPY_TIMEOUT": 300,
    # All the storage calls of one HTTP request, retries included, end within this many
    # seconds of its start (then 503 storage.unavailable): keep it below the server's worker
    # timeout (gunicorn's --timeout, 30 s by default). Background tasks are not bound by it.
    "REQUEST_STORAGE_DEADLINE": 20,
    # How long a multipart upload may take, from presign to complete; its parts are aborted
    # by the sweep after that (each batch of part URLs lives the type's URL expiry).
    "MULTIPART_LIFETIME": 24 * 3600,
    # Complete checks files larger than this (and every multipart upload) in a background
    # task (settings.TASKS), answering 202 with the upload "verifying" meanwhile.
    "VERIFY_IN_BACKGROUND_ABOVE": 64 * 1024**2,
    # A "verifying" upload untouched this long lost its task (a worker that died, a queue
    # that was flushed): uploads_cleanup verifies and settles it itself.
    "VERIFY_TASK_GRACE": 3600,
    # Seconds a running verification task holds its upload without renewing its lease (it
    # renews every quarter of that): once a lease runs out (a killed worker), uploads_cleanup
    # hands the upload to a new task, and the old run can no longer settle it.
    "VERIFY_LEASE": 120,
    # Content types beyond the built-in ones, each with the magic bytes that recognise it:
    # {"application/vnd...document": {"extension": "docx", "magic": ["504b0304"]}}.
    "EXTRA_CONTENT_TYPES": {},
    # Checks before publication that operators may choose per upload type, by name: name ->
    # dotted path of a callable taking an uploads.scanning.StagedFile (docs/checks.md).
    "CHECKS": {},
    # ClamAV's daemon for uploads.scanning.clamav.scan: "unix:///run/clamav/clamd.ctl" or
    # "tcp://host:3310"; and the seconds any one exchange with it may take.
    "CLAMD": "",
    "CLAMD_TIMEOUT": 30,
    # A check that cannot decide now (a scanner down) leaves the upload verifying; it is
    # checked again after this many seconds, doubling each time up to the maximum.
    "CHECK_RETRY_DELAY": 30,
    "CHECK_RETRY_MAX_DELAY": 1800,
    # Webhooks (docs/webhooks.md): seconds to connect to an endpoint and for each read of its
    # answer; attempts per delivery before it is marked failed; the delay before the first
    # retry, doubled after each failed attempt up to the longest delay; and how long a
    # rotated secret keeps signing next to the new one.
    "WEBHOOK_TIMEOUT": 10,
    "WEBHOOK_MAX_ATTEMPTS": 16,
    "WEBHOOK_RETRY_DELAY": 10,
    "WEBHOOK_RETRY_MAX_DELAY": 6 * 3600,
    "WEBHOOK_SECRET_OVERLAP": 24 * 3600,
}

#: Keys the app no longer reads, and what replaced each: a host still setting one learns
#: where its intent went rather than only that the key is unknown.
REPLACED = {
    "LOGIN_RATE_LIMIT_USERNAME": "login throttling is django-axes' now: set AXES_FAILURE_LIMIT "
    "and AXES_LOCKOUT_PARAMETERS (README: Logins)",
    "LOGIN_RATE_LIMIT_ADDRESS": "login throttling is django-axes' now: set AXES_FAILURE_LIMIT "
    "and AXES_LOCKOUT_PARAMETERS (README: Logins)",
}


class AppSettings:
    """Attribute access to ``settings.UPLOADS[...]`` with the defaults above."""

    _checked: dict[str, Any] | None = None  # the settings.UPLOADS last found valid

    def _user_settings(self) -> dict[str, Any]:
        value = getattr(settings, "UPLOADS", {})
        if value is self._checked:  # read on every request: checked once per dict
            return self._checked
        if not isinstance(value, dict):
            raise ImproperlyConfigured("settings.UPLOADS must be a dict.")
        unknown = sorted(set(value) - set(DEFAULTS))
        if unknown:
            replaced = "".join(f" {key}: {REPLACED[key]}." for key in unknown if key in REPLACED)
            raise ImproperlyConfigured(
                f"Unknown key(s) in settings.UPLOADS: {', '.join(unknown)}.{replaced} "
                f"Valid keys: {', '.join(sorted(DEFAULTS))}."
            )
        self._checked = value
        return value

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(name)
        return self._user_settings().get(name, DEFAULTS[name])

    def validate(self) -> None:
        """Raise ImproperlyConfigured for anything wrong; used by the system checks."""
        self._checked = None  # checked afresh, even the same dict changed in place
        user = self._user_settings()
        for key, value in user.items():
            expected = type(DEFAULTS[key])
            if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
                raise ImproperlyConfigured(f"settings.UPLOADS['{key}'] must be an integer.")
            if expected is not int and not isinstance(value, expected):
                raise ImproperlyConfigured(
                    f"settings.UPLOADS['{key}'] must be a {expected.__name__}."
                )
        for key in ("VERIFY_IN_BACKGROUND_ABOVE", "WRITE_VERIFIED_UP_TO"):
            if getattr(self, key) < 0:
                raise ImproperlyConfigured(f"settings.UPLOADS['{key}'] must be at least 0.")
        if self.POLICY_CACHE_SECONDS < 0:
            raise ImproperlyConfigured(
                "settings.UPLOADS['POLICY_CACHE_SECONDS'] must be at least 0."
            )
        for key in ("MAX_OPEN_UPLOADS", "MAX_PENDING_BYTES", "VERIFY_READ_LIMIT"):
            if getattr(self, key) < 1:
                raise ImproperlyConfigured(f"settings.UPLOADS['{key}'] must be at least 1.")
        if self.MAX_EXPIRY_CEILING > SEVEN_DAYS or self.MAX_EXPIRY_CEILING < 1:
            raise ImproperlyConfigured(
                "settings.UPLOADS['MAX_EXPIRY_CEILING'] must be between 1 and 604800 "
                "seconds (7 days, the longest any provider signs for)."
            )
        if self.FIELD_VALUE_MAX_AGE < 1:
            raise ImproperlyConfigured(
                "settings.UPLOADS['FIELD_VALUE_MAX_AGE'] must be at least 1."
            )
        if not self.STAGING_PREFIX.strip("/") or "/" in self.STAGING_PREFIX.strip("/"):
            raise ImproperlyConfigured(
                "settings.UPLOADS['STAGING_PREFIX'] must be one non-empty path segment, "
                "such as 'staging'."
            )
        for alias, bucket in self.STAGING_BUCKETS.items():
            if not isinstance(bucket, str) or not bucket.strip():
                raise ImproperlyConfigured(
                    f"settings.UPLOADS['STAGING_BUCKETS']['{alias}'] must be the name of a "
                    "bucket (a container on Azure)."
                )
        for key in (
            "STORAGE_CONNECT_TIMEOUT",
            "STORAGE_READ_TIMEOUT",
            "STORAGE_ATTEMPTS",
            "STORAGE_COPY_TIMEOUT",
            "REQUEST_STORAGE_DEADLINE",
            "MULTIPART_LIFETIME",
            "VERIFY_TASK_GRACE",
            "VERIFY_LEASE",
            "PROBE_TIMEOUT",
            "CLAMD_TIMEOUT",
            "CHECK_RETRY_DELAY",
            "CHECK_RETRY_MAX_DELAY",
            "WEBHOOK_TIMEOUT",
            "WEBHOOK_MAX_ATTEMPTS",
            "WEBHOOK_RETRY_DELAY",
            "WEBHOOK_RETRY_MAX_DELAY",
            "WEBHOOK_SECRET_OVERLAP",
        ):
            if getattr(self, key) < 1:
                raise ImproperlyConfigured(f"settings.UPLOADS['{key}'] must be at least 1.")


app_settings = AppSettings()
