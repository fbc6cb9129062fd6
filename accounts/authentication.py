"""``Authorization: Bearer upk_...``: API keys beside JWTs; and JWTs checked against their
user's token version.

Put ApiKeyAuthentication before simplejwt's JWTAuthentication: it answers only for tokens
that start with ``upk_`` and leaves every other token to the next class.
"""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from django.utils.translation import gettext_lazy as _
from rest_framework import HTTP_HEADER_ENCODING, exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import Token

from accounts import apikeys, token_versions
from accounts.models import ApiKey, User
from accounts.tokens import version_of


class ApiKeyAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        # From META: request.headers (get_authorization_header) builds every header's name.
        header = request.META.get("HTTP_AUTHORIZATION", b"")
        if isinstance(header, str):
            header = header.encode(HTTP_HEADER_ENCODING)
        parts = header.split()
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
    changed or the user was deactivated (accounts.tokens). The token's version is checked
    against the one the cache mirrors (accounts.token_versions): a match costs no query, the
    user being known by its id; otherwise the row decides, as simplejwt loads it."""

    def __init__(self) -> None:
        # simplejwt asks get_user_model() on every request: the token versions are this
        # project's User's (accounts.tokens), which is the user model.
        self.user_model = User

    def get_validated_token(self, raw_token: bytes) -> Token:
        token = verified_tokens.get(raw_token)
        if token is None:
            token = super().get_validated_token(raw_token)
            verified_tokens.put(raw_token, token)
        return token

    def get_user(self, validated_token: Token) -> Any:
        version = version_of(validated_token)
        user_id = validated_token.get(jwt_settings.USER_ID_CLAIM)
        if user_id is not None and token_versions.cached(user_id) == version:
            return token_versions.token_user(user_id)
        user = cast(User, super().get_user(validated_token))
        token_versions.fill(user.pk, user.token_version)
        if version != user.token_version:
            raise exceptions.AuthenticationFailed(
                _("The token has been revoked."), code="token_revoked"
            )
        return user


class VerifiedTokens:
    """Access tokens this process has verified lately, by their bytes: a client sends the
    same one with each request, and checking its signature again would tell nothing new
    (access tokens have no blacklist; revocation is the version's). Only the expiry is
    checked again, as Token.check_exp does (expired once ``exp`` plus the leeway has come).
    Bounded: the oldest go first."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._tokens: dict[bytes, tuple[Token, float]] = {}
        self._lock = threading.Lock()

    def get(self, raw_token: bytes) -> Token | None:
        entry = self._tokens.get(raw_token)
        if entry is None:
            return None
        token, expired_at = entry
        if time.time() >= expired_at:
            self._tokens.pop(raw_token, None)
            return None
        return token

    def clear(self) -> None:
        self._tokens.clear()

    def put(self, raw_token: bytes, token: Token) -> None:
        exp = token.payload.get("exp")
        if not isinstance(exp, (int, float)):
            return
        leeway = token.get_token_backend().get_leeway().total_seconds()
        with self._lock:
            self._tokens[raw_token] = (token, exp + leeway)
            while len(self._tokens) > self.size:
                self._tokens.pop(next(iter(self._tokens)), None)


verified_tokens = VerifiedTokens()
