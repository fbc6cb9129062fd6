"""The built-in malware scan: the staged file streamed to ClamAV's daemon.

Name it in ``UPLOADS["CHECKS"]`` (``{"clamav": "uploads.scanning.clamav.scan"}``) and point
``UPLOADS["CLAMD"]`` at clamd (docs/checks.md).
"""

from __future__ import annotations

import logging
import time

from uploads.app_settings import app_settings
from uploads.scanning import Refused, StagedFile, Unavailable
from uploads.scanning.clamd import ClamdTooLarge, ClamdUnavailable, instream
from uploads.scanning.read_ahead import read_ahead
from uploads.signers.deadline import remaining

logger = logging.getLogger("uploads")


def _deadline() -> float | None:
    """Within a request, the request's deadline (REQUEST_STORAGE_DEADLINE): a clamd too slow
    for it leaves the file to the background rather than the request to the server's kill."""
    left = remaining()
    return None if left is None else time.monotonic() + left


def scan(file: StagedFile) -> None:
    """Refuse the file when clamd finds a signature in it; Unavailable when clamd cannot
    be reached (or is not configured) or fails."""
    address = app_settings.CLAMD
    if not address:
        raise Unavailable("UPLOADS['CLAMD'] is not set: there is no clamd to scan with.")
    try:
        # Read from the storage a MiB at a time (one ranged GET each), the next while clamd
        # scans the last; sent in frames.
        chunks = read_ahead(file.chunks())
        try:
            found = instream(address, chunks, app_settings.CLAMD_TIMEOUT, _deadline())
        finally:
            chunks.close()  # stops the reader at once, whatever instream did
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
