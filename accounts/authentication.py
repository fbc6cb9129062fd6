"""``Authorization: Bearer upk_...``: API keys beside JWTs; and JWTs checked against their
user's token version.

Put ApiKeyAuthentication before simplejwt's JWTAuthentication: it answers only for tokens
that start with ``upk_`` and leaves every other token to the next class.
"""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.tokens import Token

from accounts import apikeys
from accounts.models import ApiKey, User
from accounts.tokens import version_of
from accounts.user_cache import recent_users


class ApiKeyAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].decode(errors="replace") != self.keyword:
            return None
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            return None
        if not token.startswith(ApiKey.PREFIX):
            return None  # a JWT, most likely: the next class decides
        api_key = apikeys.find_key(token)
        # One message for every refusal, so that a caller learns nothing about which keys
        # exist, are revoked or have expired.
        if api_key is None or not api_key.is_usable or not api_key.user.is_active:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked API key."))
        apikeys.touch(api_key)
        return api_key.user, api_key

    def authenticate_header(self, request: Request) -> str:
        # A value here makes DRF answer 401 (not 403) when credentials are missing, as this
        # class comes first in DEFAULT_AUTHENTICATION_CLASSES.
        return f'{self.keyword} realm="api"'


class VersionedJWTAuthentication(JWTAuthentication):
    """simplejwt's JWTAuthentication, refusing tokens issued before the user's password
    changed or the user was deactivated: compared with the user row simplejwt loads anyway,
    so no extra query.

    ``settings.ACCOUNTS_JWT_USER_CACHE_SECONDS`` (env ``JWT_USER_CACHE_SECONDS``) above 0
    lets each process reuse a user row it loaded for that long, saving the query on most
    requests. The price: a deactivation, a password change or a logout everywhere takes up
    to that long to refuse the access tokens already issued. 0, the default, reads the row
    on every request."""

    def get_user(self, validated_token: Token) -> Any:
        seconds = getattr(settings, "ACCOUNTS_JWT_USER_CACHE_SECONDS", 0)
        version = version_of(validated_token)
        user = recent_users.get(validated_token, seconds) if seconds > 0 else None
        if user is None or version > user.token_version:  # a newer token: the row moved on
            user = cast(User, super().get_user(validated_token))
            if seconds > 0:
                recent_users.put(user)
        if version != user.token_version:
            raise exceptions.AuthenticationFailed(
                _("The token has been revoked."), code="token_revoked"
            )
        return user
