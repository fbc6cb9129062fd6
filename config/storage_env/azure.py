"""UPLOADS_STORAGE=azure: Azure Blob Storage through django-storages' AzureStorage, from
django-storages' own variable names.

Either AZURE_ACCOUNT_NAME and AZURE_ACCOUNT_KEY (with AZURE_ENDPOINT_SUFFIX for a sovereign
cloud), or a full AZURE_CONNECTION_STRING (for an emulator such as Azurite); AZURE_CONTAINER
always. AZURE_STAGING_CONTAINER (recommended whenever AZURE_CONTAINER allows public read): a
private container of the same account for the blobs not yet verified.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from config.storage_env import separate_staging

BACKEND = "storages.backends.azure_storage.AzureStorage"


def _required(env: Mapping[str, str], name: str, why: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(f"UPLOADS_STORAGE=azure needs {name} ({why}).")
    return value


def storage_config(env: Mapping[str, str], var_dir: Path) -> dict[str, Any]:
    options: dict[str, Any] = {
        "azure_container": _required(env, "AZURE_CONTAINER", "the container uploads go to"),
    }
    connection_string = env.get("AZURE_CONNECTION_STRING", "").strip()
    if connection_string:
        options["connection_string"] = connection_string
        if "accountkey=" not in connection_string.lower():
            raise ImproperlyConfigured(
                "UPLOADS_STORAGE=azure needs an AccountKey=... in AZURE_CONNECTION_STRING "
                "(upload URLs are signed with the account key)."
            )
    else:
        why = "or set AZURE_CONNECTION_STRING"
        options["account_name"] = _required(env, "AZURE_ACCOUNT_NAME", why)
        options["account_key"] = _required(env, "AZURE_ACCOUNT_KEY", why)
        suffix = env.get("AZURE_ENDPOINT_SUFFIX", "").strip()
        if suffix:
            options["endpoint_suffix"] = suffix
    return {"BACKEND": BACKEND, "OPTIONS": options}


def staging_buckets(env: Mapping[str, str]) -> dict[str, str]:
    """UPLOADS['STAGING_BUCKETS'] from AZURE_STAGING_CONTAINER."""
    return separate_staging(env, "AZURE_STAGING_CONTAINER", "AZURE_CONTAINER", "container")
