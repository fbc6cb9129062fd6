"""Putting uploads to use: finding the caller's upload, making it ready for a field, and
the signed value a form posts for it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from django.core import signing

from uploads import exceptions
from uploads.models import Upload
from uploads.services.complete import complete_upload
from uploads.services.manage import get_upload, owned_uploads, public_url
from uploads.types import User

_FIELD_VALUE_SALT = "uploads.field-value"
_READY = "_uploads_ready_to_attach"


def find_upload(owner: User, ref: str, absolute: Callable[[str], str] = str) -> Upload:
    """The owner's upload named by its id, its key, or the publicUrl the server issued for
    it (made absolute by ``absolute``). Another user's upload is missing, like any other."""
    try:
        return get_upload(owner, uuid.UUID(ref))
    except ValueError:
        pass
    upload = owned_uploads(owner).filter(key=ref).first()
    if upload is not None:
        return upload
    # A publicUrl ends in the key, and keys end in "<upload id>.<ext>".
    name = PurePosixPath(urlsplit(ref).path).name
    upload = get_upload(owner, name.split(".", 1)[0])
    issued = public_url(upload)
    if not issued or absolute(issued) != ref:
        raise exceptions.NotFound()
    return upload


def ready_for(upload: Upload, types: Iterable[str]) -> Upload:
    """The upload, completed (a pending one is verified now, as complete would), provided
    it is of one of ``types``, and marked as given to whoever attaches it (an UploadField
    then hands it to the row's owner). Raises the refusal otherwise."""
    allowed = list(types)
    name = upload.policy.name
    if name not in allowed:
        raise exceptions.InvalidState(
            f"Only {' or '.join(allowed)} uploads fit here; this one is {name}.",
            vars={"type": name, "expected": allowed},
        )
    if upload.status == Upload.Status.PENDING:
        upload = complete_upload(upload.owner, upload.pk)  # raises for every other outcome
    if upload.status != Upload.Status.COMPLETED:
        raise exceptions.InvalidState(
            f"The upload is {upload.status}.", vars={"status": upload.status}
        )
    upload.__dict__[_READY] = True
    return upload


def is_ready(upload: Upload) -> bool:
    """Whether this Upload object came from ready_for: whoever holds it may attach it to
    another user's row, which then owns it."""
    return bool(upload.__dict__.get(_READY))


def field_value(upload_id: uuid.UUID | str) -> str:
    """What a form's upload input carries: the upload id, signed. Only the API's answers to
    the upload's owner (and forms already showing it) hand it out, so a form that gets one
    back knows the poster was given the upload, not merely that they learnt its id."""
    return signing.Signer(salt=_FIELD_VALUE_SALT).sign(str(upload_id))


def upload_id_from_field_value(value: str) -> uuid.UUID | None:
    """The upload id of a field value; None for anything the server did not sign."""
    try:
        return uuid.UUID(signing.Signer(salt=_FIELD_VALUE_SALT).unsign(value))
    except (signing.BadSignature, ValueError):
        return None
