"""Ownership and scopes, as a matrix: every endpoint that takes a credential, called by the
owner (JWT, and API key with just the endpoint's scope), by another user (JWT, API key),
with an API key lacking the scope, with a revoked or expired key, and as an inactive user
(JWT, API key).

Another user's upload, media item, key or URL answers exactly as a missing one does; a
refusal changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import apikeys
from accounts.models import MediaItem
from accounts.scopes import SCOPES
from tests.conftest import client_for
from tests.helpers import (
    absolute_public_url,
    assert_error,
    assert_ok,
    completed_row,
    stored,
    without_correlation,
)
from uploads.models import Upload

Ids = SimpleNamespace


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: Callable[[Ids], str]
    scope: str | None
    body: Callable[[Ids], dict[str, Any]] | None = None
    ok: int = 200
    # What another user gets: the 404 code of a missing identifier, or None when the
    # endpoint answers them about their own things (200/201) without any of the owner's.
    not_found: str | None = None
    # Something of the owner's that the owner's answer shows (and no one else's may).
    shows: Callable[[Ids], str] | None = None


ENDPOINTS = [
    Endpoint("types", "get", lambda i: "/api/v1/uploads/types", "uploads:read"),
    Endpoint(
        "presign",
        "post",
        lambda i: "/api/v1/uploads/presign",
        "uploads:write",
        body=lambda i: {"type": "media", "contentType": "image/png", "size": 10},
        ok=201,
    ),
    Endpoint(
        "uploads-list",
        "get",
        lambda i: "/api/v1/uploads",
        "uploads:read",
        shows=lambda i: i.media_free,
    ),
    Endpoint(
        "upload-get",
        "get",
        lambda i: f"/api/v1/uploads/{i.media_free}",
        "uploads:read",
        not_found="upload.not_found",
        shows=lambda i: i.media_free,
    ),
    Endpoint(
        "upload-delete",
        "delete",
        lambda i: f"/api/v1/uploads/{i.media_free}",
        "uploads:write",
        not_found="upload.not_found",
        shows=lambda i: i.media_free,
    ),
    Endpoint(
        "upload-complete",
        "post",
        lambda i: f"/api/v1/uploads/{i.media_free}/complete",
        "uploads:write",
        not_found="upload.not_found",
        shows=lambda i: i.media_free,
    ),
    Endpoint(
        "upload-download",
        "get",
        lambda i: f"/api/v1/uploads/{i.media_free}/download",
        "uploads:read",
        not_found="upload.not_found",
    ),
    Endpoint("me", "get", lambda i: "/api/v1/users/me", None, shows=lambda i: i.avatar_current),
    Endpoint(
        "avatar-by-id",
        "patch",
        lambda i: "/api/v1/users/me/avatar",
        "profile:write",
        body=lambda i: {"upload": i.avatar_new},
        not_found="upload.not_found",
        shows=lambda i: i.avatar_new,
    ),
    Endpoint(
        "avatar-by-key",
        "patch",
        lambda i: "/api/v1/users/me/avatar",
        "profile:write",
        body=lambda i: {"key": i.avatar_new_key},
        not_found="upload.not_found",
        shows=lambda i: i.avatar_new,
    ),
    Endpoint(
        "avatar-by-url",
        "patch",
        lambda i: "/api/v1/users/me/avatar",
        "profile:write",
        body=lambda i: {"avatarUrl": i.avatar_new_url},
        not_found="upload.not_found",
        shows=lambda i: i.avatar_new,
    ),
    Endpoint("avatar-delete", "delete", lambda i: "/api/v1/users/me/avatar", "profile:write"),
    Endpoint("media-list", "get", lambda i: "/api/v1/media", "media:read", shows=lambda i: i.item),
    Endpoint(
        "media-create",
        "post",
        lambda i: "/api/v1/media",
        "media:write",
        body=lambda i: {"upload": i.media_free, "title": "new"},
        ok=201,
        not_found="upload.not_found",
        shows=lambda i: i.media_free,
    ),
    Endpoint(
        "media-create-by-key",
        "post",
        lambda i: "/api/v1/media",
        "media:write",
        body=lambda i: {"upload": i.media_free_key},
        ok=201,
        not_found="upload.not_found",
        shows=lambda i: i.media_free,
    ),
    Endpoint(
        "media-create-by-url",
        "post",
        lambda i: "/api/v1/media",
        "media:write",
        body=lambda i: {"upload": i.media_free_url},
        ok=201,
        not_found="upload.not_found",
        shows=lambda i: i.media_free,
    ),
    Endpoint(
        "media-get",
        "get",
        lambda i: f"/api/v1/media/{i.item}",
        "media:read",
        not_found="media.not_found",
        shows=lambda i: i.item,
    ),
    Endpoint(
        "media-rename",
        "patch",
        lambda i: f"/api/v1/media/{i.item}",
        "media:write",
        body=lambda i: {"title": "renamed"},
        not_found="media.not_found",
        shows=lambda i: i.item,
    ),
    Endpoint(
        "media-delete",
        "delete",
        lambda i: f"/api/v1/media/{i.item}",
        "media:write",
        not_found="media.not_found",
        shows=lambda i: i.item,
    ),
]


@dataclass
class World:
    owner: Any
    other: Any
    ids: Ids
    missing: Ids  # the same identifiers, of things that do not exist


@pytest.fixture
def world(user: Any, other_user: Any) -> World:
    """The owner has an avatar, another avatar upload, a media item and an unlinked media
    upload; the other user has an avatar and a media item of their own."""
    avatar_current, avatar_new = completed_row(user), completed_row(user)
    media_free, media_linked = completed_row(user, "media"), completed_row(user, "media")
    get_user_model().objects.filter(pk=user.pk).update(avatar=avatar_current)
    item = MediaItem.objects.create(owner=user, upload=media_linked, title="mine")
    theirs = completed_row(other_user)
    get_user_model().objects.filter(pk=other_user.pk).update(avatar=theirs)
    MediaItem.objects.create(
        owner=other_user, upload=completed_row(other_user, "media"), title="theirs"
    )

    ids = Ids(
        avatar_current=str(avatar_current.pk),
        avatar_new=str(avatar_new.pk),
        avatar_new_key=avatar_new.key,
        avatar_new_url=absolute_public_url(avatar_new),
        media_free=str(media_free.pk),
        media_free_key=media_free.key,
        media_free_url=absolute_public_url(media_free),
        item=str(item.pk),
    )
    gone = str(uuid.uuid4())
    missing = Ids(**vars(ids))
    missing.avatar_new = missing.media_free = gone
    missing.avatar_new_key = avatar_new.key.replace(str(avatar_new.pk), gone)
    missing.avatar_new_url = ids.avatar_new_url.replace(str(avatar_new.pk), gone)
    missing.media_free_key = media_free.key.replace(str(media_free.pk), gone)
    missing.media_free_url = ids.media_free_url.replace(str(media_free.pk), gone)
    missing.item = str(uuid.uuid4())
    return World(user, other_user, ids, missing)


def everything() -> tuple[Any, ...]:
    """The whole state of both users: rows, statuses, links, stored objects."""
    users = get_user_model().objects.order_by("pk")
    return (
        sorted((str(pk), status) for pk, status in Upload.objects.values_list("pk", "status")),
        list(users.values_list("pk", "avatar_id")),
        sorted(
            (str(pk), title, str(upload))
            for pk, title, upload in MediaItem.objects.values_list("pk", "title", "upload_id")
        ),
        sorted(key for key in Upload.objects.values_list("key", flat=True) if stored(key)),
    )


def owners_things(world: World) -> tuple[Any, ...]:
    owner = world.owner
    return (
        sorted(
            (str(pk), s) for pk, s in Upload.objects.filter(owner=owner).values_list("pk", "status")
        ),
        get_user_model().objects.get(pk=owner.pk).avatar_id,
        sorted(
            (str(pk), t)
            for pk, t in MediaItem.objects.filter(owner=owner).values_list("pk", "title")
        ),
        sorted(
            k for k in Upload.objects.filter(owner=owner).values_list("key", flat=True) if stored(k)
        ),
    )


def key_for(user: Any, scopes: list[str], **fields: Any) -> APIClient:
    row, key = apikeys.create_api_key(user, "matrix", scopes)
    if fields:
        type(row).objects.filter(pk=row.pk).update(**fields)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def deactivate(user: Any) -> None:
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)


def only(scope: str | None) -> list[str]:
    return [scope] if scope else []


def all_but(scope: str | None) -> list[str]:
    return [s for s in SCOPES if s != scope]


# caller name -> (make a client for the world and endpoint, what it gets)
CALLERS: dict[str, tuple[Callable[[World, Endpoint], APIClient], str]] = {
    "owner": (lambda w, e: client_for(w.owner), "ok"),
    "owner-key-with-the-scope": (lambda w, e: key_for(w.owner, only(e.scope)), "ok"),
    "other-user": (lambda w, e: client_for(w.other), "other"),
    "other-user-key": (lambda w, e: key_for(w.other, list(SCOPES)), "other"),
    "key-without-the-scope": (lambda w, e: key_for(w.owner, all_but(e.scope)), "forbidden"),
    "revoked-key": (
        lambda w, e: key_for(w.owner, list(SCOPES), revoked_at=timezone.now()),
        "unauthorized",
    ),
    "expired-key": (
        lambda w, e: key_for(
            w.owner, list(SCOPES), expires_at=timezone.now() - timedelta(seconds=1)
        ),
        "unauthorized",
    ),
    "inactive-user": (lambda w, e: (client_for(w.owner), deactivate(w.owner))[0], "unauthorized"),
    "inactive-user-key": (
        lambda w, e: (key_for(w.owner, list(SCOPES)), deactivate(w.owner))[0],
        "unauthorized",
    ),
}


def call(client: APIClient, endpoint: Endpoint, ids: Ids) -> Any:
    body = endpoint.body(ids) if endpoint.body else None
    return getattr(client, endpoint.method)(endpoint.path(ids), body, format="json")


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_matrix(world: World, endpoint: Endpoint, caller: str) -> None:
    make_client, outcome = CALLERS[caller]
    client = make_client(world, endpoint)
    if outcome == "forbidden" and endpoint.scope is None:
        outcome = "ok"  # nothing to lack: any valid credential reads its own profile
    before, before_owners = everything(), owners_things(world)

    response = call(client, endpoint, world.ids)

    if outcome == "ok":
        assert_ok(response, endpoint.ok)
        if endpoint.shows:
            assert endpoint.shows(world.ids) in response.content.decode()
        return
    if outcome == "other":
        if endpoint.not_found:
            error = assert_error(response, 404, endpoint.not_found)
            missing = assert_error(call(client, endpoint, world.missing), 404, endpoint.not_found)
            assert without_correlation(error) == without_correlation(missing)
        else:
            assert_ok(response, endpoint.ok)
            owners = [v for k, v in vars(world.ids).items() if not k.endswith("_url")]
            assert not any(value in response.content.decode() for value in owners)
        assert owners_things(world) == before_owners
        return
    status, code = {
        "forbidden": (403, "auth.forbidden"),
        "unauthorized": (401, "auth.unauthorized"),
    }[outcome]
    assert_error(response, status, code)
    assert everything() == before
