"""The side effects counted, one receiver each: "verified" here; "scanned" by the check in
tests.effects.checks; "announced" is what the test's webhook receiver got."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from tests.effects.counts import count
from uploads.models import Upload
from uploads.signals import upload_completed


@receiver(upload_completed, dispatch_uid="topology.verified")
def _verified(sender: Any, upload: Upload, **_: Any) -> None:
    count("verified", upload.pk)
