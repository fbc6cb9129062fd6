"""Which rows use an upload, and letting it go once none does.

Every ``uploads.fields.UploadField`` and every entry of an ``uploads.list_fields.UploadsField``
of every installed model counts as a use. An upload in use cannot be deleted
(``upload_deleting`` is vetoed); when its last use goes, ``release`` deletes it: the row is
marked deleted inside the caller's transaction and the object is removed once that commits, so
that no row ever points at a missing object. An object whose removal fails then is left to
``uploads_cleanup``, which clears the keys of deleted uploads.
"""

from __future__ import annotations

import uuid
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from django.apps import apps
from django.db import transaction

from uploads import exceptions
from uploads.models import Upload
from uploads.signals import upload_deleting

if TYPE_CHECKING:
    from django.db.models import Model

    from uploads.fields import UploadField


class HoldsUploads:
    """The mark of a model field whose value is an upload in use (``UploadField``), or whose
    values are (``UploadsField``), found here without importing the modules that define them
    (which import this one). Filtering a model by the field's ``attname`` finds the rows
    holding an upload, for either kind."""


@cache
def upload_fields() -> tuple[tuple[type[Model], UploadField], ...]:
    """Every (model, field) pair of an UploadField or UploadsField on an installed, concrete
    model."""
    return tuple(
        (model, cast("UploadField", field))
        for model in apps.get_models()
        for field in [*model._meta.local_fields, *model._meta.local_many_to_many]
        if isinstance(field, HoldsUploads)
    )


def used_by(upload_id: uuid.UUID | str, *, limit: int | None = None) -> list[tuple[Model, str]]:
    """The rows that use the upload, each with the name of its field: (row, field name)."""
    rows: list[tuple[Model, str]] = []
    for model, field in upload_fields():
        found = model._base_manager.filter(**{field.attname: upload_id})
        rows += [(row, field.name) for row in (found[:limit] if limit else found)]
    return rows


def is_referenced(upload_id: uuid.UUID | str) -> bool:
    return any(
        model._base_manager.filter(**{field.attname: upload_id}).exists()
        for model, field in upload_fields()
    )


def describe_uses(upload_id: uuid.UUID | str) -> list[str]:
    """Such as ``["user avatar"]``: the kinds of row that use the upload, for messages."""
    uses = []
    for model, field in upload_fields():
        if model._base_manager.filter(**{field.attname: upload_id}).exists():
            uses.append(f"{model._meta.verbose_name} {field.verbose_name}")
    return uses


def veto_deleting_used_upload(upload: Upload, **kwargs: Any) -> None:
    """Receiver of ``upload_deleting``: an upload that a row uses stays."""
    uses = describe_uses(upload.pk)
    if uses:
        raise exceptions.InvalidState(
            f"The upload is in use ({', '.join(uses)}): remove it there first.",
            vars={"usedBy": uses},
        )


def release(upload_id: uuid.UUID | str | None) -> bool:
    """Delete the upload unless a row still uses it; call it once a reference is gone.
    Returns whether it was deleted. The object goes when the transaction commits."""
    if upload_id is None:
        return False
    with transaction.atomic():
        # Locked before counting: two transactions each dropping one of the last two
        # references would otherwise each still see the other's, and keep the upload.
        upload = (
            Upload.objects.select_for_update()
            .exclude(status=Upload.Status.DELETED)
            .filter(pk=upload_id)
            .first()
        )
        if upload is None:
            return False
        try:
            # Vetoed by veto_deleting_used_upload while a row uses it, and perhaps by the
            # host's own receivers.
            upload_deleting.send(sender=Upload, upload=upload)
        except exceptions.InvalidState:
            return False
        from uploads.services.manage import mark_deleted

        mark_deleted(upload)
    return True
