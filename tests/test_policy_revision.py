"""No upload type edit is lost to the shared cache: the revision number lives in the database,
the cache (a real Redis) only mirrors it. An admin save with Redis down is saved and says
when it applies; when Redis comes back with its old data, every process serves the edit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client

from tests.live import free_port
from tests.requirements import redis_url
from tests.test_admin import VARIANTS_INLINE
from uploads import exceptions
from uploads.models import UploadPolicy
from uploads.policies import DATABASE_CHECK_SECONDS, VERSION_KEY, PolicyRegistry, database_revision

MB = 1024 * 1024
UNTOLD = "the shared cache did not answer"


@pytest.fixture
def redis(settings: Any) -> Callable[[bool], None]:
    """Takes the project's Redis away (its settings point at a port where nothing listens)
    and brings it back, with whatever data it held."""
    redis_url()
    real = settings.CACHES

    def up(answering: bool) -> None:
        if answering:
            settings.CACHES = real
        else:
            down = {**real["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
            settings.CACHES = {**real, "default": down}

    return up


@pytest.fixture
def clock(monkeypatch: Any) -> Iterator[list[float]]:
    now = [1000.0]
    monkeypatch.setattr("uploads.policies.monotonic", lambda: now[0])
    yield now


def policy_form(policy: UploadPolicy, **overrides: str) -> dict[str, str]:
    data = {
        "name": policy.name,
        "label": policy.label,
        "is_active": "on",
        "allowed_content_types": "\n".join(policy.allowed_content_types),
        "max_size": str(policy.max_size),
        "max_pixels": str(policy.max_pixels),
        "require_size": "on",
        "storage": policy.storage,
        "key_prefix": policy.key_prefix,
        "method": policy.method,
        "expires_in": str(policy.expires_in),
        "part_size": str(policy.part_size),
        # The variants inline, left as it is.
        **VARIANTS_INLINE,
    }
    return data | overrides


@pytest.mark.django_db(transaction=True)  # the admin's own transaction commits
def test_an_admin_save_with_redis_down_is_saved_and_reaches_every_process_once_it_is_back(
    admin_client: Client, redis: Callable[[bool], None], clock: list[float]
) -> None:
    # The migrations' row, unless an earlier transactional test flushed it.
    avatar, _ = UploadPolicy.objects.get_or_create(
        name="avatar",
        defaults={
            "label": "Avatar",
            "allowed_content_types": ["image/png"],
            "max_size": 5 * MB,
            "key_prefix": "avatars",
        },
    )
    idle, busy = PolicyRegistry(), PolicyRegistry()  # two other worker processes
    assert idle.get("avatar").max_size == busy.get("avatar").max_size == 5 * MB  # type: ignore[union-attr]
    before = caches["default"].get(VERSION_KEY)

    redis(False)
    with pytest.raises(exceptions.ServiceUnavailable):
        busy.get("avatar")  # a request of this process meets the outage
    url = f"/admin/uploads/uploadpolicy/{avatar.pk}/change/"
    saved = admin_client.post(url, policy_form(avatar, max_size="8 MB"), follow=True)

    assert saved.redirect_chain and saved.redirect_chain[0][1] == 302, saved.context[
        "adminform"
    ].form.errors
    assert UNTOLD in saved.content.decode()
    assert f"within {round(DATABASE_CHECK_SECONDS)} seconds" in saved.content.decode()
    assert UploadPolicy.objects.get(pk=avatar.pk).max_size == 8 * MB

    redis(True)  # back with its old data: the revision from before the edit
    assert caches["default"].get(VERSION_KEY) == before
    # The process that met the outage asks the database at once...
    assert busy.get("avatar").max_size == 8 * MB  # type: ignore[union-attr]
    # ...which puts the database's revision back in the cache for every other process.
    assert caches["default"].get(VERSION_KEY) == database_revision() != before
    assert idle.get("avatar").max_size == 8 * MB  # type: ignore[union-attr]


def test_an_edit_redis_missed_reaches_a_process_that_saw_nothing_within_the_check_interval(
    db: Any,
    redis: Callable[[bool], None],
    clock: list[float],
    edit_policy: Callable[..., UploadPolicy],
) -> None:
    idle = PolicyRegistry()
    assert idle.get("avatar").max_size == 5 * MB  # type: ignore[union-attr]

    redis(False)
    edit_policy("avatar", max_size=8 * MB)  # saved; not mirrored (logged)
    redis(True)  # with its old data, and no process has asked the database since

    clock[0] += DATABASE_CHECK_SECONDS - 0.1
    assert idle.get("avatar").max_size == 5 * MB  # type: ignore[union-attr]
    clock[0] += 0.1
    assert idle.get("avatar").max_size == 8 * MB  # type: ignore[union-attr]
