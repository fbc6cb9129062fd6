"""Where the project mounted the uploads API, found by reversing its URL names: the model
field's widget asks too, so this knows nothing of DRF and lives outside uploads.api."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse


def api_base() -> str | None:
    """The prefix ``uploads.api.urls`` is mounted at, such as ``/api/v1``; None if nowhere."""
    try:
        return reverse("uploads-api:presign").removesuffix("/uploads/presign")
    except NoReverseMatch:
        return None


def api_prefixes() -> list[str]:
    """The path prefixes of the uploads API and its token endpoints, wherever mounted."""
    prefixes = []
    for name, suffix in (
        ("uploads-api:presign", "uploads/presign"),
        ("uploads-auth:token", "auth/token"),
    ):
        try:
            prefixes.append(reverse(name).removesuffix(suffix))
        except NoReverseMatch:
            pass
    return prefixes
