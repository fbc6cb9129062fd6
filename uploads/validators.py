"""Rules an upload policy must follow, shared by the model, the admin and the checks."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from uploads import content_types
from uploads.app_settings import app_settings
from uploads.units import format_bytes

KEY_PREFIX_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*$")


def validate_content_type_list(value: Any) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError("List at least one content type.")
    problems = []
    for item in value:
        if not isinstance(item, str):
            problems.append(f"{item!r} is not a string.")
        elif problem := content_types.problem_with(item):
            problems.append(problem)
    if len(set(value)) != len(value):
        problems.append("A content type is listed twice.")
    if problems:
        raise ValidationError(problems)


def validate_max_size(value: int | None) -> None:
    if value is None:
        return
    ceiling = app_settings.MAX_SIZE_CEILING
    if value < 1:
        raise ValidationError("The size cap must be at least 1 byte.")
    if value > ceiling:
        raise ValidationError(
            f"The size cap may not exceed {format_bytes(ceiling)} "
            "(settings.UPLOADS['MAX_SIZE_CEILING'])."
        )


def validate_expiry(value: int) -> None:
    ceiling = app_settings.MAX_EXPIRY_CEILING
    if value < 1:
        raise ValidationError("The URL expiry must be at least 1 second.")
    if value > ceiling:
        raise ValidationError(
            f"The URL expiry may not exceed {ceiling} seconds "
            "(settings.UPLOADS['MAX_EXPIRY_CEILING'], never above 7 days)."
        )


def validate_storage_alias(value: str) -> None:
    allowed = app_settings.STORAGES
    if value not in allowed:
        raise ValidationError(
            f"'{value}' is not an upload storage. Choose one of: {', '.join(allowed)} "
            "(settings.UPLOADS['STORAGES'])."
        )
    if value not in settings.STORAGES:
        raise ValidationError(f"'{value}' is not configured in settings.STORAGES.")


def under_staging_prefix(prefix: str) -> bool:
    """Whether keys under ``prefix`` fall inside UPLOADS["STAGING_PREFIX"], compared as the
    storage sees them: without surrounding slashes, and without case, which some storages
    (a local disk on macOS or Windows) ignore."""
    staging = app_settings.STAGING_PREFIX.strip().strip("/").lower()
    return prefix.strip().strip("/").split("/", 1)[0].lower() == staging


def validate_key_prefix(value: str) -> None:
    if under_staging_prefix(value):
        staging = app_settings.STAGING_PREFIX.strip().strip("/")
        raise ValidationError(
            f"'{value}' is inside the staging prefix '{staging}' "
            "(settings.UPLOADS['STAGING_PREFIX']), where signed URLs write and whose objects "
            "the sweep and the documented lifecycle rule delete. Choose another prefix."
        )
    if not KEY_PREFIX_RE.match(value):
        raise ValidationError(
            "Use lower-case letters, digits, '-' and '_' in '/'-separated segments, "
            "with no leading or trailing '/', such as 'avatars' or 'media/video'."
        )


def validate_check_names(value: Any) -> None:
    """An ordered list of checks, each named in settings.UPLOADS['CHECKS'], none twice."""
    if not isinstance(value, list):
        raise ValidationError("List the checks by name.")
    available = app_settings.CHECKS
    problems = []
    for item in value:
        if not isinstance(item, str) or item not in available:
            offered = ", ".join(sorted(available)) or "none: set UPLOADS['CHECKS']"
            problems.append(
                f"{item!r} is not a check settings.UPLOADS['CHECKS'] offers ({offered})."
            )
    if len(set(map(str, value))) != len(value):
        problems.append("A check is listed twice.")
    if problems:
        raise ValidationError(problems)
