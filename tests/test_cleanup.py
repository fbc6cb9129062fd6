"""The uploads_cleanup command: stale pending uploads expire and their objects go, and so
does whatever an expired URL wrote at its staging key."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.conftest import make_png
from tests.helpers import (
    assert_error,
    avatar_row,
    presign_ok,
    staged,
    status_of,
    stored,
    use_storage,
)
from uploads.keys import staging_key
from uploads.models import Upload


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("uploads_cleanup", *args, stdout=out)
    return out.getvalue()


@dataclass
class Scene:
    stale_with_object: list[Upload]
    stale_without_object: list[Upload]
    within_grace: Upload
    fresh: Upload
    completed: Upload

    @property
    def stale(self) -> list[Upload]:
        return self.stale_with_object + self.stale_without_object


def rewrite_staging(upload: Upload) -> None:
    """What the upload's URL may write again until it expires: its staging key."""
    storages["default"].save(staging_key(upload.key), ContentFile(make_png(2, 2)))


@pytest.fixture
def scene(user: Any) -> Scene:
    long_ago = -timedelta(days=2)
    completed = avatar_row(user, "completed", make_png(2, 2), expires_in=long_ago)
    rewrite_staging(completed)  # re-sent after complete, before the URL expired
    return Scene(
        stale_with_object=[
            avatar_row(user, body=make_png(2, 2), expires_in=long_ago) for _ in range(3)
        ],
        stale_without_object=[avatar_row(user, expires_in=long_ago) for _ in range(2)],
        # Expired a minute ago: a slow client may still be completing it (CLEANUP_GRACE).
        within_grace=avatar_row(user, body=make_png(2, 2), expires_in=-timedelta(minutes=1)),
        fresh=avatar_row(user, expires_in=timedelta(minutes=5)),
        completed=completed,
    )


def test_dry_run_counts_and_changes_nothing(scene: Scene) -> None:
    output = run("--dry-run")

    assert "6 uploads would be swept; 5 stale pending uploads would expire" in output
    assert all(status_of(u) == "pending" for u in scene.stale)
    assert all(staged(u.key) for u in [*scene.stale_with_object, scene.completed])


def test_sweep_expires_stale_uploads_and_deletes_their_objects(scene: Scene) -> None:
    output = run()

    assert "Swept 6/6 uploads..." in output
    assert "Swept 6 uploads: expired 5, deleted 4 objects." in output
    assert all(status_of(u) == "expired" for u in scene.stale)
    assert not any(staged(u.key) for u in scene.stale_with_object)
    assert status_of(scene.within_grace) == "pending" and staged(scene.within_grace.key)
    assert status_of(scene.fresh) == "pending"
    # The completed object stays; what its URL wrote after complete goes.
    assert status_of(scene.completed) == "completed" and stored(scene.completed.key)
    assert not staged(scene.completed.key)
    # A second run finds nothing more to do.
    assert "Swept 0 uploads: expired 0, deleted 0 objects." in run()


def test_small_batches_still_sweep_everything(scene: Scene) -> None:
    output = run("--batch-size", "2")

    progress = [line for line in output.splitlines() if line.endswith("uploads...")]
    assert progress == [
        "Swept 2/6 uploads...",
        "Swept 4/6 uploads...",
        "Swept 6/6 uploads...",
    ]
    assert "Swept 6 uploads: expired 5, deleted 4 objects." in output
    assert Upload.objects.filter(status="expired").count() == 5
    assert not any(staged(u.key) for u in scene.stale_with_object)
    assert status_of(scene.within_grace) == "pending"


def test_grace_is_configurable(scene: Scene, settings: Any) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "CLEANUP_GRACE": 0}

    run()

    assert status_of(scene.within_grace) == "expired" and not staged(scene.within_grace.key)
    assert status_of(scene.fresh) == "pending"


