"""Making an upload's declared variants and recording them.

Each is made from the verified bytes (read back from the upload's key and checked against
its recorded sha256), written beside the original through the same signer with the server's
headers, and recorded under the upload's row lock. Records say which declaration (its
digest) they were made from; a changed declaration leaves them stale until rebuilt. Running
twice, even at once, is safe: the keys depend only on the upload and the declaration, the
bytes only on both, and only a run whose declaration is still current records its work.
A variant that cannot be made is logged and recorded as failed; the upload stays as it is.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet

from uploads import content_types, exceptions, keys
from uploads.app_settings import app_settings
from uploads.models import Upload, UploadPolicy, Variant, VariantSpec
from uploads.policies import declared_variants
from uploads.services.signing import provider_errors, signer_for
from uploads.signals import send_on_commit, variants_made
from uploads.signers import ObjectHeaders
from uploads.variant_images import Recipe, Rendered, VariantError, extension_of, render

logger = logging.getLogger("uploads")


@dataclass(frozen=True)
class Outcome:
    spec: VariantSpec
    key: str = ""
    rendered: Rendered | None = None
    error: str = ""


def has_variants(upload: Upload) -> bool:
    """Whether the upload is a completed image whose type declares variants."""
    return (
        upload.status == Upload.Status.COMPLETED
        and content_types.pillow_format(upload.verified_content_type or upload.content_type)
        is not None
        and bool(declared_variants(upload))
    )


def is_current(record: Variant | None, spec: VariantSpec) -> bool:
    return (
        record is not None
        and record.status == Variant.Status.READY
        and (record.digest == spec.digest)
    )


def make_variants(upload_id: uuid.UUID | str, *, rebuild: bool = False) -> list[str]:
    """Make the upload's missing, failed and stale variants (every one with ``rebuild``),
    store and record them, and drop those of names no longer declared. Returns the names
    made; nothing for an upload that is not a completed image."""
    upload = Upload.objects.select_related("policy").filter(pk=upload_id).first()
    if upload is None or upload.status != Upload.Status.COMPLETED:
        return []
    pillow_format = content_types.pillow_format(upload.verified_content_type or upload.content_type)
    specs = list(upload.policy.variant_specs.all())
    records = {r.name: r for r in upload.variant_records.all()}
    todo = [s for s in specs if rebuild or not is_current(records.get(s.name), s)]
    undeclared = set(records) - {s.name for s in specs}
    if pillow_format is None or not (todo or undeclared):
        return []
    outcomes = []
    if todo:
        data, problem = verified_bytes(upload)
        for spec in todo:
            outcomes.append(
                Outcome(spec, error=problem)
                if problem
                else _made(upload, spec, data, pillow_format)
            )
    made = record(upload.pk, outcomes, rebuild=rebuild)
    if made:
        logger.info("Made variants %s of upload %s", made, upload.pk)
    return made


def verified_bytes(upload: Upload) -> tuple[bytes, str]:
    """The upload's bytes, read from its key, and "" when they are the verified ones; else
    b"" and why they cannot be used."""
    limit = app_settings.VERIFY_READ_LIMIT
    if upload.verified_size is not None and upload.verified_size > limit:
        return b"", f"The image is larger than UPLOADS['VERIFY_READ_LIMIT'] ({limit} bytes)."
    try:
        with provider_errors():
            data = signer_for(upload.storage).read_head(upload.key, limit + 1)
    except exceptions.UploadError as err:
        logger.warning("Could not read upload %s for its variants", upload.pk, exc_info=True)
        return b"", f"The storage could not be read ({err.message})."
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    if upload.verified_sha256 and digest != upload.verified_sha256:
        logger.error("Upload %s no longer holds its verified bytes", upload.pk)
        return b"", "The stored file is not the one verified (its sha256 differs)."
    return data, ""


def _made(upload: Upload, spec: VariantSpec, data: bytes, pillow_format: str) -> Outcome:
    recipe = Recipe(spec.width, spec.height, spec.fit, spec.format, spec.quality)
    try:
        rendered = render(data, pillow_format, recipe, upload.policy.max_pixels)
    except VariantError as err:
        logger.warning("Variant %s of upload %s not made: %s", spec.name, upload.pk, err)
        return Outcome(spec, error=str(err))
    key = keys.variant_key(upload.key, spec.name, spec.digest, extension_of(spec.format))
    try:
        with provider_errors():
            signer_for(upload.storage).write(key, rendered.data, headers(upload, rendered))
    except exceptions.UploadError as err:
        logger.warning("Variant %s of upload %s not stored", spec.name, upload.pk, exc_info=True)
        return Outcome(spec, error=f"The storage refused the variant ({err.message}).")
    return Outcome(spec, key, rendered)


def headers(upload: Upload, rendered: Rendered) -> ObjectHeaders:
    cache = app_settings.CACHE_CONTROL
    return ObjectHeaders(
        content_type=rendered.content_type,
        content_disposition="inline",
        cache_control=f"{'public' if upload.is_public else 'private'}, {cache}" if cache else None,
        metadata={"upload-id": str(upload.pk), "owner": str(upload.owner_id)},
    )


def record(upload_id: uuid.UUID, outcomes: list[Outcome], *, rebuild: bool = False) -> list[str]:
    """Record the outcomes under the upload's row lock; the objects they replace (and any
    written for an upload deleted or rejected meanwhile, or for a declaration changed
    meanwhile) go once that commits. A variant that another run recorded meanwhile is left
    as it is, unless this run rebuilds. Returns the names recorded as made."""
    obsolete: list[str] = []
    made: list[str] = []
    with transaction.atomic():
        # Only the upload's row: locking its policy's too would queue every type's variants.
        of = ("self",) if connection.features.has_select_for_update_of else ()
        upload = Upload.objects.select_for_update(of=of).select_related("policy").get(pk=upload_id)
        written = [o.key for o in outcomes if o.key]
        if upload.status != Upload.Status.COMPLETED:
            _delete_after_commit(upload.storage, written)
            return []
        current = {s.name: s for s in upload.policy.variant_specs.all()}
        records = {r.name: r for r in upload.variant_records.all()}
        for outcome in outcomes:
            spec = current.get(outcome.spec.name)
            old = records.get(outcome.spec.name)
            if spec is None or spec.digest != outcome.spec.digest:
                obsolete.extend([outcome.key] if outcome.key else [])  # redeclared meanwhile
                continue
            if is_current(old, spec) and (outcome.rendered is None or not rebuild):
                # A rebuild that failed keeps the variant it would have replaced; a run that
                # lost the race to another keeps the other's (the same key: the same object).
                if outcome.key and old is not None and outcome.key != old.key:
                    obsolete.append(outcome.key)
                continue
            if old is not None and old.key and old.key != outcome.key:
                obsolete.append(old.key)
            _save(upload, outcome, old)
            if outcome.rendered is not None:
                made.append(spec.name)
        for name, old in records.items():
            if name not in current:
                obsolete.extend([old.key] if old.key else [])
                old.delete()
        _delete_after_commit(upload.storage, obsolete)
        if made:
            send_on_commit(variants_made, Upload, upload=upload, names=made)
    return made


def _save(upload: Upload, outcome: Outcome, old: Variant | None) -> None:
    r = outcome.rendered
    row = old or Variant(upload=upload, name=outcome.spec.name)
    row.digest = outcome.spec.digest
    row.status = Variant.Status.READY if r is not None else Variant.Status.FAILED
    row.key = outcome.key
    row.content_type = r.content_type if r else ""
    row.size = len(r.data) if r else None
    row.width = r.width if r else None
    row.height = r.height if r else None
    row.error = outcome.error
    row.save()


def _delete_after_commit(storage: str, names: list[str]) -> None:
    if not names:
        return

    def delete() -> None:
        try:
            with provider_errors():
                signer = signer_for(storage)
                for name in names:
                    signer.delete(name)
        except exceptions.UploadError:
            logger.warning("Could not delete replaced variants %s", names, exc_info=True)

    transaction.on_commit(delete)


def uploads_of(policy: UploadPolicy) -> QuerySet[Upload]:
    """The type's completed uploads that can have variants (images this server decodes)."""
    images = [t for t in policy.allowed_content_types if content_types.pillow_format(t)]
    return Upload.objects.filter(
        policy=policy, status=Upload.Status.COMPLETED, content_type__in=images
    )


def needing_rebuild(policy: UploadPolicy) -> QuerySet[Upload]:
    """The type's uploads missing a variant as declared now (not made, failed, or stale)."""
    specs = list(policy.variant_specs.all())
    current = Q()
    for spec in specs:
        current |= Q(
            variant_records__name=spec.name,
            variant_records__digest=spec.digest,
            variant_records__status=Variant.Status.READY,
        )
    return (
        uploads_of(policy)
        .annotate(current=Count("variant_records", filter=current, distinct=True))
        .filter(current__lt=len(specs))
    )


@dataclass(frozen=True)
class Progress:
    current: int  # uploads with every declared variant made as declared now
    total: int  # the type's completed images

    def __str__(self) -> str:
        return f"{self.current} of {self.total} uploads have current variants"


def progress(policy: UploadPolicy) -> Progress:
    total = uploads_of(policy).count()
    if not policy.variant_specs.exists():
        return Progress(total, total)
    return Progress(total - needing_rebuild(policy).count(), total)
