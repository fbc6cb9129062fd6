"""Running an upload type's checks before publication (docs/checks.md) on the staged file:
after the built-in checks, before the file is completed and promoted."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.utils.module_loading import import_string

from uploads.app_settings import app_settings
from uploads.exceptions import UploadError
from uploads.models import Upload
from uploads.scanning import Refused, StagedFile, Unavailable
from uploads.services.signing import provider_errors, signer_for
from uploads.signers import StoredObject

logger = logging.getLogger("uploads")

Check = Callable[[StagedFile], None]

#: The ``code`` of the reason a check refused a file with (its ``field`` is "file").
REFUSED = "check_refused"


class ChecksUnavailable(Exception):
    """A check could not decide now, and the upload's type does not let it complete
    unchecked: the upload stays verifying and is checked again later."""


def load(name: str) -> Check:
    """The check that ``UPLOADS["CHECKS"]`` names ``name``; ImportError, KeyError or
    TypeError when it is not a callable there (system check uploads.E013 says so first)."""
    target = import_string(app_settings.CHECKS[name])
    if not callable(target):
        raise TypeError(f"{app_settings.CHECKS[name]} is not callable.")
    check: Check = target
    return check


def staged_file(upload: Upload, stored: StoredObject, whole: bytes | None = None) -> StagedFile:
    """What a check receives of ``upload``, whose ``key`` is read (the staging key); from
    ``whole`` where complete read it all: the very bytes it verified, with no more calls."""
    signer = signer_for(upload.storage)
    key = upload.key

    def read_range(start: int, length: int) -> bytes:
        if whole is not None:
            return whole[start : start + max(length, 0)]
        with provider_errors():
            return signer.read_range(key, start, length)

    return StagedFile(
        upload_id=upload.pk,
        owner_id=upload.owner_id,
        upload_type=upload.policy.name,
        content_type=upload.content_type,
        size=stored.size,
        file_name=upload.file_name,
        sha256=stored.sha256 or upload.sha256,
        read_range=read_range,
    )


def run_checks(
    upload: Upload, stored: StoredObject, whole: bytes | None = None
) -> list[dict[str, Any]]:
    """Run the type's checks in order on the staged object; the reason of the first that
    refuses it ([] when all pass). Raises ChecksUnavailable when one cannot decide now (or
    fails, or is no longer configured), unless the type completes files unchecked then."""
    names: list[str] = list(upload.policy.checks or [])
    if not names:
        return []
    file = staged_file(upload, stored, whole)
    for name in names:
        try:
            check = load(name)
        except (ImportError, KeyError, TypeError) as err:
            # A check removed from settings while a type still names it: never skipped.
            logger.error("Check %r of type %s cannot be loaded: %s", name, file.upload_type, err)
            raise ChecksUnavailable(f"Check {name!r} is not configured.") from err
        try:
            check(file)
        except Refused as refused:
            logger.info("Check %r refused upload %s: %s", name, upload.pk, refused.reason)
            return [refusal(name, refused.reason)]
        except Unavailable as err:
            if upload.policy.complete_unscanned:
                logger.warning(
                    "Check %r could not decide on upload %s (%s): completed unchecked, as "
                    "its type allows",
                    name,
                    upload.pk,
                    err,
                )
                continue
            logger.warning("Check %r could not decide on upload %s: %s", name, upload.pk, err)
            raise ChecksUnavailable(str(err)) from err
        except UploadError:
            raise  # the storage failed while the check read the file: as complete's own reads
        except Exception as err:  # noqa: BLE001  a failing check refuses nothing, passes nothing
            logger.exception("Check %r failed on upload %s", name, upload.pk)
            raise ChecksUnavailable(f"Check {name!r} failed.") from err
    return []


def refusal(name: str, message: str) -> dict[str, Any]:
    """A reason to reject, as complete gives them, naming the check that refused."""
    return {
        "field": "file",
        "code": REFUSED,
        "check": name,
        "message": message,
        "expected": None,
        "actual": None,
    }
