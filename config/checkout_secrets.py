"""Secrets of one development checkout: made at random on first use, kept in var/."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path


def checkout_secret(path: Path) -> str:
    """The secret stored at ``path``, made (mode 0600) if there is none yet."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole beside it, then linked into place: a process starting at the same time
    # sees either no file or the complete one, and the first link wins.
    fd, draft = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(50))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(draft)
    return path.read_text().strip()
