"""`make worker` (python -m config.worker) starts the worker of the tasks backend the settings
name; the immediate backend has none, and says so. The RQ worker itself runs in
tests/test_topology.py, db_worker in tests/test_background_verify.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis
import rq

from config.rq_queue import Queue
from config.worker import worker_command
from tests.live import ROOT, manage, project_env
from tests.requirements import redis_url
from tests.round_trips import RoundTripProxy


def test_each_backend_gets_its_own_worker_command() -> None:
    assert worker_command("django_tasks_db.DatabaseBackend", []) == ["db_worker"]
    assert worker_command("django_tasks_rq.RQBackend", ["default", "slow"]) == [
        "rqworker",
        "--job-class",
        "django_tasks_rq.Job",
        "--with-scheduler",
        "default",
        "slow",
    ]
    assert worker_command("django.tasks.backends.immediate.ImmediateBackend", []) is None


def worker(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "config.worker", "--help"],
        cwd=ROOT,
        env=project_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_immediate_backend_has_no_worker_and_says_so(tmp_path: Path) -> None:
    answer = worker(tmp_path, TASKS_BACKEND="immediate")

    assert answer.returncode == 2
    assert "there is no worker to start" in answer.stderr
    assert "TASKS_BACKEND=database or TASKS_BACKEND=rq" in answer.stderr


def test_the_rq_backend_starts_rqworker_with_django_tasks_rqs_job_class(tmp_path: Path) -> None:
    # --help: the command it became answers, and nothing connects to Redis.
    answer = worker(tmp_path, TASKS_BACKEND="rq", REDIS_URL="redis://127.0.0.1:1/0")

    assert answer.returncode == 0, answer.stderr
    assert "rqworker --job-class django_tasks_rq.Job --with-scheduler default" in answer.stderr
    assert answer.stdout.startswith("usage: manage.py rqworker")


def test_the_rq_backend_without_a_redis_url_stops_naming_the_variables(tmp_path: Path) -> None:
    answer = worker(tmp_path, TASKS_BACKEND="rq")

    assert answer.returncode != 0
    assert "set TASKS_REDIS_URL (or REDIS_URL" in answer.stderr


def test_enqueueing_on_rq_reuses_one_connection_to_redis(tmp_path: Path) -> None:
    """django-rq connects afresh for each job from a URL; the project's queue goes through a
    cache whose pooled connection every enqueue reuses (config.settings, RQ_QUEUES), and is
    of the project's queue class."""
    url = redis_url()
    with RoundTripProxy.in_front_of(url) as proxy:
        env = project_env(tmp_path, TASKS_BACKEND="rq", REDIS_URL=proxy.through(url))
        printed = manage(env, "shell", "-c", ENQUEUE_TEN)
        assert printed.split()[-2:] == ["config.rq_queue.Queue", "10"]  # all ten queued
    assert proxy.connections == 1


#: Ten jobs enqueued through Django's tasks (the verification task, with ids nothing has) on
#: an emptied queue; prints the queue's class and how many it holds, then empties it.
ENQUEUE_TEN = (
    "import django_rq; from uploads.tasks import verify_upload; "
    "from django.conf import settings; "
    "q = django_rq.get_queue(settings.TASKS['default']['QUEUES'][0]); q.empty(); "
    "[verify_upload.enqueue(str(i)) for i in range(10)]; "
    "print(f'{type(q).__module__}.{type(q).__name__}', q.count); q.empty()"
)


class Sends(redis.Connection):
    """A connection to Redis that counts its requests (a pipeline is one)."""

    count = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).count += 1
        super().send_packed_command(command, check_health)


@pytest.mark.parametrize(("queue_class", "requests"), [(Queue, 1), (rq.Queue, 2)])
def test_the_projects_rq_queue_enqueues_in_one_round_trip(
    queue_class: type[rq.Queue], requests: int
) -> None:
    """RQ registers the queue's name, then saves and pushes the job: in one pipeline with
    the project's queue class (config/rq_queue.py), in two without it."""
    pool = redis.ConnectionPool.from_url(redis_url(), connection_class=Sends)
    queue = queue_class("h19-one-trip", connection=redis.Redis(connection_pool=pool))
    queue.empty()
    queue.enqueue_job(queue.create_job("math.floor", args=(1.5,)))  # reads the server's version
    before = Sends.count

    for _ in range(5):
        queue.enqueue_job(queue.create_job("math.floor", args=(1.5,)))

    assert Sends.count - before == 5 * requests
    assert queue.count == 6
    queue.empty()
