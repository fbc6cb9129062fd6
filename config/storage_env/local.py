from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def storage_config(env: Mapping[str, str], var_dir: Path) -> dict[str, Any]:
    """Files under var/uploads, served only through the app (no public MEDIA_URL)."""
    return {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(var_dir / "uploads"), "base_url": None},
    }


def staging_buckets(env: Mapping[str, str]) -> dict[str, str]:
    """UPLOADS['STAGING_BUCKETS']: none; the app serves only completed files."""
    return {}
