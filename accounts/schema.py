"""How the OpenAPI schema describes API keys and this project's JWT classes (imported by
AccountsConfig.ready)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import (
    SimpleJWTScheme,
    TokenObtainPairSerializerExtension,
    TokenRefreshSerializerExtension,
)
from drf_spectacular.extensions import OpenApiAuthenticationExtension

from uploads.api.strict_schema import tightened


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (upk_...), made in the admin and limited to its scopes.",
        }


class VersionedJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.VersionedJWTAuthentication"


class ObtainSerializerScheme(TokenObtainPairSerializerExtension):
    target_class = "accounts.tokens.ObtainSerializer"

    def map_serializer(self, auto_schema: Any, direction: str) -> Any:
        return tightened(super().map_serializer(auto_schema, direction), self.target)


class RefreshSerializerScheme(TokenRefreshSerializerExtension):
    target_class = "accounts.tokens.RefreshSerializer"

    def map_serializer(self, auto_schema: Any, direction: str) -> Any:
        return tightened(super().map_serializer(auto_schema, direction), self.target)
