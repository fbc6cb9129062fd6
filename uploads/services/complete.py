from __future__ import annotations

import base64
import copy
import hashlib
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from uploads import content_types, exceptions, keys
from uploads.app_settings import app_settings
from uploads.facts import Facts
from uploads.models import Upload
from uploads.policies import declared_variants
from uploads.reencode import ReencodeError, strip_metadata
from uploads.services import lease
from uploads.services.describe import FACT_FIELDS, describe, record
from uploads.services.file_checks import REFUSED, ChecksUnavailable, run_checks
from uploads.services.locked_read import locked_row
from uploads.services.multipart import assemble
from uploads.services.promote import promote, write
from uploads.services.rejection import reason, reject
from uploads.services.signing import provider_errors, signer_for
from uploads.signals import send_on_commit, upload_completed
from uploads.signers import SourceChanged, StoredObject
from uploads.signers.deadline import carried
from uploads.types import User


def locked_upload(owner: User, upload_id: uuid.UUID | str) -> Upload:
    """The owner's upload, row-locked until the transaction ends, with its policy and the
    upload types' revision (``Upload.policy_revision``) read in the same query, only the
    upload's row locked, and its type's variants as of that revision. Deleted ones and other
    users' ones are missing alike."""
    upload = locked_row(owner, upload_id)
    upload.declared_variants = declared_variants(upload)  # of that revision
    return upload


def complete_upload(owner: User, upload_id: uuid.UUID | str) -> Upload:
    """Verify the stored object against the upload and settle its status.

    Completing a completed upload returns it unchanged. A mismatch deletes the object,
    marks the upload rejected and raises VerificationFailed. A large file (and every
    multipart upload) is returned ``verifying``: a background task settles it.
    """
    with transaction.atomic():
        upload = locked_upload(owner, upload_id)
        error = settle(upload)
    if error:
        raise error
    return upload


def settle(upload: Upload) -> exceptions.UploadError | None:
    """Complete, reject or expire a row-locked upload by what storage holds, or hand it to
    the background task (``verifying``). Returns the error to raise once the transaction
    has committed the new status."""
    if upload.status in (Upload.Status.COMPLETED, Upload.Status.VERIFYING):
        return None
    if upload.status == Upload.Status.EXPIRED:
        return exceptions.Expired()
    if upload.status != Upload.Status.PENDING:
        return exceptions.InvalidState(
            f"The upload is {upload.status}.", vars={"status": upload.status}
        )
    if upload.is_multipart:
        error = assemble(upload)
        if error:
            return error
    if in_background(upload):
        defer(upload)
        return None
    try:
        outcome = examine(upload)
    except ChecksUnavailable:
        wait_for_checks(upload)
        return None
    if outcome is None:
        if timezone.now() < upload.expires_at:
            return exceptions.NotUploaded()
        upload.status = Upload.Status.EXPIRED
        upload.save(update_fields=["status", "updated_at"])
        return exceptions.Expired()
    return finish(upload, *outcome)


def in_background(upload: Upload) -> bool:
    """Whether the staged object is large enough to verify outside the request: every
    multipart upload is, and any file over ``VERIFY_IN_BACKGROUND_ABOVE``."""
    if upload.is_multipart and timezone.now() < upload.expires_at:
        return True  # assembled just now (or by a completion that rolled back)
    size = upload.size
    if upload.is_multipart or size is None:
        where = upload.multipart_key if upload.is_multipart else keys.staging_key(upload.key)
        with provider_errors():
            stored = signer_for(upload.storage).stat(where)
        if stored is None:
            return False  # nothing there (an expired plan): complete answers that at once
        size = stored.size
    return upload.is_multipart or size > app_settings.VERIFY_IN_BACKGROUND_ABOVE


#: Sent once an upload was marked ``verifying`` and that committed, with ``upload_id`` (and
#: ``run_after``, the next try of checks that could not decide): uploads.tasks enqueues its
#: verification (connected there, so that the task, which runs verify_deferred, stays
#: downhill of this module).
verification_requested = Signal()


