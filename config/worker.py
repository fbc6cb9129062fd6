"""`make worker`: start the worker of the tasks backend the settings name (TASKS["default"]):
`manage.py db_worker` for django-tasks-db, `manage.py rqworker` for django-tasks-rq; a backend
that runs tasks in the web process itself has no worker, and says so.

    python -m config.worker            # extra arguments go to the worker command
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def worker_command(backend: str, queues: list[str]) -> list[str] | None:
    """The manage.py arguments of the worker for the tasks backend at dotted path
    ``backend`` listening on ``queues``; None for one that needs no worker process."""
    if backend.startswith("django_tasks_db."):
        return ["db_worker", "--queue-name", ",".join(queues)] if queues else ["db_worker"]
    if backend.startswith("django_tasks_rq."):
        # RQ's own Job class runs plain functions: Django's tasks need django-tasks-rq's.
        # The scheduler runs tasks deferred with run_after when they are due.
        return ["rqworker", "--job-class", "django_tasks_rq.Job", "--with-scheduler", *queues]
    return None


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.conf import settings

    django.setup()
    config = settings.TASKS["default"]
    backend = config["BACKEND"]
    # django-tasks-rq's default: every queue of RQ_QUEUES.
    queues = config.get("QUEUES") or list(getattr(settings, "RQ_QUEUES", {}))
    command = worker_command(backend, list(queues))
    if command is None:
        print(
            f"The tasks backend is {backend}: it runs each task in the process that enqueues "
            "it, so there is no worker to start. Set TASKS_BACKEND=database or "
            "TASKS_BACKEND=rq (docs/scaling.md).",
            file=sys.stderr,
        )
        return 2
    manage = [sys.executable, str(ROOT / "manage.py"), *command, *argv]
    print(" ".join(manage[1:]), file=sys.stderr)
    sys.stderr.flush()
    os.execv(sys.executable, manage)  # the worker is this process: signals reach it


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
