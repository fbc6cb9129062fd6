"""The URLconf ``uploads.api.urls`` and ``uploads.api.auth_urls`` stand for while the
``[api]`` extra is not installed: no paths (system check uploads.E016 says why)."""

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