def defer(upload: Upload) -> None:
    """Mark a locked upload ``verifying`` and have its verification enqueued once that
    commits (a worker must not find it pending)."""
    upload.status = Upload.Status.VERIFYING
    upload.save(update_fields=["status", "updated_at"])
    upload_id = str(upload.pk)
    transaction.on_commit(lambda: verification_requested.send(sender=Upload, upload_id=upload_id))


def wait_for_checks(upload: Upload) -> None:
    """A check could not decide on a locked upload within its request: mark it
    ``verifying``, held until its next try (``lease.retry_at``), which the background
    does."""
    upload.status = Upload.Status.VERIFYING
    upload.check_retries += 1
    upload.verify_lease_until = until = lease.retry_at(upload.check_retries)
    upload.save(update_fields=["status", "check_retries", "verify_lease_until", "updated_at"])
    upload_id = str(upload.pk)
    transaction.on_commit(
        lambda: verification_requested.send(sender=Upload, upload_id=upload_id, run_after=until)
    )


def verify_deferred(upload_id: uuid.UUID | str) -> str:
    """Settle a ``verifying`` upload: read, hash and promote its object holding no row lock
    (for gigabytes that takes a while), then lock the row only to record the outcome and
    send the signal, exactly as complete does. The run claims the upload first and holds a
    lease on it meanwhile (uploads.services.lease): only the run holding it settles it.
    Returns the upload's status after, "missing" when it is not verifying, "held" when
    another run holds it, "superseded" when this run lost it. A storage that fails raises,
    leaving the upload verifying: once the lease lapses, uploads_cleanup enqueues a new run.
    A check that cannot decide now leaves it verifying too, the lease held until its next
    try (with a backend that defers tasks, one is enqueued for then)."""
    attempt = lease.claim(upload_id)
    if attempt is None:
        held = Upload.objects.filter(pk=upload_id, status=Upload.Status.VERIFYING).exists()
        return "held" if held else "missing"
    upload = Upload.objects.select_related("policy").get(pk=upload_id)
    try:
        with lease.Heartbeat(upload_id, attempt) as beat:
            if upload.assembles_at_key:
                outcome = in_place(upload)
            else:
                # None: nothing staged, as when an earlier run promoted it and then failed.
                outcome = examine(upload, before_promote=beat.check) or at_key(upload)
            beat.check()
    except lease.LeaseLost:
        return "superseded"
    except ChecksUnavailable:
        until = lease.postpone(upload_id, attempt)
        if until is None:
            return "superseded"
        verification_requested.send(sender=Upload, upload_id=str(upload_id), run_after=until)
        return Upload.Status.VERIFYING
    with transaction.atomic():
        locked = Upload.objects.select_for_update().filter(pk=upload_id).first()
        if locked is None:
            return "missing"
        if locked.status == Upload.Status.DELETED:
            # Deleted while it was checked: the copy made meanwhile goes too.
            with provider_errors():
                signer_for(locked.storage).delete(locked.key)
            return locked.status
        if locked.status != Upload.Status.VERIFYING:
            return locked.status  # settled by another run meanwhile
        if locked.verify_attempt != attempt:
            return "superseded"  # its lease lapsed, and another run has it now
        finish(locked, *outcome)
    return locked.status


Outcome = tuple[StoredObject | None, list[dict[str, Any]], Facts]


def examine(upload: Upload, before_promote: Callable[[], None] | None = None) -> Outcome | None:
    """Verify the staged object, run its type's checks on it (ChecksUnavailable when one
    cannot decide now), then put it at the upload's key (the bytes read, when small enough;
    else copied and checked there again; or re-encoded without its metadata). No database
    writes. None when nothing is staged; else the object as it lies at the key, every
    reason to refuse it and, when there is none, what the file is (its size in pixels,
    pages, duration...).
    ``before_promote`` runs once the object is verified, before it is put at the key (and
    may raise to stop that)."""
    found = _examine(upload, before_promote)
    return None if found is None else described(upload, *found)


