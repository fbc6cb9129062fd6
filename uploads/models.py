from __future__ import annotations

import hashlib
import re
import uuid
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from uploads import keys, validators
from uploads.files import UploadFile, VariantFile, Variants

SLUG = re.compile(r"[-a-zA-Z0-9_]+")


class UploadPolicy(models.Model):
    """One upload type, edited live by operators in the admin."""

    class Method(models.TextChoices):
        PUT = "PUT", _("PUT to a signed URL")
        POST = "POST", _("POST form with a signed policy")

    name = models.SlugField(
        _("type"), max_length=64, unique=True, help_text=_("What clients send as 'type'.")
    )
    label = models.CharField(_("label"), max_length=100)
    is_active = models.BooleanField(_("active"), default=True)
    allowed_content_types = models.JSONField(
        _("allowed content types"),
        default=list,
        validators=[validators.validate_content_type_list],
        help_text=_("Exact MIME types, such as image/png. No wildcards."),
    )
    max_size = models.PositiveBigIntegerField(_("max size (bytes)"))
    expires_in = models.PositiveIntegerField(
        _("URL expiry (seconds)"), default=300, validators=[validators.validate_expiry]
    )
    storage = models.CharField(
        _("storage"),
        max_length=64,
        default="default",
        validators=[validators.validate_storage_alias],
        help_text=_("An alias of settings.STORAGES listed in UPLOADS['STORAGES']."),
    )
    key_prefix = models.CharField(
        _("key prefix"), max_length=200, validators=[validators.validate_key_prefix]
    )
    method = models.CharField(
        _("upload method"), max_length=4, choices=Method.choices, default=Method.PUT
    )
    is_public = models.BooleanField(
        _("public"),
        default=False,
        help_text=_("Public files get a publicUrl; private ones only short-lived signed URLs."),
    )
    require_size = models.BooleanField(
        _("require size"),
        default=True,
        help_text=_("Clients must declare the exact size, which is signed into the URL."),
    )
    require_sha256 = models.BooleanField(_("require sha256"), default=False)
    deduplicate = models.BooleanField(
        _("deduplicate identical files"),
        default=True,
        help_text=_("Reuse the caller's completed upload of this type with the same sha256."),
    )
    max_pixels = models.PositiveIntegerField(
        _("max pixels per image"),
        default=40_000_000,
        validators=[MinValueValidator(1)],
        help_text=_("Images whose width x height is larger are refused on complete."),
    )
    strip_metadata = models.BooleanField(
        _("strip image metadata"),
        default=False,
        help_text=_(
            "Re-encode images on complete without their metadata (EXIF with GPS, XMP, "
            "comments) and without bytes after the image; the stored file then differs from "
            "the uploaded one."
        ),
    )
    multipart_threshold = models.PositiveBigIntegerField(
        _("multipart above (bytes)"),
        null=True,
        blank=True,
        help_text=_(
            "Files declared larger are sent in parts. Empty: only when the client asks for "
            "a multipart upload."
        ),
    )
    part_size = models.PositiveBigIntegerField(
        _("part size (bytes)"),
        default=16 * 1024 * 1024,
        validators=[MinValueValidator(1)],
        help_text=_("Every part of a multipart upload but the last has exactly this size."),
    )
    checks = models.JSONField(
        _("checks before publication"),
        default=list,
        blank=True,
        validators=[validators.validate_check_names],
        help_text=_(
            "Run in this order on each file after the built-in checks, before it is "
            "completed; names from settings.UPLOADS['CHECKS']."
        ),
    )
    complete_unscanned = models.BooleanField(
        _("complete unchecked when a check is unavailable"),
        default=False,
        help_text=_(
            "Off: a file waits, verifying, until every check could decide. On: a check that "
            "cannot be reached (a scanner down) is skipped and the file completes."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("upload type")
        verbose_name_plural = _("upload types")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        validators.validate_max_size(self.max_size)
        problem = unverifiable_size(self.allowed_content_types or [], self.max_size)
        if problem:
            raise ValidationError({"max_size": problem})
        if self.strip_metadata:
            problem = unstrippable(self.allowed_content_types or [])
            if problem:
                raise ValidationError({"strip_metadata": problem})


def unverifiable_size(allowed_content_types: list[str], max_size: int | None) -> str | None:
    """Why complete could not verify files this large of these types, or None."""
    from uploads import content_types
    from uploads.app_settings import app_settings

    limit = app_settings.VERIFY_READ_LIMIT
    whole = [t for t in allowed_content_types if content_types.reads_whole(t)]
    if whole and max_size is not None and max_size > limit:
        return (
            f"{', '.join(whole)} files are read whole on complete, so the size cap may not "
            f"exceed {limit} bytes (settings.UPLOADS['VERIFY_READ_LIMIT'])."
        )
    return None


def unstrippable(allowed_content_types: list[str]) -> str | None:
    """Why images of these types could not be re-encoded without their metadata, or None."""
    from uploads import content_types

    kept = [t for t in allowed_content_types if content_types.keeps_metadata(t)]
    if kept:
        return (
            f"{', '.join(kept)} images cannot be re-encoded here (no decoder), so their "
            "metadata would stay: remove them from the allowed types or leave this off."
        )
    return None


def part_size_problem(
    part_size: int, max_size: int | None, limits: tuple[int, int, int]
) -> str | None:
    """Why parts of this size do not suit a storage taking parts within ``limits`` (smallest,
    largest, most), or None."""
    from uploads.units import format_bytes

    smallest, largest, most = limits
    if part_size < smallest:
        return f"The storage takes parts of at least {format_bytes(smallest)}."
    if part_size > largest:
        return f"The storage takes parts of at most {format_bytes(largest)}."
    if max_size and -(-max_size // part_size) > most:
        return (
            f"A file of {format_bytes(max_size)} would need {-(-max_size // part_size)} parts; "
            f"the storage takes at most {most}. Make the parts at least "
            f"{format_bytes(-(-max_size // most))}."
        )
    return None


class PolicyRevision(models.Model):
    """One row: how many times the upload types changed. The policy registry's source of
    truth (the shared cache only mirrors it), bumped in the transaction of each edit, so that
    no edit is lost when the cache is down or comes back with old data."""

    number = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = _("upload types revision")


class Upload(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        # Complete accepted it for checking; a background task settles it.
        VERIFYING = "verifying", _("verifying")
        COMPLETED = "completed", _("completed")
        REJECTED = "rejected", _("rejected")
        EXPIRED = "expired", _("expired")
        DELETED = "deleted", _("deleted")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: upload_owner_recent starts with it (fewer indexes, a cheaper
    # INSERT at presign).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads", db_index=False
    )
    policy = models.ForeignKey(UploadPolicy, on_delete=models.PROTECT, related_name="uploads")
    key = models.CharField(max_length=1024)  # unique: upload_unique_key
    storage = models.CharField(max_length=64)
    is_public = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    expires_at = models.DateTimeField()
    # The type's size cap when the URL was signed.
    max_size = models.PositiveBigIntegerField()

    # What the client declared at presign.
    content_type = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=44, blank=True)
    file_name = models.CharField(max_length=255, blank=True)

    # What complete found in storage.
    verified_size = models.PositiveBigIntegerField(null=True, blank=True)
    verified_content_type = models.CharField(max_length=255, blank=True)
    verified_sha256 = models.CharField(max_length=44, blank=True)
    rejection_reason = models.TextField(blank=True)
    # What complete read from the stored file (null where unknown or not of its kind):
    # an image's pixels as stored and whether it has frames after the first, a PDF's page
    # count, a video's duration in seconds and frame size (where ffprobe is installed).
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    is_animated = models.BooleanField(null=True, blank=True)
    page_count = models.PositiveIntegerField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True)

    # A multipart upload: the provider's id for it ("" where it needs none) and the size of
    # every part but the last. A single upload has no part size.
    multipart_id = models.CharField(max_length=1024, blank=True)
    part_size = models.PositiveBigIntegerField(null=True, blank=True)
    # Whether its parts assemble at its key rather than its staging key (multipart_key).
    assembles_at_key = models.BooleanField(default=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # When the cleanup sweep last removed what the upload URL may have written, after the URL
    # expired: a rejected or deleted upload's URL can write its key again until then.
    swept_at = models.DateTimeField(null=True, blank=True)
    # A verifying upload's background check: the number of the last run that claimed it (only
    # that run may settle it), and until when that run's lease holds (renewed while it runs;
    # None while no run holds it). A lease that ran out is a run that died: the sweep hands
    # the upload to a new one.
    verify_attempt = models.PositiveIntegerField(default=0)
    verify_lease_until = models.DateTimeField(null=True, blank=True)
    # How many times its type's checks could not decide (a scanner down): the next try
    # waits twice as long (the lease holds it until then).
    check_retries = models.PositiveIntegerField(default=0)

    #: Not columns: the upload types' revision (PolicyRevision) read with the row, where it
    #: was (complete's locked read), and its type's variants as of then (name and digest of
    #: each; uploads.policies.declared_variants), so that its variants and webhooks are those
    #: of that revision.
    policy_revision: int | None = None
    declared_variants: tuple[Any, ...] | None = None

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="upload_owner_recent"),
            models.Index(fields=["status", "expires_at"], name="upload_sweep"),
            # Presign's quota: a user's live pending uploads, however many others they have;
            # every column the count reads, so that it reads no row of the table.
            models.Index(
                fields=["owner", "status", "expires_at", "size", "max_size"],
                condition=models.Q(status="pending"),
                name="upload_owner_pending",
            ),
        ]
        # Not unique=True on the field: on PostgreSQL that adds a second index on the key
        # (varchar_pattern_ops, for LIKE), which no query uses.
        constraints = [models.UniqueConstraint(fields=["key"], name="upload_unique_key")]

    def __str__(self) -> str:
        return self.key

    # The upload as a file (uploads.files): what templates, serializers and thumbnail
    # libraries read. Only a completed upload has a URL or can be opened.
    @property
    def file(self) -> UploadFile:
        return UploadFile(self)

    @property
    def url(self) -> str | None:
        """The public URL, or a fresh short-lived signed one for a private upload; None
        unless completed."""
        return self.file.url

    def open(self, mode: str = "rb") -> IO[bytes]:
        """A readable stream of the stored object; InvalidState unless completed."""
        return self.file.open(mode)

    def variant(self, name: str) -> VariantFile:
        """The variant ``name`` (an uploads.files.VariantFile): ``.url`` None and ``.ready``
        False until it is made from this upload as declared now. UnknownVariant (a KeyError)
        for a name the upload's type does not declare."""
        return self.file.variant(name)

    @property
    def variants(self) -> Variants:
        """The declared variants by name, a mapping (``{{ upload.variants.thumb.url }}``)."""
        return self.file.variants

    def variant_keys(self) -> list[str]:
        """The keys of the variant objects stored for this upload (made or being replaced)."""
        return [k for k in self.variant_records.values_list("key", flat=True) if k]

    @property
    def is_multipart(self) -> bool:
        return self.part_size is not None

    @property
    def multipart_key(self) -> str:
        """Where a multipart upload's parts assemble: its key itself, verified there with no
        copy (``uploads.services.multipart.assembles_at_key``), or its staging key."""
        return self.key if self.assembles_at_key else keys.staging_key(self.key)

    @property
    def part_count(self) -> int:
        """How many parts the plan has (0 for a single upload)."""
        if self.part_size is None or self.size is None:
            return 0
        return -(-self.size // self.part_size)

    def planned_part_size(self, number: int) -> int:
        """The exact size of part ``number`` (from 1): the part size, less for the last."""
        assert self.part_size is not None and self.size is not None
        return min(self.part_size, self.size - (number - 1) * self.part_size)

    def planned_part_offset(self, number: int) -> int:
        """Where part ``number`` (from 1) begins in the assembled file."""
        assert self.part_size is not None
        return (number - 1) * self.part_size


class VariantSpec(models.Model):
    """A named variant that operators declare on an upload type: made from every completed
    image of the type, by a task, after it completes."""

    class Fit(models.TextChoices):
        CROP = "crop", _("crop to exactly this size")
        FIT = "fit", _("fit within this size")

    class Format(models.TextChoices):
        WEBP = "webp", "WebP"
        JPEG = "jpeg", "JPEG"
        PNG = "png", "PNG"
        AVIF = "avif", "AVIF"

    policy = models.ForeignKey(UploadPolicy, on_delete=models.CASCADE, related_name="variant_specs")
    name = models.SlugField(
        _("name"), max_length=32, help_text=_("What code and the API call it, such as thumb.")
    )
    width = models.PositiveIntegerField(_("width"), validators=[MinValueValidator(1)])
    height = models.PositiveIntegerField(_("height"), validators=[MinValueValidator(1)])
    fit = models.CharField(_("fit"), max_length=8, choices=Fit.choices, default=Fit.FIT)
    format = models.CharField(_("format"), max_length=8, choices=Format.choices)
    quality = models.PositiveSmallIntegerField(
        _("quality"),
        default=80,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("1-100 (PNG is lossless: it ignores this)."),
    )

    class Meta:
        ordering = ["policy", "name"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "name"], name="variant_spec_unique_name")
        ]
        verbose_name = _("variant")
        verbose_name_plural = _("variants")

    def __str__(self) -> str:
        return f"{self.name} ({self.width}x{self.height} {self.fit} {self.format})"

    def clean(self) -> None:
        from uploads import variant_images

        problems: dict[str, str] = {}
        if not self.name or not SLUG.fullmatch(self.name):
            problems["name"] = "Letters, digits, hyphens and underscores only, such as thumb."
        for side in ("width", "height"):
            value = getattr(self, side)
            if value is None or value < 1 or value > variant_images.MAX_SIDE:
                problems[side] = f"From 1 to {variant_images.MAX_SIDE} pixels."
        if self.fit not in self.Fit.values:
            problems["fit"] = f"One of {', '.join(self.Fit.values)}."
        if self.format not in variant_images.formats():
            problems["format"] = (
                f"One of {', '.join(variant_images.formats())} (the formats this server's "
                "Pillow can write)."
            )
        if self.quality is None or not 1 <= self.quality <= 100:
            problems["quality"] = "From 1 to 100."
        if problems:
            raise ValidationError(problems)

    @property
    def digest(self) -> str:
        """What the variant's pixels depend on: a variant made from another declaration is
        stale. Part of its key, so that a rebuilt variant never reuses a cached URL."""
        recipe = f"{self.width}x{self.height}:{self.fit}:{self.format}:{self.quality}"
        return hashlib.sha256(recipe.encode()).hexdigest()[:12]


class Variant(models.Model):
    """One variant made of one upload (or the failure to make it), and from what
    declaration: a record whose digest differs from its declaration's is stale."""

    class Status(models.TextChoices):
        READY = "ready", _("ready")
        FAILED = "failed", _("failed")

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="variant_records")
    name = models.CharField(max_length=32)
    digest = models.CharField(max_length=16)
    status = models.CharField(max_length=8, choices=Status.choices)
    key = models.CharField(max_length=1024, blank=True)
    content_type = models.CharField(max_length=32, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    made_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["upload", "name"], name="variant_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.upload_id} {self.name} ({self.status})"


# Webhook endpoints and deliveries live with their logic; imported so Django registers them.
from uploads.webhooks.models import WebhookDelivery, WebhookEndpoint  # noqa: E402,F401
