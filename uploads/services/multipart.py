"""Multipart uploads: a large file sent as numbered parts straight to storage, assembled
there by complete, then verified and promoted as a single upload is.

Presign plans the parts (every part ``part_size`` bytes but the last) and starts the
provider's multipart upload at the staging key, or at the upload's own key where nothing can
write the assembled object (``assembles_at_key``): complete then verifies it there and needs
no copy. The client asks for URLs for a batch of parts at a time and may ask which parts
arrived (to resume after a crash). Complete believes only the storage's list of parts: each
planned part must be there with its planned size.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from uploads import content_types, exceptions
from uploads.models import Upload
from uploads.policies import Policy
from uploads.services.rejection import reason, reject
from uploads.services.signing import provider_errors, signer_for
from uploads.signers import PresignedUpload, Signer, StoredPart, UploadSpec
from uploads.types import User

#: The most part URLs one request may ask for.
MAX_PARTS_PER_REQUEST = 100
#: The most missing part numbers an error lists.
MAX_MISSING_LISTED = 50


@dataclass(frozen=True)
class SignedParts:
    upload: Upload
    parts: list[tuple[int, PresignedUpload]]
    expires_in: int


def assembles_at_key(policy: Policy, content_type: str, signer: Signer) -> bool:
    """Whether a multipart upload of this type and content type assembles at its own key,
    where its unverified bytes then lie until complete has verified them: only where no URL
    can write them there once assembled (``Signer.assembles_at_key``), and only for a private
    type (anyone reads a public one's key) with no checks before publication (nothing they
    refuse is ever at the key) and no image metadata to strip (complete writes the key anew).
    Other uploads assemble at their staging key, and complete copies the verified file."""
    return (
        signer.assembles_at_key
        and not policy.is_public
        and not policy.checks
        and not (policy.strip_metadata and content_types.pillow_format(content_type))
    )


def _multipart_upload(owner: User, upload_id: uuid.UUID | str) -> Upload:
    """The owner's pending multipart upload whose lifetime has not run out. A deleted one
    is refused like any other settled upload: the owner may know it existed."""
    try:
        upload = Upload.objects.select_related("policy").get(pk=upload_id, owner=owner)
    except (Upload.DoesNotExist, ValueError, ValidationError) as err:
        raise exceptions.NotFound() from err
    if not upload.is_multipart:
        raise exceptions.InvalidState(
            "This upload was not started as a multipart upload; send it with its uploadUrl.",
            vars={"status": upload.status},
        )
    if upload.status == Upload.Status.EXPIRED or (
        upload.status == Upload.Status.PENDING and timezone.now() >= upload.expires_at
    ):
        raise exceptions.Expired("The multipart upload expired before it was completed.")
    if upload.status != Upload.Status.PENDING:
        raise exceptions.InvalidState(
            f"The upload is {upload.status}.", vars={"status": upload.status}
        )
    return upload


def sign_parts(owner: User, upload_id: uuid.UUID | str, numbers: list[int]) -> SignedParts:
    """URLs for the parts ``numbers`` of the owner's multipart upload, each writing exactly
    its planned size, valid for the type's URL expiry (never past the upload's lifetime)."""
    upload = _multipart_upload(owner, upload_id)
    count = upload.part_count
    outside = sorted(n for n in set(numbers) if not 1 <= n <= count)
    if outside:
        raise exceptions.InvalidParts(
            f"This upload has parts 1 to {count}; there is no part {', '.join(map(str, outside))}.",
            vars={"partNumbers": outside, "partCount": count},
            details=[
                {
                    "field": "partNumbers",
                    "code": "out_of_range",
                    "message": f"Part {n} is not between 1 and {count}.",
                }
                for n in outside
            ],
        )
    now = timezone.now()
    expires_at = min(now + timedelta(seconds=upload.policy.expires_in), upload.expires_at)
    signer = signer_for(upload.storage)
    parts = []
    with provider_errors():
        for number in numbers:
            size = upload.planned_part_size(number)
            spec = UploadSpec(
                key=upload.multipart_key,
                content_type=upload.content_type,
                expires_at=expires_at,
                max_size=size,
                size=size,
                metadata={"upload-id": str(upload.pk), "owner": str(upload.owner_id)},
                public=upload.is_public,
                part_offset=upload.planned_part_offset(number),
            )
            parts.append((number, signer.presign_part(spec, upload.multipart_id, number, size)))
    return SignedParts(upload, parts, max(int((expires_at - now).total_seconds()), 0))


def stored_parts(owner: User, upload_id: uuid.UUID | str) -> tuple[Upload, list[StoredPart]]:
    """The owner's multipart upload and the parts its storage holds, by number."""
    upload = _multipart_upload(owner, upload_id)
    with provider_errors():
        parts = signer_for(upload.storage).list_parts(upload.multipart_key, upload.multipart_id)
    return upload, sorted(parts, key=lambda p: p.number)


def assemble(upload: Upload) -> exceptions.UploadError | None:
    """Assemble a locked pending multipart upload's parts (at ``upload.multipart_key``), from
    the storage's own list of them. Returns the error that stops complete: parts missing (the
    upload stays pending), or a part of the wrong size (the upload is rejected and its parts
    aborted). None once assembled, or when there is nothing to assemble: an assembly whose
    completion rolled back left its object, and an expired upload is settled as expired."""
    target = upload.multipart_key
    signer = signer_for(upload.storage)
    with provider_errors():
        listed = {part.number: part for part in signer.list_parts(target, upload.multipart_id)}
        if not listed and signer.stat(target) is not None:
            return None
    count = upload.part_count
    missing = [n for n in range(1, count + 1) if n not in listed]
    if missing:
        if timezone.now() >= upload.expires_at:
            return None
        return exceptions.PartsMissing(
            f"{len(missing)} of {count} parts have not arrived: send them, then complete.",
            vars={
                "missing": missing[:MAX_MISSING_LISTED],
                "missingCount": len(missing),
                "partCount": count,
            },
        )
    wrong = [
        reason(
            "size",
            f"Part {n} is {listed[n].size} bytes, not the planned {upload.planned_part_size(n)}.",
            upload.planned_part_size(n),
            listed[n].size,
        )
        for n in range(1, count + 1)
        if listed[n].size != upload.planned_part_size(n)
    ]
    if wrong:
        with provider_errors():
            signer.abort_multipart(target, upload.multipart_id)
        reject(upload, wrong)
        return exceptions.VerificationFailed(details=wrong)
    with provider_errors():
        signer.complete_multipart(
            target, upload.multipart_id, [listed[n] for n in range(1, count + 1)]
        )
    return None


def abort(storage: str, upload: Upload) -> None:
    """Release a multipart upload's parts (raises the services' errors)."""
    with provider_errors():
        signer_for(storage).abort_multipart(upload.multipart_key, upload.multipart_id)


def plan(upload: Upload) -> dict[str, Any]:
    return {"partSize": upload.part_size, "partCount": upload.part_count}