def _examine(
    upload: Upload, before_promote: Callable[[], None] | None
) -> tuple[StoredObject | None, list[dict[str, Any]], bytes | None] | None:
    """``examine`` but for the facts; with the bytes now at the key where they were read."""
    staging = staged(upload)
    stored, reasons, whole = _verify(staging)
    if stored is None:
        return None
    if not reasons:
        # The type's own checks, on the bytes still in staging: nothing refused is ever
        # at the key. Raises ChecksUnavailable when one cannot decide now.
        reasons = run_checks(staging, stored, whole)
    if not reasons and before_promote is not None:
        before_promote()
    if reasons:
        return stored, reasons, whole
    rewritten, problem = stripped(upload, whole)
    if problem:
        return stored, [reason("contentType", problem, upload.content_type, None)], whole
    if rewritten is not None:
        return _written(upload, rewritten), [], rewritten
    if whole is not None and len(whole) <= app_settings.WRITE_VERIFIED_UP_TO:
        # The very bytes verified, sent with their sha256 (which the storage checks): the
        # key holds them whatever became of the staging object, with no copy to read back.
        # _verify hashed ``whole`` for ``stored``: not hashed again to be sent.
        write(upload, whole, stored.sha256 or _sha256(whole))
        return stored, [], whole
    if whole is not None:
        return (*promoted(upload, stored, whole), whole)
    try:
        promote(upload, stored)
    except SourceChanged:
        return stored, [changed(None, None)], None
    # Checked again where it now lies, for good: only its head was read in staging, and a
    # storage that cannot pin the copy may have copied another version (a re-posted S3 form).
    stored, reasons = verify_stored_object(upload)
    return (*hashed(upload, stored, reasons), None)


def promoted(
    upload: Upload, stored: StoredObject, whole: bytes
) -> tuple[StoredObject | None, list[dict[str, Any]]]:
    """Copy an object read whole in staging (``stored``) to the key, and prove the key holds
    those very bytes: by the sha256 the storage computed for the copy, else by reading the
    key back. Other bytes there, however valid, are not the file that was verified."""
    expected = _sha256(whole)
    try:
        copied = promote(upload, stored)
    except SourceChanged:
        return stored, [changed(expected, None)]
    if copied is None:
        with provider_errors():
            found = signer_for(upload.storage).read_object(upload.key, stored.size)
        if found is None:
            return None, []  # gone meanwhile: "vanished while it was copied"
        at_key, data = found
        copied = _sha256(data) if len(data) == at_key.size else None
    if copied != expected:
        return stored, [changed(expected, copied)]
    return replace(stored, sha256=expected), []


def changed(expected: str | None, actual: str | None) -> dict[str, Any]:
    return reason("sha256", "The file changed while it was verified.", expected, actual)


def at_key(upload: Upload) -> Outcome:
    """``examine`` for an object already promoted to the upload's key."""
    stored, reasons, whole = _verify(upload)
    return described(upload, *hashed(upload, stored, reasons), whole)


def in_place(upload: Upload) -> Outcome:
    """``examine`` for a multipart upload assembled at its key (``assembles_at_key``), which
    no URL can write since: verified where it lies, with no copy. Its type had no checks
    before publication nor metadata to strip when it was presigned; any it has gained since
    apply here all the same (on bytes at a private key that nothing serves until it
    completes). A video is probed while it is hashed: the same bytes, read twice at once."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        probing = None
        size = upload.size
        # Not ahead of a check the type gained since presign: ffprobe reads only what passed.
        if content_types.probe_format(upload.content_type) and size and not upload.policy.checks:
            # Within the request's storage deadline, as it would be in this thread.
            probing = pool.submit(carried(lambda u: describe(u, size, None)), upload)
        stored, reasons, whole = _in_place(upload)
        if probing is None or stored is None or reasons:
            return described(upload, stored, reasons, whole)
        return stored, reasons, probing.result()


def _in_place(
    upload: Upload,
) -> tuple[StoredObject | None, list[dict[str, Any]], bytes | None]:
    """``in_place`` but for the facts."""
    stored, reasons, whole = _verify(upload)
    if stored is not None and not reasons:
        reasons = run_checks(upload, stored)
    if stored is not None and not reasons:
        rewritten, problem = stripped(upload, whole)
        if problem:
            reasons = [reason("contentType", problem, upload.content_type, None)]
        elif rewritten is not None:
            stored, whole = _written(upload, rewritten), rewritten
    return (*hashed(upload, stored, reasons), whole)


def described(
    upload: Upload, stored: StoredObject | None, reasons: list[dict[str, Any]], whole: bytes | None
) -> Outcome:
    """The accepted object's facts added to the outcome (none for a refused one)."""
    if stored is None or reasons:
        return stored, reasons, Facts()
    return stored, reasons, describe(upload, stored.size, whole)


