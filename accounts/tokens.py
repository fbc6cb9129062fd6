"""JWTs that can be taken back: each carries its user's ``token_version``, refresh tokens
rotate on every use, and a rotated one presented again revokes all of the user's tokens.

simplejwt's views use the serializers below through SIMPLE_JWT's TOKEN_*_SERIALIZER
settings (logout is simplejwt's own TokenBlacklistSerializer); its ``token_blacklist`` app
keeps the outstanding and the blacklisted refresh tokens. A logged-out token presented for
a refresh counts as a replay too.
"""

from __future__ import annotations

from typing import Any, cast

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import token_versions
from accounts.models import User
from uploads.api.serializers import StrictCharField

VERSION_CLAIM = "ver"


def version_of(token: Any) -> int:
    # Tokens minted by simplejwt's own RefreshToken.for_user carry no version: they are of
    # the version every user starts with.
    return int(token.get(VERSION_CLAIM, 0))


class VersionedRefreshToken(RefreshToken):
    """A refresh token (and the access tokens made from it) bound to the user's version."""

    @classmethod
    def for_user(cls, user: Any) -> VersionedRefreshToken:
        token = cast(VersionedRefreshToken, super().for_user(user))
        token[VERSION_CLAIM] = user.token_version
        return token


def revoke_all(user: User) -> None:
    """Refuse every token the user holds: access tokens by their version, refresh tokens
    also on the blacklist (so that the admin lists them as blacklisted)."""
    User.objects.filter(pk=user.pk).update(token_version=F("token_version") + 1)
    user.token_version = version = User.objects.values_list("token_version", flat=True).get(
        pk=user.pk
    )
    token_versions.revoked(user.pk, version)
    outstanding = OutstandingToken.objects.filter(
        user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )


def _user_of(token: Any) -> User | None:
    return User.objects.filter(
        **{api_settings.USER_ID_FIELD: token.get(api_settings.USER_ID_CLAIM)}
    ).first()


def revoke_if_replayed(raw: str) -> None:
    """``raw`` was refused: if it is a genuine, unexpired refresh token that was already
    rotated or logged out, someone else holds a copy of it; revoke all of its user's tokens.
    A token blacklisted by a password change or a deactivation (an older version) is only
    refused: its user may since have signed in afresh."""
    try:
        # simplejwt annotates the encoded token as a Token; it is the string.
        payload = token_backend.decode(raw, verify=True)  # type: ignore[arg-type]
    except TokenBackendError:  # forged, malformed or expired: it proves nothing
        return
    if payload.get(api_settings.TOKEN_TYPE_CLAIM) != RefreshToken.token_type:
        return
    if not BlacklistedToken.objects.filter(token__jti=payload.get(api_settings.JTI_CLAIM)).exists():
        return
    user = _user_of(payload)
    if user is not None and version_of(payload) == user.token_version:
        revoke_all(user)


def _check_current(refresh: RefreshToken) -> User:
    user = _user_of(refresh)
    if user is None or not api_settings.USER_AUTHENTICATION_RULE(user):
        raise AuthenticationFailed(
            _("No active account found for the given token."), "no_active_account"
        )
    if version_of(refresh) != user.token_version:
        raise TokenError(_("Token is revoked"))
    return user


def _valid_refresh(raw: str) -> tuple[RefreshToken, User]:
    try:
        # Checks signature, expiry, type and blacklist. (Annotated as a Token: a string.)
        refresh = VersionedRefreshToken(raw)  # type: ignore[arg-type]
    except TokenError:
        revoke_if_replayed(raw)
        raise
    return refresh, _check_current(refresh)


def _blacklist_once(refresh: RefreshToken, user: User) -> None:
    """Blacklist ``refresh``; if another request did so since it was checked (two uses of
    one token at once), treat it as a replay."""
    # Annotated as the BlacklistedToken, it answers get_or_create's (token, created).
    created = cast("tuple[BlacklistedToken, bool]", refresh.blacklist())[1]
    if not created:
        revoke_all(user)
        raise TokenError(_("Token is blacklisted"))


class ObtainSerializer(TokenObtainPairSerializer):
    token_class = VersionedRefreshToken

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A name or password that is not a string is a malformed body (400 validation.failed),
        # not a wrong password (401): simplejwt's CharFields would take 5 as "5".
        self.fields[self.username_field] = StrictCharField(write_only=True)
        self.fields["password"] = StrictCharField(write_only=True, style={"input_type": "password"})

    class Meta:
        ref_name = "TokenObtainPair"  # the schema's name for simplejwt's


class RefreshSerializer(serializers.Serializer[Any]):
    refresh = serializers.CharField()
    access = serializers.CharField(read_only=True)

    class Meta:
        ref_name = "TokenRefresh"

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        refresh, user = _valid_refresh(attrs["refresh"])
        data = {"access": str(refresh.access_token)}
        if api_settings.ROTATE_REFRESH_TOKENS:
            if api_settings.BLACKLIST_AFTER_ROTATION:
                _blacklist_once(refresh, user)
            refresh.set_jti()
            refresh.set_exp()
            refresh.set_iat()
            refresh.outstand()
            data["refresh"] = str(refresh)
        return data
