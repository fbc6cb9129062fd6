"""The rules every model field that holds uploads keeps (``UploadField``, ``UploadsField``):
which uploads fit, and whose upload a row may take."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models

from uploads import exceptions as upload_errors
from uploads import references
from uploads.models import Upload

Types = Sequence[str] | Callable[[], Sequence[str]]
Owner = str | Callable[[Any], Any] | None


def resolve_types(types: Types) -> list[str]:
    return list(types() if callable(types) else types)


def check_attachable(upload: Upload | None, types: list[str]) -> None:
    """Refuse a missing or deleted upload, one not completed, or one of none of ``types``."""
    if upload is None or upload.status == Upload.Status.DELETED:
        raise upload_errors.NotFound()
    if upload.status != Upload.Status.COMPLETED:
        raise upload_errors.InvalidState(
            f"The upload is {upload.status}, not completed.", vars={"status": upload.status}
        )
    name = upload.policy.name
    if name not in types:
        raise upload_errors.InvalidState(
            f"Only {' or '.join(types)} uploads fit here; this one is {name}.",
            vars={"type": name, "expected": types},
        )


class RowOwned:
    """Mixed into a model field with ``types`` and ``owner_field``: whose uploads its row
    may hold."""

    owner_field: Owner

    def owner_id_of(self, instance: models.Model) -> tuple[bool, Any]:
        """(whether the row has an owner, its id: None for a user not saved yet)."""
        if callable(self.owner_field):
            owner = self.owner_field(instance)
            return True, getattr(owner, "pk", owner)
        if isinstance(self.owner_field, str):
            owner_field = instance._meta.get_field(self.owner_field)
            assert isinstance(owner_field, models.ForeignKey)  # uploads.E006 otherwise
            return True, getattr(instance, owner_field.attname)
        if isinstance(instance, get_user_model()):
            return True, instance.pk
        return False, None

    def check_owner(self, instance: models.Model, upload: Upload, *, given: bool) -> bool:
        """Refuse another user's upload that was not ``given`` to whoever attaches it;
        returns whether it moves to the row's owner once saved."""
        has_owner, owner_id = self.owner_id_of(instance)
        if not has_owner or upload.owner_id == owner_id:
            return False
        # Another user's upload moves to the row's owner only when whoever attaches it was
        # given it: the form field (a value issued to its poster, for the poster's own
        # upload) and the serializer field (the caller's own upload) say so through
        # ready_for(). An id alone, as a plain ModelSerializer's PrimaryKeyRelatedField
        # posts, is refused; so is a form's current upload posted in another row's form.
        if not given:
            raise upload_errors.InvalidState(
                "The upload belongs to another user: only they can attach it here.",
                vars={"status": upload.status},
            )
        if references.is_referenced(upload.pk):
            raise upload_errors.InvalidState(
                "The upload is in use by another owner's row.", vars={"status": upload.status}
            )
        return True
