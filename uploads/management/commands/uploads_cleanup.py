from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand

from uploads.services.cleanup import CleanupReport, expire_stale_uploads
from uploads.webhooks.delivery import send_due


def _positive_int(value: str) -> int:
    # 0 would sweep nothing and report success; a negative size would crash the sweep.
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


class Command(BaseCommand):
    help = (
        "Sweep uploads whose URL expired (plus UPLOADS['CLEANUP_GRACE']): mark pending ones "
        "expired and delete whatever object sits at the key of any upload not completed; "
        "clear deleted uploads' keys at once; reject pending uploads whose URL could not bound "
        "the size and whose file is already too large; release the parts of expired or deleted "
        "multipart uploads; verify and settle uploads whose background check was lost "
        "(verifying for UPLOADS['VERIFY_TASK_GRACE']), and enqueue again those whose worker "
        "died (its lease, UPLOADS['VERIFY_LEASE'], lapsed); remove stale temporary files of local "
        "PUTs; send the webhook deliveries that are due (as uploads_deliver_webhooks does). Run it "
        "from cron every minute or two."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count, change nothing.")
        parser.add_argument("--batch-size", type=_positive_int, default=500)

    def handle(self, *args: Any, dry_run: bool, batch_size: int, **options: Any) -> None:
        def progress(report: CleanupReport, total: int) -> None:
            self.stdout.write(f"Swept {report.swept}/{total} uploads...")

        report = expire_stale_uploads(batch_size=batch_size, dry_run=dry_run, progress=progress)
        if dry_run:
            self.stdout.write(
                f"Dry run: {report.swept} uploads would be swept; "
                f"{report.pending} stale pending uploads would expire."
                + (
                    f" {report.verified} uploads whose background check was lost would be verified."
                    if report.verified
                    else ""
                )
                + (
                    f" {report.handed_over} verifications whose worker was lost would be "
                    "enqueued again."
                    if report.handed_over
                    else ""
                )
                + self._temp_files(report, "would be removed")
            )
            return
        attempted = send_due()
        self.stdout.write(
            self.style.SUCCESS(
                f"Swept {report.swept} uploads: expired {report.expired}, "
                f"deleted {report.objects_deleted} objects"
                + (f", {report.failed} failed (left for the next run)." if report.failed else ".")
                + (
                    f" Rejected {report.oversized} pending uploads whose file is too large."
                    if report.oversized
                    else ""
                )
                + (
                    f" Released the parts of {report.multipart_aborted} multipart uploads."
                    if report.multipart_aborted
                    else ""
                )
                + (
                    f" Verified {report.verified} uploads whose background check was lost."
                    if report.verified
                    else ""
                )
                + (
                    f" Enqueued again {report.handed_over} verifications whose worker was lost."
                    if report.handed_over
                    else ""
                )
                + self._temp_files(report, "removed")
                + (f" Made {attempted} due webhook delivery attempts." if attempted else "")
            )
        )

    @staticmethod
    def _temp_files(report: CleanupReport, done: str) -> str:
        if not report.temp_files:
            return ""
        return f" {report.temp_files} stale temporary files of local uploads {done}."
