"""The built-in malware scan: the staged file streamed to ClamAV's daemon.

Name it in ``UPLOADS["CHECKS"]`` (``{"clamav": "uploads.scanning.clamav.scan"}``) and point
``UPLOADS["CLAMD"]`` at clamd (docs/checks.md).
"""

from __future__ import annotations

import logging

from uploads.app_settings import app_settings
from uploads.scanning import Refused, StagedFile, Unavailable
from uploads.scanning.clamd import MAX_CHUNK, ClamdTooLarge, ClamdUnavailable, instream

logger = logging.getLogger("uploads")


def scan(file: StagedFile) -> None:
    """Refuse the file when clamd finds a signature in it; Unavailable when clamd cannot
    be reached (or is not configured) or fails."""
    address = app_settings.CLAMD
    if not address:
        raise Unavailable("UPLOADS['CLAMD'] is not set: there is no clamd to scan with.")
    try:
        found = instream(address, file.chunks(MAX_CHUNK), app_settings.CLAMD_TIMEOUT)
    except ClamdTooLarge as err:
        logger.warning("clamd refused upload %s as too large: %s", file.upload_id, err)
        raise Refused(
            "The file is larger than the malware scanner accepts, so it cannot be checked."
        ) from err
    except ClamdUnavailable as err:
        raise Unavailable(str(err)) from err
    if found is not None:
        logger.warning("clamd found %s in upload %s", found, file.upload_id)
        raise Refused(f"The malware scan found {found}.")