def hashed(
    upload: Upload, stored: StoredObject | None, reasons: list[dict[str, Any]]
) -> tuple[StoredObject | None, list[dict[str, Any]]]:
    """The accepted object with its sha256, hashed where the storage keeps none."""
    if stored is not None and not reasons and not stored.sha256:
        with provider_errors():
            stored = replace(stored, sha256=signer_for(upload.storage).compute_sha256(upload.key))
    return stored, reasons


#: What ``finish`` sets on a completed upload: its UPDATE writes these alone.
COMPLETED_FIELDS = (
    "status",
    "verified_size",
    "verified_content_type",
    "verified_sha256",
    "completed_at",
    "verify_lease_until",
    "updated_at",
    *FACT_FIELDS,
)


def finish(
    upload: Upload, stored: StoredObject | None, reasons: list[dict[str, Any]], facts: Facts
) -> exceptions.UploadError | None:
    """Record what ``examine`` found on a locked upload: completed, or rejected with its
    objects deleted; the signal goes once that commits."""
    if stored is None or reasons:
        reasons = reasons or [
            reason("object", "The file vanished while it was copied.", None, None)
        ]
        reject(upload, reasons)
        # A check's reason is the answer's message: what the uploader (and the widget) shows.
        refused = [r["message"] for r in reasons if r.get("code") == REFUSED]
        return exceptions.VerificationFailed(refused[0] if refused else None, details=reasons)
    upload.status = Upload.Status.COMPLETED
    upload.verified_size = stored.size
    upload.verified_content_type = upload.content_type
    upload.verified_sha256 = stored.sha256 or ""
    record(upload, facts)
    upload.completed_at = timezone.now()
    upload.verify_lease_until = None  # a background run's lease ends with it
    upload.save(update_fields=COMPLETED_FIELDS)
    send_on_commit(upload_completed, Upload, upload=upload)
    return None


def staged(upload: Upload) -> Upload:
    """The upload as it stands before complete: its object at the staging key, where the
    signed URL wrote. A copy for reading only (verify_stored_object reads ``upload.key``)."""
    _ = upload.policy  # loaded before the copy, which then shares it: one query for both
    view = copy.copy(upload)
    view.key = keys.staging_key(upload.key)
    return view


def stripped(upload: Upload, whole: bytes | None) -> tuple[bytes | None, str | None]:
    """The verified image re-encoded without its metadata, when its type asks for that
    (None for other types and files), or why it cannot be."""
    fmt = content_types.pillow_format(upload.content_type)
    if not upload.policy.strip_metadata or fmt is None or whole is None:
        return None, None
    try:
        return strip_metadata(whole, fmt, upload.policy.max_pixels), None
    except ReencodeError as err:
        return None, str(err)


def as_completed(upload: Upload) -> Upload:
    """A completed upload as its key must still hold it: the verified size and sha256
    (those of the re-encoded image for a type that strips metadata) in place of the
    declared ones. A copy for reading only."""
    view = copy.copy(upload)
    if upload.size is not None and upload.verified_size is not None:
        view.size = upload.verified_size
    if upload.sha256 and upload.verified_sha256:
        view.sha256 = upload.verified_sha256
    return view


def verify_and_read(
    upload: Upload,
) -> tuple[StoredObject | None, list[dict[str, Any]], bytes | None]:
    """``verify_stored_object``, and the whole object where it was read (images, JSON)."""
    return _verify(upload)


