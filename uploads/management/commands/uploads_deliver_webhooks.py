from __future__ import annotations

import argparse
import time
from typing import Any

from django.core.management.base import BaseCommand

from uploads.webhooks.delivery import send_due


class Command(BaseCommand):
    help = (
        "Make one attempt at each webhook delivery that is due: new events, and retries whose "
        "time has come. Needed where the task backend runs no worker (TASKS_BACKEND=immediate, "
        "development), and a safety net elsewhere (a queue that lost a task). Safe to run on "
        "several nodes at once."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--limit", type=int, default=1000, help="At most this many attempts per round."
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=4,
            help="Send this many at once, each thread on its own database connection.",
        )
        parser.add_argument(
            "--watch",
            type=float,
            metavar="SECONDS",
            help="Keep running, looking for due deliveries every SECONDS.",
        )

    def handle(
        self, *args: Any, watch: float | None, limit: int, threads: int, **options: Any
    ) -> None:
        while True:
            attempted = send_due(limit=limit, threads=threads)
            if attempted or watch is None:
                self.stdout.write(f"Made {attempted} webhook delivery attempts.")
            if watch is None:
                return
            time.sleep(watch)
