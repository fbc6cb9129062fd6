"""Complete's locked read (uploads.services.locked_read), SQL compiled once per connection:
the upload it gives is the one the ORM reads, the same uploads are missing, and on
PostgreSQL it locks the upload's row, and that alone, until the transaction ends."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from django.db import connection, transaction
from django.db.models import Subquery
from django.db.models.functions import Coalesce
from django.db.transaction import TransactionManagementError

from tests.helpers import avatar_row, make_upload
from tests.requirements import require_postgres
from uploads import exceptions
from uploads.models import PolicyRevision, Upload
from uploads.services.complete import locked_upload


def orm_read(upload_id: Any) -> Upload:
    revision = PolicyRevision.objects.filter(pk=1).values("number")
    return (
        Upload.objects.select_related("policy")
        .annotate(policy_revision=Coalesce(Subquery(revision), 0))  # type: ignore[no-redef]
        .get(pk=upload_id)
    )


def values(instance: Any) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


@pytest.mark.parametrize("completed", [False, True])
def test_the_upload_read_is_the_one_the_orm_reads(user: Any, completed: bool) -> None:
    upload = make_upload(user, complete=completed)
    expected = orm_read(upload.pk)
    with transaction.atomic():
        for upload_id in (upload.pk, str(upload.pk)):  # as the URL gives it, and as a UUID
            read = locked_upload(user, upload_id)
            assert values(read) == values(expected)
            assert values(read.policy) == values(expected.policy)
            assert read.policy_revision == expected.policy_revision
            assert read.declared_variants is not None
            assert not read._state.adding and read._state.db == "default"
    # Read again on the same connection: the compiled SQL serves every read.
    upload.file_name = "renamed.png"
    upload.save(update_fields=["file_name"])
    with transaction.atomic():
        assert locked_upload(user, upload.pk).file_name == "renamed.png"


@pytest.mark.parametrize("which", ["deleted", "another user's", "unknown", "malformed"])
def test_deleted_foreign_unknown_and_malformed_ids_are_missing_alike(
    user: Any, other_user: Any, which: str
) -> None:
    mine = avatar_row(user)
    upload_id = {
        "deleted": avatar_row(user, status=Upload.Status.DELETED).pk,
        "another user's": avatar_row(other_user).pk,
        "unknown": "6f1c2a4e-0000-4000-8000-000000000000",
        "malformed": "not-a-uuid",
    }[which]
    with transaction.atomic():
        assert locked_upload(user, mine.pk).pk == mine.pk
        with pytest.raises(exceptions.NotFound):
            locked_upload(user, upload_id)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_it_refuses_as_select_for_update_does(user: Any) -> None:
    require_postgres()
    upload = avatar_row(user)
    with transaction.atomic():
        locked_upload(user, upload.pk)  # compiled within one
    with pytest.raises(TransactionManagementError):
        locked_upload(user, upload.pk)


@pytest.mark.django_db(transaction=True)
def test_it_locks_the_uploads_row_alone_until_the_transaction_ends(user: Any) -> None:
    require_postgres()
    upload = avatar_row(user)
    settings = connection.settings_dict
    other = psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        password=settings["PASSWORD"] or None,
        autocommit=True,
    )

    def lockable(table: str, pk: Any) -> bool:
        try:
            with other.transaction():
                other.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE NOWAIT", [pk])
        except psycopg.errors.LockNotAvailable:
            return False
        return True

    try:
        with transaction.atomic():
            locked_upload(user, upload.pk)
            assert not lockable("uploads_upload", upload.pk)
            assert lockable("uploads_uploadpolicy", upload.policy_id)  # FOR UPDATE OF self
        assert lockable("uploads_upload", upload.pk)
    finally:
        other.close()
