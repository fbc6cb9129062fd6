from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from uploads.app_settings import app_settings
from uploads.services.storage_check import check_storage, describe


class Command(BaseCommand):
    help = (
        "Check each upload storage end to end: the signer loads, signs a tiny upload, the "
        "storage takes it, it reads back and deletes; with --origin, whether browsers on that "
        "origin pass CORS; whether this server's clock agrees with the storage's; and whether "
        "it refuses POST form fields a policy does not name (a warning). "
        "Exits non-zero when a step fails."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "aliases",
            nargs="*",
            metavar="alias",
            help="Storage aliases (default: every one in settings.UPLOADS['STORAGES']).",
        )
        parser.add_argument(
            "--origin", help="A browser origin to check CORS for, e.g. https://app.example"
        )
        parser.add_argument(
            "--base-url",
            help="Where this site runs (e.g. http://127.0.0.1:8000), to send a local signer's "
            "relative upload URL through it. Without it, that step is skipped.",
        )

    def handle(
        self,
        *args: Any,
        aliases: list[str],
        origin: str | None,
        base_url: str | None,
        **options: Any,
    ) -> None:
        failed = []
        for alias in aliases or list(app_settings.STORAGES):
            report = check_storage(alias, origin=origin, base_url=base_url)
            lines = describe(report)
            style = (
                self.style.ERROR
                if not report.ok
                else self.style.WARNING
                if report.warned
                else self.style.SUCCESS
            )
            self.stdout.write(style(lines[0]))
            for line in lines[1:]:
                self.stdout.write(line)
            if not report.ok:
                failed.append(alias)
        if failed:
            raise CommandError(f"Storage check failed for: {', '.join(failed)}.")
