"""Webhook deliveries per second to a local receiver that verifies every one with the
standardwebhooks library (tests/webhook_receiver.py, a Python ThreadingHTTPServer), sent by
one or more `manage.py uploads_deliver_webhooks` processes at once, each with its threads.

Run from the project root: ``.venv/bin/python bench/webhooks.py [--events 2000]
[--runs 1x1,1x8,2x4]``; on PostgreSQL when DATABASE_URL names one (a scratch database beside it),
else SQLite. See bench/README.md ("Webhooks") for what it measures and how to read it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import isolated_environment, setup_django  # noqa: E402
from tests.webhooks import START_SECRET, receiver_process  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument(
        "--runs",
        default="1x1,1x8,2x4",
        help="Comma-separated PROCESSESxTHREADS: uploads_deliver_webhooks processes at once, "
        "each sending THREADS at a time.",
    )
    args = parser.parse_args()
    ok = True
    with isolated_environment() as (env, _var_dir):
        setup_django(env)
        from django.core.management import call_command
        from django.db import connection, connections

        from uploads.webhooks import events
        from uploads.webhooks.models import WebhookDelivery, WebhookEndpoint

        call_command("migrate", interactive=False, verbosity=0)
        print(f"database: {connection.vendor}, events per run: {args.events}")
        with receiver_process() as receiver:
            receiver.control(secret=START_SECRET)
            endpoint = WebhookEndpoint.objects.create(
                url=receiver.hook, events=["upload.completed"], secret=START_SECRET
            )
            for run in args.runs.split(","):
                senders, threads = (int(n) for n in run.split("x"))
                receiver.control(reset=True)
                WebhookDelivery.objects.all().delete()
                upload = {"id": "x", "status": "completed", "key": "bench/x.png"}
                started = time.perf_counter()
                for _ in range(args.events):
                    events.emit("upload.completed", {"upload": upload, "ownerId": "1"})
                recorded = time.perf_counter() - started
                connections.close_all()

                command = [sys.executable, "manage.py", "uploads_deliver_webhooks"]
                command += ["--limit", str(args.events), "--threads", str(threads)]
                started = time.perf_counter()
                workers = [
                    subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
                    for _ in range(senders)
                ]
                codes = [worker.wait() for worker in workers]
                sent = time.perf_counter() - started

                received = receiver.received()
                ids = Counter(r["id"] for r in received)
                arrivals = sorted(r["at"] for r in received)
                span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
                steady = (len(arrivals) - 1) / span if span else 0.0
                delivered = WebhookDelivery.objects.filter(status="delivered").count()
                valid = (
                    codes == [0] * senders
                    and delivered == args.events
                    and len(ids) == args.events
                    and all(r["verified"] for r in received)
                )
                ok = ok and valid
                print(
                    f"{senders} process(es) x {threads} thread(s): "
                    f"recorded {args.events / recorded:.0f} events/s; "
                    f"delivered {delivered}: {steady:.0f}/s from the first arrival to the last, "
                    f"{delivered / sent:.0f}/s over {sent:.1f} s with the processes' start; "
                    f"received {len(received)}, "
                    f"{sum(n - 1 for n in ids.values())} twice"
                    + ("" if valid else "  FAILED: NOT VALID")
                )
            endpoint.delete()
        connections.close_all()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
