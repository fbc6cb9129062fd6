"""The ClamAV scan (uploads.scanning.clamav.scan, against a real clamd), counted as "scanned"
once it has passed the file: tests/topology_settings.py offers it as the "clamav" check."""

from __future__ import annotations

from tests.effects.counts import count
from uploads.scanning import StagedFile
from uploads.scanning.clamav import scan


def scanned(file: StagedFile) -> None:
    scan(file)
    count("scanned", file.upload_id)
