"""What the REST API (``uploads.api``) needs beyond the app itself: the ``[api]`` extra.

The model field, its widget, the admin and the services run without it; ``uploads.api`` then
serves no endpoints (system check uploads.E016)."""

from __future__ import annotations

from importlib.util import find_spec

INSTALL = 'pip install "django-upload-policies[api]"'

#: Module the API imports -> the distribution that brings it.
PACKAGES = {
    "rest_framework": "djangorestframework",
    "rest_framework_simplejwt": "djangorestframework-simplejwt",
    "django_ratelimit": "django-ratelimit",
    "drf_spectacular": "drf-spectacular",
}


def missing_api_packages() -> list[str]:
    """The distributions of the ``[api]`` extra that are not installed."""
    return [dist for module, dist in PACKAGES.items() if find_spec(module) is None]
