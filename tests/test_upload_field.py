"""UploadField on a host's own models: what it holds, what it releases, what it vetoes, how
it migrates, and the checks that name its misconfigurations."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.test.utils import isolate_apps

from accounts.models import User
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.helpers import PDF, assert_error, avatar_row, make_upload, status_of, stored
from tests.hostapp.models import Album, Poster, Profile
from uploads import exceptions
from uploads.fields import UploadField
from uploads.models import Upload, UploadPolicy
from uploads.services.attach import ready_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def committing(django_capture_on_commit_callbacks: Any) -> Any:
    """Runs what the block leaves for after commit (the released objects' deletion)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def set_avatar(user: User, upload: Upload | None) -> User:
    """As a host should save: in a transaction, which a refusal leaves as it was."""
    with transaction.atomic():
        user.avatar = upload
        user.save()
    return user


# --- what it holds ---------------------------------------------------------------------


def test_a_completed_upload_of_its_type_is_held_and_read_back(user: User) -> None:
    upload = make_upload(user)

    set_avatar(user, upload)

    assert User.objects.get(pk=user.pk).avatar == upload


@pytest.mark.parametrize("status", ["pending", "rejected", "expired"])
def test_an_upload_that_is_not_completed_is_refused_and_nothing_changes(
    user: User, status: str
) -> None:
    with pytest.raises(exceptions.InvalidState, match=status):
        set_avatar(user, avatar_row(user, status))

    assert User.objects.get(pk=user.pk).avatar_id is None


def test_an_upload_of_another_type_is_refused(user: User) -> None:
    document = make_upload(user, "document", PDF, "application/pdf")

    with pytest.raises(exceptions.InvalidState, match="Only avatar uploads fit here"):
        set_avatar(user, document)

    assert User.objects.get(pk=user.pk).avatar_id is None


def test_a_deleted_upload_is_refused(user: User, committing: Any) -> None:
    upload = make_upload(user)
    client_for(user).delete(f"/api/v1/uploads/{upload.pk}")

    with pytest.raises(exceptions.NotFound):
        set_avatar(user, upload)


def test_full_clean_names_the_refusal_as_a_validation_error(user: User) -> None:
    user.avatar = make_upload(user, "document", PDF, "application/pdf")

    with pytest.raises(ValidationError) as refused:
        user.full_clean()

    assert "Only avatar uploads fit here" in str(refused.value.message_dict["avatar"])


# --- releasing -------------------------------------------------------------------------


def test_replacing_releases_the_previous_upload_once_committed(user: User, committing: Any) -> None:
    first, second = make_upload(user), make_upload(user)
    set_avatar(user, first)

    with committing():
        set_avatar(user, second)

    assert status_of(first) == "deleted" and not stored(first.key)
    assert status_of(second) == "completed" and stored(second.key)


def test_the_object_stays_until_the_transaction_commits(user: User) -> None:
    first, second = make_upload(user), make_upload(user)
    set_avatar(user, first)

    set_avatar(user, second)  # inside the test's transaction, which never commits

    assert status_of(first) == "deleted" and stored(first.key)


def test_clearing_releases_and_saving_unchanged_releases_nothing(
    user: User, committing: Any
) -> None:
    upload = make_upload(user)
    set_avatar(user, upload)

    with committing():
        user.first_name = "Ada"
        user.save()
    assert status_of(upload) == "completed"

    with committing():
        set_avatar(user, None)
    assert status_of(upload) == "deleted" and not stored(upload.key)


def test_deleting_the_row_releases_its_uploads(user: User, committing: Any) -> None:
    cover = make_upload(user)
    booklet = make_upload(user, "document", PDF, "application/pdf")
    album = Album.objects.create(curator=user, cover=cover, booklet=booklet)

    with committing():
        album.delete()

    assert status_of(cover) == status_of(booklet) == "deleted"
    assert not stored(cover.key) and not stored(booklet.key)


def test_an_upload_held_by_two_rows_goes_only_with_the_last(user: User, committing: Any) -> None:
    upload = make_upload(user)
    set_avatar(user, upload)
    album = Album.objects.create(curator=user, cover=upload)

    with committing():
        set_avatar(user, None)
    assert status_of(upload) == "completed" and stored(upload.key)

    with committing():
        album.delete()
    assert status_of(upload) == "deleted" and not stored(upload.key)


def test_deleting_a_user_takes_their_rows_and_files(user: User, committing: Any) -> None:
    upload = make_upload(user)
    set_avatar(user, upload)
    Album.objects.create(curator=user, cover=upload)

    with committing():
        user.delete()

    assert not Upload.objects.filter(pk=upload.pk).exists() and not stored(upload.key)


# --- refusing deletes ------------------------------------------------------------------


def test_an_upload_in_use_cannot_be_deleted_through_the_api(user: User) -> None:
    upload = make_upload(user)
    Album.objects.create(curator=user, cover=upload)

    error = assert_error(
        client_for(user).delete(f"/api/v1/uploads/{upload.pk}"), 409, "upload.invalid_state"
    )

    assert error["i18nVars"] == {"usedBy": ["album cover"]}
    assert "album cover" in error["message"]
    assert status_of(upload) == "completed" and stored(upload.key)


def test_the_row_of_an_upload_in_use_cannot_be_deleted_either(user: User) -> None:
    upload = make_upload(user)
    Poster.objects.create(image=upload)

    with pytest.raises(models.RestrictedError), transaction.atomic():
        Upload.objects.filter(pk=upload.pk).delete()


# --- owners ----------------------------------------------------------------------------


def test_attaching_a_given_upload_hands_it_to_the_rows_owner(user: User, other_user: User) -> None:
    """An operator uploads a file for a user (the form and serializer fields give the
    upload through ready_for): it becomes that user's."""
    upload = ready_for(make_upload(other_user), ["avatar"])

    Album.objects.create(curator=user, booklet=None, cover=upload)

    assert Upload.objects.get(pk=upload.pk).owner == user


@pytest.mark.parametrize("by", ["instance", "id"])
def test_another_users_upload_named_by_its_id_alone_is_refused(
    user: User, other_user: User, by: str
) -> None:
    """As a plain ModelSerializer's PrimaryKeyRelatedField would attach it."""
    upload = make_upload(other_user)
    album = Album(curator=user)
    if by == "id":
        album.cover_id = upload.pk
    else:
        album.cover = Upload.objects.get(pk=upload.pk)

    with pytest.raises(exceptions.InvalidState, match="belongs to another user"):
        with transaction.atomic():
            album.save()

    assert not Album.objects.exists()
    assert Upload.objects.get(pk=upload.pk).owner == other_user


def test_an_upload_another_owners_row_uses_cannot_be_attached(user: User, other_user: User) -> None:
    upload = make_upload(other_user)
    set_avatar(other_user, upload)

    with pytest.raises(exceptions.InvalidState, match="another owner"):
        set_avatar(user, ready_for(upload, ["avatar"]))

    assert User.objects.get(pk=user.pk).avatar_id is None
    assert Upload.objects.get(pk=upload.pk).owner == other_user


def test_a_one_to_one_profile_owns_its_uploads_through_its_user(
    user: User, other_user: User
) -> None:
    upload = ready_for(make_upload(other_user), ["avatar"])

    Profile.objects.create(user=user, photo=upload)

    assert Upload.objects.get(pk=upload.pk).owner == user


def test_a_row_without_an_owner_leaves_the_upload_its_uploaders(user: User) -> None:
    upload = make_upload(user)

    Poster.objects.create(image=upload)

    assert Upload.objects.get(pk=upload.pk).owner == user


def test_a_new_user_created_with_an_avatar_owns_it(user: User) -> None:
    upload = ready_for(make_upload(user), ["avatar"])

    created = UserFactory(avatar=upload)

    assert Upload.objects.get(pk=upload.pk).owner == created


# --- migrations and checks -------------------------------------------------------------


def test_it_deconstructs_to_what_was_written() -> None:
    field = UploadField(types=["avatar"], owner_field="curator", null=True, blank=True)

    name, path, args, kwargs = field.deconstruct()

    assert path == "uploads.fields.UploadField" and args == []
    assert kwargs == {"types": ["avatar"], "owner_field": "curator", "null": True, "blank": True}
    again = UploadField(*args, **kwargs)
    assert again.types == ("avatar",) and again.owner_field == "curator"
    assert again.remote_field.on_delete is models.RESTRICT


def test_it_is_a_foreign_key_column_to_uploads() -> None:
    field = User._meta.get_field("avatar")

    assert field.get_internal_type() == "ForeignKey"
    assert field.related_model is Upload
    assert field.target_field.get_internal_type() == "UUIDField"


def test_a_field_without_types_or_with_a_wrong_owner_field_fails_the_checks() -> None:
    with isolate_apps("tests.hostapp") as apps:

        class Broken(models.Model):
            name = models.CharField(max_length=10)
            untyped = UploadField(null=True)
            misowned = UploadField(types=["avatar"], owner_field="name", null=True)

            class Meta:
                app_label = "hostapp"

    found = {
        (m.id, m.obj.name)
        for m in run_checks(app_configs=[apps.get_app_config("hostapp")])
        if m.id in ("uploads.E005", "uploads.E006")
    }

    assert found == {("uploads.E005", "untyped"), ("uploads.E006", "misowned")}


def test_a_type_whose_storage_is_not_an_upload_storage_is_a_database_check_error(
    settings: Any,
) -> None:
    UploadPolicy.objects.filter(name="document").update(storage="archive")

    found = [m for m in run_checks(databases=["default"]) if m.id == "uploads.E007"]

    assert len(found) == 1 and "'document'" in found[0].msg and "'archive'" in found[0].msg
    assert "UPLOADS['STORAGES']" in (found[0].hint or "")
    assert not [m for m in run_checks() if m.id == "uploads.E007"]  # only with a database


def test_a_field_naming_an_unknown_type_is_a_database_check_warning(settings: Any) -> None:
    settings.ACCOUNTS_MEDIA_TYPES = ["media", "films"]

    found = [m for m in run_checks(databases=["default"]) if m.id == "uploads.W002"]

    assert [m.msg for m in found] == [
        "accounts.MediaItem.upload takes upload types that do not exist: films."
    ]
