"""UPLOADS_STORAGE=s3: AWS S3 or an S3-compatible server, from django-storages' own
environment variable names."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

# Optional variables -> S3Storage options.
OPTIONAL = {
    "AWS_S3_ENDPOINT_URL": "endpoint_url",  # an S3-compatible server (SeaweedFS, MinIO, R2...)
    "AWS_S3_REGION_NAME": "region_name",
    "AWS_SESSION_TOKEN": "security_token",
    "AWS_S3_SESSION_PROFILE": "session_profile",
    "AWS_S3_ADDRESSING_STYLE": "addressing_style",  # "path" or "virtual"
    "AWS_S3_CUSTOM_DOMAIN": "custom_domain",
    "AWS_LOCATION": "location",
}


def storage_config(env: Mapping[str, str], var_dir: Path) -> dict[str, Any]:
    """The STORAGES["default"] entry. Fails loudly, naming the variable, when one is missing.

    Without AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, boto3 finds credentials itself (an
    IAM role, AWS_S3_SESSION_PROFILE, web identity); giving only one of the two is an error.
    """
    bucket = env.get("AWS_STORAGE_BUCKET_NAME", "").strip()
    if not bucket:
        raise ImproperlyConfigured(
            "UPLOADS_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME (the bucket uploads go to)."
        )
    access_key = env.get("AWS_ACCESS_KEY_ID", "").strip()
    secret_key = env.get("AWS_SECRET_ACCESS_KEY", "").strip()
    if bool(access_key) != bool(secret_key):
        missing = "AWS_SECRET_ACCESS_KEY" if access_key else "AWS_ACCESS_KEY_ID"
        raise ImproperlyConfigured(
            f"UPLOADS_STORAGE=s3 needs {missing} together with "
            f"{'AWS_ACCESS_KEY_ID' if access_key else 'AWS_SECRET_ACCESS_KEY'}."
        )
    if access_key and env.get("AWS_S3_SESSION_PROFILE", "").strip():
        raise ImproperlyConfigured(
            "UPLOADS_STORAGE=s3: set either AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or "
            "AWS_S3_SESSION_PROFILE, not both."
        )
    options: dict[str, Any] = {
        "bucket_name": bucket,
        # The storage's own URLs (storage.url) are SigV4 too; the signer forces it anyway.
        "signature_version": "s3v4",
        # Uploads never overwrite (If-None-Match: *); the storage must not either.
        "file_overwrite": False,
    }
    if access_key:
        options |= {"access_key": access_key, "secret_key": secret_key}
    for variable, option in OPTIONAL.items():
        value = env.get(variable, "").strip()
        if value:
            options[option] = value
    endpoint = options.get("endpoint_url", "")
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise ImproperlyConfigured(
            f"AWS_S3_ENDPOINT_URL={endpoint!r} must be a URL such as http://127.0.0.1:8333."
        )
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


def staging_buckets(env: Mapping[str, str]) -> dict[str, str]:
    """UPLOADS['STAGING_BUCKETS']: none; a bucket policy limited to the public types'
    prefixes keeps staging keys private (docs/s3.md)."""
    return {}
