"""A host project's own check before publication, as docs/checks.md shows it."""

from __future__ import annotations

from uploads.scanning import Refused, StagedFile

MACRO = b"Sub AutoOpen()"


def no_macros(file: StagedFile) -> None:
    """Refuse a file that carries a macro run on opening. Reads the staged file in chunks,
    keeping the end of the last one so that a match split between two is found."""
    tail = b""
    for chunk in file.chunks():
        window = tail + chunk
        if MACRO in window:
            raise Refused("The file contains a macro that runs when it is opened.")
        tail = window[-(len(MACRO) - 1) :]
