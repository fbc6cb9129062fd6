"""The tasks complete enqueued during the timed phases, for bench/wrk_bench.py: run by a real
worker once the timing is over (TASKS_BACKEND=rq), and checked: every completed upload of a
type that declares variants got each of them, and no task was lost or failed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.run import ROOT

WORKER_TIMEOUT_S = 1800


def missing_variants() -> tuple[int, int]:
    """(expected, missing): the variants the completed uploads' types declare, and how many
    of them are not ready."""
    from uploads.models import Upload, Variant, VariantSpec

    expected = missing = 0
    for spec in VariantSpec.objects.all():
        completed = Upload.objects.filter(policy_id=spec.policy_id, status=Upload.Status.COMPLETED)
        wanted = completed.count()
        ready = Variant.objects.filter(
            upload__in=completed, name=spec.name, status=Variant.Status.READY
        ).count()
        expected += wanted
        missing += wanted - ready
    return expected, missing


def queued() -> dict[str, int]:
    """Jobs waiting in the tasks' RQ queue, and those that ever failed there."""
    import django_rq
    from django.conf import settings

    queue = django_rq.get_queue(settings.TASKS_QUEUE)
    return {"queued": queue.count, "failed": queue.failed_job_registry.count}


def forget_queued_tasks() -> None:
    """Empty the tasks' RQ queue (where the settings name one): what is queued there belongs to
    an earlier run, whose database is gone. Two runs must not share a Redis database
    (BENCH_REDIS_URL)."""
    from django.conf import settings

    if settings.TASKS_BACKEND == "rq":
        import django_rq

        django_rq.get_queue(settings.TASKS_QUEUE).empty()


def drain(env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run the worker of the settings' tasks backend (``python -m config.worker``) until its
    queue is empty, then check the variants; the immediate backend made them within
    complete's requests, and is only checked."""
    from django.conf import settings

    backend = settings.TASKS["default"]["BACKEND"].rsplit(".", 1)[-1]
    figures: dict[str, Any] = {"backend": backend, "errors": []}
    if settings.TASKS_BACKEND == "rq":
        figures["before"] = queued()
        began = time.perf_counter()
        with open(log, "ab") as out:
            done = subprocess.run(
                [sys.executable, "-m", "config.worker", "--burst"],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=WORKER_TIMEOUT_S,
                check=False,
            )
        figures["worker_s"] = time.perf_counter() - began
        figures["after"] = after = queued()
        if done.returncode != 0:
            figures["errors"].append(f"worker exited {done.returncode} (log: {log.name})")
        if after["queued"] or after["failed"] > figures["before"]["failed"]:
            figures["errors"].append(
                f"tasks left or failed: before {figures['before']}, after {after}"
            )
        seconds = figures["worker_s"]
        ran = f"{figures['before']['queued']} tasks run after the timing, in {seconds:.0f} s"
    else:
        ran = "tasks run within the requests that enqueued them"
    expected, missing = missing_variants()
    figures |= {"variants_expected": expected, "variants_missing": missing}
    if missing:
        figures["errors"].append(f"{missing} of {expected} variants not made")
    figures["summary"] = f"{ran}; variants made {expected - missing} of {expected}"
    return figures
