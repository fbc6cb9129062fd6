"""The real webhook receiver (tests/webhook_receiver.py) as the tests drive it."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from tests.live import ROOT, free_port, listening, running
from tests.requirements import require_module

#: The receiver starts with this one; tests tell it the endpoint's.
START_SECRET = "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


class Receiver:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.hook = f"{self.base}/hook"

    def control(self, **command: Any) -> None:
        requests.post(f"{self.base}/_control", json=command, timeout=5).raise_for_status()

    def received(self) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = requests.get(f"{self.base}/_received", timeout=5).json()
        return answer

    def wait_for(self, count: int, within: float = 30) -> list[dict[str, Any]]:
        """What it received, once that is at least ``count`` deliveries (polled)."""
        deadline = time.monotonic() + within
        while True:
            found = self.received()
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


@contextmanager
def receiver_process(port: int | None = None) -> Iterator[Receiver]:
    """A receiver process on ``port`` (a free one by default), stopped after the block."""
    require_module("standardwebhooks", 'pip install "django-upload-policies[webhooks]"')
    port = port or free_port()
    command = [sys.executable, "tests/webhook_receiver.py", str(port), START_SECRET]
    with running(command, ready=listening(port), timeout=20, name="webhook receiver", cwd=ROOT):
        yield Receiver(port)
