"""One module per provider for UPLOADS_STORAGE: ``storage_config(env, var_dir)`` and
``staging_buckets(env)``."""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured


def separate_staging(env: Mapping[str, str], name: str, main: str, kind: str) -> dict[str, str]:
    """UPLOADS['STAGING_BUCKETS'] for the default storage from environment variable ``name``:
    a private ``kind`` (bucket, container) other than the one ``main`` names."""
    staging = env.get(name, "").strip()
    if not staging:
        return {}
    if staging == env.get(main, "").strip():
        raise ImproperlyConfigured(
            f"{name} must name another {kind} than {main} (a private one, for the objects "
            "not yet verified)."
        )
    return {"default": staging}
