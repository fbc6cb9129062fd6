"""Storage keys are made by the server alone; the client's file name is for display only."""

from __future__ import annotations

import unicodedata
import uuid

from uploads import content_types
from uploads.app_settings import app_settings


def build_key(prefix: str, owner_id: object, upload_id: uuid.UUID, content_type: str) -> str:
    """``<prefix>/<owner id>/<upload id>.<ext>``, the extension from the content type."""
    return f"{prefix}/{owner_id}/{upload_id}.{content_types.extension_for(content_type)}"


def staging_key(key: str) -> str:
    """Where the signed URL for ``key`` writes: complete copies the verified object from
    there to ``key``, which no URL can write."""
    return f"{app_settings.STAGING_PREFIX.strip('/')}/{key}"


def clean_file_name(name: str) -> str:
    """The last path component, without control or format characters, capped in length."""
    # ASCII is NFC already, and its only characters of category C are those not printable.
    plain = name.isascii() and name.isprintable()
    if not plain:
        name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    if not plain:
        name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip().strip(".")
    limit = app_settings.FILE_NAME_MAX_LENGTH
    if len(name) > limit:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = stem[: limit - len(ext) - 1] + "." + ext
        else:
            name = name[:limit]
    return name


def attachment_name(file_name: str, upload_id: object, content_type: str) -> str:
    """The client's file name (or the upload id) with the extension of the verified type,
    so that a saved file opens as what it was verified to be."""
    name = file_name or str(upload_id)
    stem, dot, _ = name.rpartition(".")
    if dot and stem:
        name = stem
    known = content_types.known(content_type)
    return f"{name}.{known.extension}" if known else name


def variant_key(key: str, name: str, digest: str, extension: str) -> str:
    """Where the variant ``name`` of the upload at ``key`` is stored, beside it (under the
    same prefix, so that it is exactly as public or private): ``<key without extension>/
    <name>-<declaration digest>.<ext>``. A changed declaration makes a new key."""
    stem = key.rsplit(".", 1)[0] if "." in key.rsplit("/", 1)[-1] else key
    return f"{stem}/{name}-{digest}.{extension}"
