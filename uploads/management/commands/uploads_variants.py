from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from uploads.models import UploadPolicy
from uploads.services import variants
from uploads.tasks import enqueue_variants


class Command(BaseCommand):
    help = (
        "Make the variants of existing uploads as their types declare them now: every "
        "variant of every completed image (the objects they replace are deleted), or with "
        "--stale-only only the missing, failed and stale ones. Runs here, printing progress; "
        "--enqueue hands each upload to the tasks backend instead."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--type",
            dest="types",
            action="append",
            metavar="NAME",
            help="An upload type (repeat for more); all types declaring variants by default.",
        )
        parser.add_argument(
            "--stale-only",
            action="store_true",
            help="Only uploads missing a variant as declared now (not made, failed, stale).",
        )
        parser.add_argument(
            "--enqueue", action="store_true", help="Enqueue a task per upload; make none here."
        )

    def handle(
        self,
        *args: Any,
        types: list[str] | None,
        stale_only: bool,
        enqueue: bool,
        **options: Any,
    ) -> None:
        policies = UploadPolicy.objects.filter(variant_specs__isnull=False).distinct()
        if types:
            unknown = sorted(set(types) - set(UploadPolicy.objects.values_list("name", flat=True)))
            if unknown:
                raise CommandError(f"No upload type {', '.join(unknown)}.")
            policies = UploadPolicy.objects.filter(name__in=types)
        for policy in policies.order_by("name"):
            self._rebuild(policy, stale_only=stale_only, enqueue=enqueue)

    def _rebuild(self, policy: UploadPolicy, *, stale_only: bool, enqueue: bool) -> None:
        if not policy.variant_specs.exists():
            self.stdout.write(f"{policy.name}: declares no variants.")
            return
        chosen = variants.needing_rebuild(policy) if stale_only else variants.uploads_of(policy)
        ids = [str(pk) for pk in chosen.order_by("created_at").values_list("pk", flat=True)]
        failed = 0
        for done, upload_id in enumerate(ids, start=1):
            if enqueue:
                failed += not enqueue_variants(upload_id, rebuild=not stale_only)
                what = "enqueued"
            else:
                made = variants.make_variants(upload_id, rebuild=not stale_only)
                what = f"made {', '.join(made)}" if made else "nothing made"
            self.stdout.write(f"{policy.name}: {done}/{len(ids)} {upload_id}: {what}")
        summary = f"{policy.name}: {variants.progress(policy)}."
        if failed:
            self.stderr.write(f"{summary} {failed} could not be enqueued.")
        else:
            self.stdout.write(self.style.SUCCESS(summary))
