"""Putting uploads to use: finding the caller's upload, making it ready for a field, and
the signed value a form posts for it (issued to one user, for a while)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from django.core import signing

from uploads import exceptions, signed_values
from uploads.app_settings import app_settings
from uploads.models import Upload
from uploads.services.complete import complete_upload
from uploads.services.manage import get_upload, owned_uploads, public_url
from uploads.types import User

# Not the salt of the unbound values before: those are refused like any forgery.
_FIELD_VALUE_SALT = "uploads.field-value.issued"
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


def check_fits(upload: Upload, types: Iterable[str]) -> None:
    """Refuse an upload of none of ``types``."""
    allowed = list(types)
    name = upload.policy.name
    if name not in allowed:
        raise exceptions.InvalidState(
            f"Only {' or '.join(allowed)} uploads fit here; this one is {name}.",
            vars={"type": name, "expected": allowed},
        )


def check_completed(upload: Upload) -> None:
    if upload.status != Upload.Status.COMPLETED:
        raise exceptions.InvalidState(
            f"The upload is {upload.status}.", vars={"status": upload.status}
        )


def ready_for(upload: Upload, types: Iterable[str]) -> Upload:
    """The upload, completed (a pending one is verified now, as complete would), provided
    it is of one of ``types``, and marked as given to whoever attaches it (an UploadField
    then hands it to the row's owner). Raises the refusal otherwise. Call it only for an
    upload its owner attaches."""
    check_fits(upload, types)
    if upload.status == Upload.Status.PENDING:
        upload = complete_upload(upload.owner, upload.pk)  # raises for every other outcome
    check_completed(upload)
    upload.__dict__[_READY] = True
    return upload


def is_ready(upload: Upload) -> bool:
    """Whether this Upload object came from ready_for: whoever holds it may attach it to
    another user's row, which then owns it."""
    return bool(upload.__dict__.get(_READY))


@dataclass(frozen=True)
class FieldValue:
    """What a signed field value says: the upload, the user it was issued to (their pk as a
    string; "" for nobody), and whether it is older than FIELD_VALUE_MAX_AGE."""

    upload_id: uuid.UUID
    issued_to: str
    expired: bool

    def issued_to_user(self, user: User | None) -> bool:
        return user is not None and user.pk is not None and self.issued_to == str(user.pk)


def field_value(upload_id: uuid.UUID | str, user: User | None) -> str:
    """What a form's upload input carries: the upload id and the user it is issued to,
    signed with the time. A form takes it back only from that user, within
    UPLOADS["FIELD_VALUE_MAX_AGE"]. Only the API's answers to a caller who may write uploads
    (for their own uploads) and forms shown to a user (for the upload they show) issue one.

    ``TimestampSigner(salt=...).sign_object`` reads it back."""
    issued_to = "" if user is None or user.pk is None else str(user.pk)
    return signed_values.dumps({"upload": str(upload_id), "user": issued_to}, _FIELD_VALUE_SALT)


def read_field_value(value: str) -> FieldValue | None:
    """What a field value says; None for anything the server did not sign."""
    signer = signing.TimestampSigner(salt=_FIELD_VALUE_SALT)
    expired = False
    try:
        data = signer.unsign_object(value, max_age=app_settings.FIELD_VALUE_MAX_AGE)
    except signing.SignatureExpired:
        expired = True
        data = signer.unsign_object(value)  # genuine, only old
    except (signing.BadSignature, ValueError):
        return None
    try:
        return FieldValue(uuid.UUID(data["upload"]), str(data["user"]), expired)
    except (TypeError, KeyError, ValueError):
        return None
