from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError

from uploads.signers import SignerError, get_signer


def origin(value: str) -> str:
    """A browser origin: scheme, host and optional port, nothing else."""
    parts = urlsplit(value.strip())
    try:
        parts.port  # noqa: B018  a bad port raises
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{value!r} has a bad port") from err
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an origin; use scheme://host[:port], e.g. https://app.example"
        )
    return f"{parts.scheme}://{parts.netloc.lower()}"


class Command(BaseCommand):
    help = (
        "Let browsers on the given origins upload to a storage directly: sets the bucket's "
        "CORS rule (PUT, POST, GET, HEAD from those origins, any request header, ETag exposed). "
        "Rules that others set on the bucket are kept."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "alias", nargs="?", default="default", help="Storage alias (default: default)."
        )
        parser.add_argument(
            "--origin",
            dest="origins",
            action="append",
            type=origin,
            required=True,
            help="An origin allowed to upload, e.g. https://app.example (repeat for more).",
        )

    def handle(self, *args: Any, alias: str, origins: list[str], **options: Any) -> None:
        origins = list(dict.fromkeys(origins))
        try:
            get_signer(alias).apply_cors(origins)
        except SignerError as err:
            raise CommandError(f"Could not set CORS on storage '{alias}': {err}") from err
        self.stdout.write(self.style.SUCCESS(f"CORS set on storage '{alias}':"))
        self.stdout.write(f"  origins          {', '.join(origins)}")
        self.stdout.write("  methods          PUT, POST, GET, HEAD")
        self.stdout.write("  request headers  any")
        self.stdout.write("  exposed headers  ETag")