def verify_stored_object(upload: Upload) -> tuple[StoredObject | None, list[dict[str, Any]]]:
    """The stored object's facts and every way they contradict the upload.

    Only the storage is believed: the declared size, type and sha256 are what the object
    is checked against, never evidence of what it is.
    """
    stored, reasons, _ = _verify(upload)
    return stored, reasons


def _verify(
    upload: Upload,
) -> tuple[StoredObject | None, list[dict[str, Any]], bytes | None]:
    """``verify_stored_object``, and the whole object when it was read (images, JSON, and
    anything no longer than its head): its facts and bytes come from one read."""
    signer = signer_for(upload.storage)
    whole = None
    with provider_errors():
        found = signer.read_object(upload.key, read_length(upload))
        if found is None:
            return None, [], None
        stored, data = found
        reasons = []
        if upload.size is not None and stored.size != upload.size:
            reasons.append(
                reason(
                    "size",
                    f"The file is {stored.size} bytes, not the declared {upload.size}.",
                    upload.size,
                    stored.size,
                )
            )
        elif stored.size > upload.max_size:
            reasons.append(
                reason(
                    "size",
                    f"The file is {stored.size} bytes, over the {upload.max_size}-byte limit.",
                    upload.max_size,
                    stored.size,
                )
            )
        elif stored.size == 0:
            reasons.append(reason("size", "The file is empty.", None, 0))
        if reasons:
            # Refused already: reading (or hashing) an object of the wrong size, perhaps
            # far over the cap, would only tie up this worker.
            return stored, reasons, None
        if (
            stored.content_type
            and content_types.normalise(stored.content_type) != upload.content_type
        ):
            reasons.append(
                reason(
                    "contentType",
                    f"The file was stored as {stored.content_type}, not {upload.content_type}.",
                    upload.content_type,
                    stored.content_type,
                )
            )
        if not content_types.bytes_match(upload.content_type, data[: app_settings.SNIFF_BYTES]):
            reasons.append(
                reason(
                    "contentType",
                    f"The file's bytes are not {upload.content_type}.",
                    upload.content_type,
                    None,
                )
            )
        else:
            whole, problem = _inspect(upload, stored.size, data)
            if problem:
                reasons.append(reason("contentType", problem, upload.content_type, None))
        if whole is not None:
            stored = replace(stored, sha256=_sha256(whole))
        if upload.sha256:
            actual = stored.sha256 or signer.compute_sha256(upload.key)
            if actual != upload.sha256:
                reasons.append(
                    reason(
                        "sha256",
                        "The file's sha256 differs from the declared one.",
                        upload.sha256,
                        actual,
                    )
                )
            else:
                stored = replace(stored, sha256=actual)
    return stored, reasons, None if reasons else whole


def read_length(upload: Upload) -> int:
    """How much of the object complete reads: a type it decodes or parses whole, up to what
    the upload may hold (so that an object of the wrong size is not read far past it), else
    its head. An object no longer than that is read whole, in the same call."""
    sniff = app_settings.SNIFF_BYTES
    if not content_types.reads_whole(upload.content_type):
        return sniff
    allowed = upload.size if upload.size is not None else upload.max_size
    return max(sniff, min(app_settings.VERIFY_READ_LIMIT, allowed))


def _inspect(upload: Upload, size: int, data: bytes) -> tuple[bytes | None, str | None]:
    """Decode or parse the object as its type demands (``data`` being its first bytes);
    returns the whole object when it was read and why its bytes are refused, if they are."""
    mime = upload.content_type
    whole = data if len(data) >= size else None
    if content_types.reads_whole(mime):
        limit = app_settings.VERIFY_READ_LIMIT
        if whole is None or size > limit:
            return (
                None,
                f"The file is {size} bytes; {mime} files over {limit} bytes cannot be verified.",
            )
        data = whole
    return whole, content_types.content_problem(mime, data, max_pixels=upload.policy.max_pixels)


def _written(upload: Upload, data: bytes) -> StoredObject:
    """The server's own bytes (an image re-encoded) written to the key with their sha256,
    which the storage checks: what the key now holds."""
    digest = _sha256(data)
    write(upload, data, digest)
    return StoredObject(len(data), upload.content_type, digest)


def _sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()