def test_an_unusable_storage_keeps_its_uploads_pending(scene: Scene, user: Any) -> None:
    stranded = avatar_row(user, expires_in=-timedelta(days=2))
    Upload.objects.filter(pk=stranded.pk).update(storage="gone")

    output = run()

    assert "Swept 6 uploads: expired 5, deleted 4 objects, 1 failed" in output
    assert status_of(stranded) == "pending"
    assert all(status_of(u) == "expired" for u in scene.stale)


def test_expired_upload_then_refuses_the_file(
    user: Any, api: Any, put: Any, presign: Any, png: bytes
) -> None:
    answer = presign(size=len(png)).json()["data"]
    Upload.objects.filter(pk=answer["id"]).update(expires_at=timezone.now() - timedelta(days=1))

    run()

    assert_error(put(answer, png), 409, "upload.invalid_state")
    assert not staged(answer["key"]) and not stored(answer["key"])
    assert_error(api.post(f"/api/v1/uploads/{answer['id']}/complete"), 410, "upload.expired")


@pytest.mark.parametrize("size", ["0", "-1", "two"])
def test_batch_size_must_be_positive(scene: Scene, size: str) -> None:
    with pytest.raises(CommandError, match="batch.size"):
        run("--batch-size", size)

    assert all(status_of(u) == "pending" for u in scene.stale)


def test_a_closed_uploads_key_is_cleared_once_its_url_expired(user: Any) -> None:
    """A rejected or deleted upload's URL could write its staging key again until it expired
    (cloud providers allow a write where no object is): the sweep removes that object, and
    a copy at the key left by a completion that rolled back, once."""
    long_ago = -timedelta(days=2)
    rejected = avatar_row(user, "rejected", make_png(2, 2), expires_in=long_ago)
    deleted = avatar_row(user, "deleted", make_png(2, 2), expires_in=long_ago)
    storages["default"].save(deleted.key, ContentFile(make_png(2, 2)))
    live_url = avatar_row(user, "rejected", make_png(2, 2), expires_in=timedelta(minutes=5))

    assert "Swept 2 uploads: expired 0, deleted 3 objects." in run()

    assert not staged(rejected.key) and not staged(deleted.key) and not stored(deleted.key)
    assert (status_of(rejected), status_of(deleted)) == ("rejected", "deleted")
    assert staged(live_url.key)  # its URL still works: swept after it expires
    assert "Swept 0 uploads" in run()


# --- bodies a URL could not bound ------------------------------------------------------


def sweep_now() -> str:
    out = io.StringIO()
    call_command("uploads_cleanup", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_the_sweep_rejects_at_once_a_body_azure_let_through(
    azure_backend: Any, settings: Any, api: Any
) -> None:
    """Azure's SAS binds no length: a body over the declared size is stored. The sweep
    rejects it while the URL is still live, and leaves an honest upload alone."""
    use_storage(settings, azure_backend.storage_config())
    png, other = make_png(3, 3), make_png(4, 4)
    liar, honest = presign_ok(api, png), presign_ok(api, other)
    assert azure_backend.send(liar, png + b"\0" * 4096, liar["headers"]) < 300
    assert azure_backend.send(honest, other, honest["headers"]) < 300

    out = sweep_now()

    assert "Rejected 1 pending uploads whose file is too large." in out
    assert status_of(liar["id"]) == "rejected"
    assert azure_backend.read(staging_key(liar["key"])) is None
    assert "over the" in Upload.objects.get(pk=liar["id"]).rejection_reason
    assert status_of(honest["id"]) == "pending"
    assert azure_backend.read(staging_key(honest["key"])) == other


@pytest.mark.django_db
def test_the_sweep_rejects_an_s3_put_over_the_cap_when_no_size_was_declared(
    s3_backend: Any, settings: Any, api: Any, edit_policy: Any
) -> None:
    use_storage(settings, s3_backend.storage_config())
    edit_policy("avatar", require_size=False, max_size=1024)
    answer = presign_ok(api)  # no size: the PUT's Content-Length is not signed
    assert s3_backend.send(answer, make_png(2, 2) + b"\0" * 4096, answer["headers"]) < 300

    sweep_now()

    assert status_of(answer["id"]) == "rejected"
    assert s3_backend.read(staging_key(answer["key"])) is None
