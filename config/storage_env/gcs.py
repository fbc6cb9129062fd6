"""UPLOADS_STORAGE=gcs: a django-storages GoogleCloudStorage from django-storages' own names.

- ``GS_BUCKET_NAME`` (required): the bucket uploads go to.
- ``GS_CREDENTIALS`` (required): path to a service-account JSON key file. Its private key
  signs the upload and download URLs, and the client uses it for everything else.
- ``GS_PROJECT_ID`` (optional): defaults to the key file's ``project_id``.
- ``GS_STAGING_BUCKET_NAME`` (recommended whenever the bucket is readable by allUsers): a
  private bucket for the objects not yet verified; the same service account must be able to
  write, read and delete there.
- ``STORAGE_EMULATOR_HOST`` (development only): an emulator's base URL, such as
  ``http://127.0.0.1:4443`` for fake-gcs-server; google-cloud-storage reads it itself.
  With it set, the key's tokens are self-signed in-process (an emulator has no token
  endpoint) and nothing is asked of Google's IAM service.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from config.storage_env import separate_staging

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
INSTALL_HINT = "pip install django-upload-policies[gcs]"


def storage_config(env: Mapping[str, str], var_dir: Path) -> dict[str, Any]:
    bucket = env.get("GS_BUCKET_NAME", "").strip()
    if not bucket:
        raise ImproperlyConfigured("UPLOADS_STORAGE=gcs needs GS_BUCKET_NAME (the bucket's name).")
    key_file = env.get("GS_CREDENTIALS", "").strip()
    if not key_file:
        raise ImproperlyConfigured(
            "UPLOADS_STORAGE=gcs needs GS_CREDENTIALS: the path to a service-account JSON key "
            "file (its key signs the upload URLs)."
        )
    credentials = load_credentials(Path(key_file), emulator=bool(env.get(EMULATOR_ENV)))
    return {
        "BACKEND": "storages.backends.gcloud.GoogleCloudStorage",
        "OPTIONS": {
            "bucket_name": bucket,
            "credentials": credentials,
            "project_id": env.get("GS_PROJECT_ID", "").strip() or credentials.project_id,
        },
    }


def load_credentials(path: Path, *, emulator: bool = False) -> Any:
    """Service-account credentials from a JSON key file; ImproperlyConfigured naming
    GS_CREDENTIALS (never the key) when the file is missing or is not such a key."""
    try:
        from google.oauth2 import service_account
    except ImportError as err:
        raise ImproperlyConfigured(
            f"UPLOADS_STORAGE=gcs needs google-cloud-storage: {INSTALL_HINT}"
        ) from err
    try:
        info = json.loads(path.read_text())
    except OSError as err:
        raise ImproperlyConfigured(
            f"GS_CREDENTIALS={path}: cannot read the file ({err.strerror})."
        ) from err
    except ValueError as err:
        raise ImproperlyConfigured(f"GS_CREDENTIALS={path}: the file is not JSON.") from err
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ImproperlyConfigured(
            f'GS_CREDENTIALS={path}: not a service-account key (its "type" must be '
            '"service_account"; create one with `gcloud iam service-accounts keys create`).'
        )
    cls = emulator_credentials_class() if emulator else service_account.Credentials
    try:
        return cls.from_service_account_info(info, always_use_jwt_access=emulator)
    except ValueError as err:
        # google-auth names the missing fields or a malformed key, never the key itself.
        raise ImproperlyConfigured(f"GS_CREDENTIALS={path}: {err}") from err


@functools.cache
def emulator_credentials_class() -> Any:
    """Service-account credentials for an emulator: access tokens are self-signed JWTs made
    in-process (``always_use_jwt_access``), and no regional access boundary is looked up at
    iamcredentials.googleapis.com. URL signing is unchanged."""
    from google.oauth2 import service_account

    class EmulatorCredentials(service_account.Credentials):
        def _is_regional_access_boundary_lookup_required(self) -> bool:
            return False

    return EmulatorCredentials


def staging_buckets(env: Mapping[str, str]) -> dict[str, str]:
    """UPLOADS['STAGING_BUCKETS'] from GS_STAGING_BUCKET_NAME."""
    return separate_staging(env, "GS_STAGING_BUCKET_NAME", "GS_BUCKET_NAME", "bucket")
