"""Loading the signer for a storage alias: chosen from the storage's backend class unless
``UPLOADS['SIGNERS']`` names one, built once per process, forgotten when settings change."""

from __future__ import annotations

import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import InvalidStorageError, storages
from django.utils.module_loading import import_string

from uploads.app_settings import app_settings
from uploads.signers.base import (
    ObjectHeaders,
    PresignedUpload,
    Signer,
    SignerError,
    SignerNotConfigured,
    SignerUnavailable,
    SourceChanged,
    StorageDeadlineExceeded,
    StoredObject,
    StoredPart,
    UploadSpec,
)

__all__ = [
    "ObjectHeaders",
    "PresignedUpload",
    "Signer",
    "SignerError",
    "SignerNotConfigured",
    "SignerUnavailable",
    "SourceChanged",
    "StorageDeadlineExceeded",
    "StoredObject",
    "StoredPart",
    "UploadSpec",
    "get_signer",
    "signer_class_for",
    "reset_signers",
]

# Storage backend class -> signer class. Subclasses of these backends get the same signer.
SIGNER_FOR_BACKEND = {
    "django.core.files.storage.filesystem.FileSystemStorage": "uploads.signers.local.LocalSigner",
    "django.core.files.storage.memory.InMemoryStorage": "uploads.signers.local.LocalSigner",
    "storages.backends.s3.S3Storage": "uploads.signers.s3.S3Signer",
    "storages.backends.azure_storage.AzureStorage": "uploads.signers.azure.AzureSigner",
    "storages.backends.gcloud.GoogleCloudStorage": "uploads.signers.gcs.GCSSigner",
}

INSTALL_HINTS = {
    "storages.backends.s3": "pip install django-upload-policies[s3]",
    "storages.backends.azure_storage": "pip install django-upload-policies[azure]",
    "storages.backends.gcloud": "pip install django-upload-policies[gcs]",
}

_signers: dict[str, Signer] = {}
_lock = threading.Lock()


def get_signer(alias: str) -> Signer:
    """The signer for ``alias``; raises SignerNotConfigured naming the fix."""
    signer = _signers.get(alias)
    if signer is None:
        with _lock:
            signer = _signers.get(alias) or _build(alias)
            _signers[alias] = signer
    return signer


def reset_signers(**kwargs: object) -> None:
    _signers.clear()


def signer_path_for(alias: str) -> str:
    if alias not in app_settings.STORAGES:
        raise SignerNotConfigured(
            f"Storage '{alias}' is not listed in settings.UPLOADS['STORAGES']."
        )
    if alias not in settings.STORAGES:
        raise SignerNotConfigured(f"Storage '{alias}' is not configured in settings.STORAGES.")
    if alias in app_settings.SIGNERS:
        return str(app_settings.SIGNERS[alias])
    backend = str(settings.STORAGES[alias].get("BACKEND", ""))
    try:
        backend_class = import_string(backend)
    except ImportError as err:
        hint = next((h for mod, h in INSTALL_HINTS.items() if backend.startswith(mod)), None)
        raise SignerNotConfigured(
            f"Storage '{alias}' uses {backend}, which cannot be imported ({err})."
            + (f" Install it with: {hint}" if hint else "")
        ) from err
    for cls in backend_class.__mro__:
        path = SIGNER_FOR_BACKEND.get(f"{cls.__module__}.{cls.__qualname__}")
        if path:
            return path
    raise SignerNotConfigured(
        f"No signer is known for storage '{alias}' ({backend}). "
        f"Name one in settings.UPLOADS['SIGNERS']['{alias}']."
    )


def signer_class_for(alias: str) -> type[Signer]:
    """The signer class for ``alias``, imported; raises SignerNotConfigured naming the fix."""
    path = signer_path_for(alias)
    try:
        signer_class: type[Signer] = import_string(path)
    except ImportError as err:
        hint = next((h for mod, h in INSTALL_HINTS.items() if mod in str(err)), None)
        raise SignerNotConfigured(
            f"Signer {path} for storage '{alias}' cannot be imported ({err})."
            + (f" Install it with: {hint}" if hint else "")
        ) from err
    return signer_class


def _build(alias: str) -> Signer:
    signer_class = signer_class_for(alias)
    try:
        return signer_class(alias, storages[alias])
    except (InvalidStorageError, ImproperlyConfigured) as err:
        raise SignerNotConfigured(f"Storage '{alias}' cannot be used: {err}") from err
