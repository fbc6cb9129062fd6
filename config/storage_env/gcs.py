from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured


def storage_config(env: Mapping[str, str], var_dir: Path) -> dict[str, Any]:
    raise ImproperlyConfigured("UPLOADS_STORAGE=gcs is not implemented yet.")
