"""Workers at scale (docs/scaling.md): two app servers (gunicorn, each on its own port) and two
RQ workers (`python -m config.worker`, what `make worker` runs), against one PostgreSQL
database, one Redis and SeaweedFS, each process a node of its own with the production
settings read from the environment (TASKS_BACKEND=rq).

Each upload's side effects are counted: verified (upload_completed) and scanned (by a real
clamd, the types' "clamav" check) in Redis by every process they happen in (tests/effects),
announced by the webhook receiver that got a signed, verified upload.completed event for it.
Exactly once means: every upload counted, none twice."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.backends.s3 import S3Backend
from tests.clamd import Clamd, clamd_binary
from tests.conftest import sha256_b64
from tests.effects.counts import KEY_VARIABLE, counts, forget
from tests.helpers import MP4
from tests.live import (
    ROOT,
    free_port,
    fresh_database,
    listening,
    manage,
    project_env,
    stop_process,
)
from tests.requirements import redis_url, require_module
from tests.stall_proxy import StallProxy
from tests.webhooks import Receiver, receiver_process

pytestmark = pytest.mark.live

UPLOADS = 100
AT_ONCE = 8  # clients at once


def document(n: int) -> bytes:
    """A PDF of its own for each ``n`` (the same bytes twice would be deduplicated)."""
    return b"%PDF-1.4\n%" + str(n).encode() + b"\n" + b"0" * 4000


KIND = {"document": "application/pdf", "media": "video/mp4"}


#: Larger than this (bytes), a file is verified by a worker (complete answers 202).
IN_BACKGROUND_ABOVE = 1000
#: VERIFY_LEASE of the nodes (s): a killed worker's upload is handed over this long after.
LEASE = 6
#: The side effects each upload has exactly once (tests/effects/receivers.py).
EFFECTS = ("verified", "scanned", "announced")
SETTLE_WITHIN = 90  # s


@dataclass
class Cluster:
    env: dict[str, str]
    servers: list[str]  # base URLs
    token: str
    bucket: str
    proxy: StallProxy
    s3: S3Backend
    redis_url: str
    effects_key: str
    receiver: Receiver
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def session(self) -> requests.Session:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {self.token}"
        return http

    def api(self, node: int) -> str:
        return f"{self.servers[node % len(self.servers)]}/api/v1/uploads"

    def effects(self, effect: str) -> dict[str, int]:
        if effect == "announced":
            return self.announced()
        return counts(self.redis_url, self.effects_key, effect)

    def announced(self) -> dict[str, int]:
        """Upload id -> the upload.completed events the receiver got and verified for it
        (a delivery sent again keeps its webhook-id, and would count twice here)."""
        found: dict[str, int] = {}
        for entry in self.receiver.received():
            assert entry["verified"], entry
            if entry["payload"]["type"] == "upload.completed":
                upload_id = entry["payload"]["data"]["upload"]["id"]
                found[upload_id] = found.get(upload_id, 0) + 1
        return found

    def log(self, worker: str) -> str:
        return self.logs[worker].read_text(errors="replace")


def logged(log: Path, text: str) -> Callable[[], bool]:
    return lambda: log.exists() and text in log.read_text(errors="replace")


@pytest.fixture(scope="module")
def cluster(s3_backend: S3Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_module("django_tasks_rq", "pip install django-tasks-rq")
    queue_redis = redis_url()
    var_dir = tmp_path_factory.mktemp("topology")
    with ExitStack() as stack:
        database = fresh_database(stack, "topology")
        bucket = s3_backend.new_bucket()
        port = int(s3_backend.server.endpoint.rsplit(":", 1)[1])
        proxy = StallProxy(port, b"never matched")
        stack.callback(proxy.close)
        run = f"topology-{uuid.uuid4().hex[:12]}"
        stack.callback(forget, queue_redis, run)
        clamd = Clamd(clamd_binary())
        clamd.start()
        stack.callback(clamd.stop)
        receiver = stack.enter_context(receiver_process())
        storage = s3_backend.project_env(var_dir) | {
            "AWS_STORAGE_BUCKET_NAME": bucket,
            # The storage, through a proxy that can freeze a request.
            "AWS_S3_ENDPOINT_URL": proxy.url,
        }
        env = project_env(
            var_dir,
            **storage,
            DJANGO_SETTINGS_MODULE="tests.topology_settings",
            DATABASE_URL=database,
            REDIS_URL=queue_redis,
            TASKS_BACKEND="rq",
            RQ_KEY_PREFIX=f"rq-{run}",  # this run's queue and registries only
            UPLOADS_RATE_LIMIT="10000/m",
            UPLOADS_VERIFY_IN_BACKGROUND_ABOVE=str(IN_BACKGROUND_ABOVE),
            UPLOADS_VERIFY_LEASE=str(LEASE),
            UPLOADS_CLAMD=f"unix://{clamd.socket}",
            **{KEY_VARIABLE: run},
        )
        manage(env, "migrate", "--noinput")
        ports = [free_port(), free_port()]
        servers = [f"http://127.0.0.1:{port}" for port in ports]
        printed = manage(env, "demo_user", "--base-url", servers[0])
        token = re.search(r"^Access token\s+(\S+)", printed, re.M)
        assert token, printed
        secret = manage(env, "shell", "-c", ANNOUNCE.format(hook=receiver.hook)).split()[-1]
        receiver.control(secret=secret)
        found = Cluster(
            env, servers, token.group(1), bucket, proxy, s3_backend, queue_redis, run, receiver
        )
        # All four start at once; each is waited for after.
        waits = []
        for node, port in zip("ab", ports, strict=True):
            command = [sys.executable, "-m", "gunicorn", "config.wsgi"]
            command += ["--bind", f"127.0.0.1:{port}", "--worker-class", "gthread"]
            command += ["--workers", "1", "--threads", str(AT_ONCE)]
            log = var_dir / f"gunicorn-{node}.log"
            waits.append((f"gunicorn {node}", listening(port), log))
            stack.callback(stop_process, started(command, log, env), group=True)
        for name in ("w1", "w2"):
            log = var_dir / f"worker-{name}.log"
            worker = started(WORKER + ["--name", f"{run}-{name}"], log, env)
            stack.callback(stop_process, worker, group=True)
            found.workers[name], found.logs[name] = worker, log
            waits.append((f"worker {name}", logged(log, "Listening on"), log))
        for name, ready, log in waits:
            assert until(ready, 60, pause=0.1), f"{name} did not start: {log.read_text()[-2000:]}"
        yield found


#: Both types scanned by clamd before they complete, and an endpoint that wants every
#: upload.completed event; prints the endpoint's secret.
ANNOUNCE = (
    "from uploads.models import UploadPolicy; from uploads.policies import bump_version; "
    "from uploads.webhooks.models import WebhookEndpoint; "
    "UploadPolicy.objects.filter(name__in=['document', 'media']).update(checks=['clamav']); "
    "bump_version(); "
    "print(WebhookEndpoint.objects.create(url='{hook}', events=['upload.completed']).secret)"
)

#: What `make worker` runs: the worker of the tasks backend the settings name.
WORKER = [sys.executable, "-m", "config.worker"]


def started(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``command`` started in a session of its own (its children stop with it), its output
    in ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def send(cluster: Cluster, http: requests.Session, n: int) -> dict[str, Any]:
    """Presign on one app server, PUT to storage, complete on the other: 202 verifying."""
    body = document(n)
    request = {"type": "document", "contentType": KIND["document"], "size": len(body)}
    request["sha256"] = sha256_b64(body)
    answer = http.post(f"{cluster.api(n)}/presign", json=request, timeout=60)
    assert answer.status_code == 201, answer.text
    plan = answer.json()["data"]
    sent = requests.put(plan["uploadUrl"], data=body, headers=plan["headers"], timeout=60)
    assert sent.status_code == 200, sent.text
    done = http.post(f"{cluster.api(n + 1)}/{plan['id']}/complete", timeout=60)
    assert done.status_code == 202, done.text
    assert done.json()["data"]["status"] == "verifying"
    return dict(plan)


def statuses(cluster: Cluster, http: requests.Session, ids: list[str]) -> dict[str, str]:
    listed: dict[str, str] = {}
    for n, upload_id in enumerate(ids):
        answer = http.get(f"{cluster.api(n)}/{upload_id}", timeout=60)
        listed[upload_id] = answer.json()["data"]["status"]
    return listed


def until(check: Callable[[], Any], within: float, pause: float = 0.25) -> Any:
    """``check()``'s first truthy answer, or its last one after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        answer = check()
        if answer or time.monotonic() > deadline:
            return answer
        time.sleep(pause)


def test_a_hundred_uploads_over_two_servers_are_each_verified_once_by_two_workers(
    cluster: Cluster,
) -> None:
    sessions = [cluster.session() for _ in range(AT_ONCE)]
    with ThreadPoolExecutor(AT_ONCE) as pool:
        plans = list(pool.map(lambda n: send(cluster, sessions[n % AT_ONCE], n), range(UPLOADS)))
    ids = [plan["id"] for plan in plans]

    http = cluster.session()
    pending = list(ids)

    def all_settled() -> bool:
        pending[:] = [i for i, s in statuses(cluster, http, pending).items() if s == "verifying"]
        return not pending

    assert until(all_settled, SETTLE_WITHIN, pause=1), f"still verifying: {pending}"
    assert set(statuses(cluster, http, ids).values()) == {"completed"}
    for effect in EFFECTS:
        until(lambda: len(cluster.effects(effect)) >= UPLOADS, 30)  # noqa: B023
        assert cluster.effects(effect) == {i: 1 for i in ids}, effect
    # Both workers took a share.
    for name in cluster.workers:
        assert cluster.log(name).count("uploads.tasks.verify_upload(") > 0, name
    for plan in plans[:3]:
        assert cluster.s3.read(plan["key"], cluster.bucket) == document(plans.index(plan))
        assert cluster.s3.read(f"staging/{plan['key']}", cluster.bucket) is None


def children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in found]


def test_a_worker_killed_mid_verification_is_replaced_by_the_other(cluster: Cluster) -> None:
    """One worker's run is frozen on its read of the file (the proxy holds it), then the
    worker and its work horse are SIGKILLed: nothing settles the upload until its lease lapses;
    then uploads_cleanup (as cron runs it on every node) enqueues it again, and the other
    worker completes it. Verified once; within LEASE plus a few cleanup rounds."""
    http = cluster.session()
    body = document(UPLOADS)
    request = {"type": "document", "contentType": KIND["document"], "size": len(body)}
    plan = http.post(f"{cluster.api(0)}/presign", json=request, timeout=60).json()["data"]
    sent = requests.put(plan["uploadUrl"], data=body, headers=plan["headers"], timeout=60)
    assert sent.status_code == 200, sent.text
    cluster.proxy.marker = f"GET /{cluster.bucket}/staging/{plan['key']}".lower().encode()
    cluster.proxy.held = 0
    cluster.proxy.stalling.set()
    done = http.post(f"{cluster.api(1)}/{plan['id']}/complete", timeout=60)
    assert done.status_code == 202, done.text

    assert until(lambda: cluster.proxy.held, 60), "no worker read the file"
    taken = [n for n in cluster.workers if plan["id"] in cluster.log(n)]
    assert len(taken) == 1, taken
    victim = cluster.workers[taken[0]]
    horses = children(victim.pid)
    os.killpg(victim.pid, signal.SIGKILL)  # the worker, and its scheduler
    for horse in horses:  # the work horse runs in a process group of its own
        os.kill(horse, signal.SIGKILL)
    victim.wait()
    killed_at = time.monotonic()
    cluster.proxy.stalling.clear()
    (survivor,) = set(cluster.workers) - set(taken)

    swept: list[str] = []

    def cron_round() -> str:
        swept.append(manage(cluster.env, "uploads_cleanup"))
        return str(statuses(cluster, http, [plan["id"]])[plan["id"]])

    assert until(lambda: cron_round() == "completed", SETTLE_WITHIN, pause=1), swept
    handed_over = sum(int(n) for out in swept for n in ENQUEUED.findall(out))
    assert handed_over == 1, swept  # by one cleanup round, once its lease lapsed
    assert plan["id"] in cluster.log(survivor)
    for effect in EFFECTS:
        until(lambda: cluster.effects(effect).get(plan["id"]), 30)  # noqa: B023
        assert cluster.effects(effect)[plan["id"]] == 1, effect
    assert cluster.s3.read(plan["key"], cluster.bucket) == body
    print(f"killed worker's upload completed {time.monotonic() - killed_at:.1f} s after the kill")


ENQUEUED = re.compile(r"Enqueued again (\d+) verifications")
SWEPT = re.compile(r"Swept (\d+) uploads: expired (\d+), deleted (\d+) objects")
STALE = 8
LAPSED = 5
BATCH = 4
ON_CUE = (
    "import sys; from django.core.management import call_command; print('ready', flush=True); "
    "sys.stdin.readline(); call_command(*{command})"
)
AGE = (
    "from datetime import timedelta; from django.utils import timezone; "
    "from uploads.models import Upload; now = timezone.now(); "
    "Upload.objects.filter(pk__in={stale}).update(expires_at=now - timedelta(hours=2)); "
    "Upload.objects.filter(pk__in={lapsed}).update(status='verifying', verify_attempt=1, "
    "verify_lease_until=now - timedelta(seconds=1))"
)


def sent_only(cluster: Cluster, http: requests.Session, kind: str, body: bytes) -> dict[str, Any]:
    """An upload presigned and sent to storage, not completed."""
    request = {"type": kind, "contentType": KIND[kind], "size": len(body)}
    answer = http.post(f"{cluster.api(0)}/presign", json=request, timeout=60)
    assert answer.status_code == 201, answer.text
    plan = answer.json()["data"]
    sent = requests.put(plan["uploadUrl"], data=body, headers=plan["headers"], timeout=60)
    assert sent.status_code == 200, sent.text
    return dict(plan)


def test_uploads_cleanup_on_two_nodes_at_once_does_each_thing_once(cluster: Cluster) -> None:
    """Two nodes' cron start uploads_cleanup at once: the second runs whole while the first
    holds its first batch (the proxy holds the first's first look at storage). Each stale
    upload is expired and its object deleted by one of them, each lapsed verification
    enqueued again by one, and then verified once."""
    http = cluster.session()
    stale_plans = [sent_only(cluster, http, "media", MP4 + bytes([n]) * 200) for n in range(STALE)]
    stale = [plan["id"] for plan in stale_plans]
    lapsed = [
        sent_only(cluster, http, "document", document(UPLOADS + 1 + n))["id"] for n in range(LAPSED)
    ]
    # URLs expired past the grace; runs whose worker died (the state the test above makes).
    manage(cluster.env, "shell", "-c", AGE.format(stale=stale, lapsed=lapsed))

    command = ["uploads_cleanup", "--batch-size", str(BATCH)]
    # The second node's run, started and waiting: it must be done within the first's storage
    # read timeout (UPLOADS["STORAGE_READ_TIMEOUT"]), after which the first's held request is
    # tried again.
    second = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", ON_CUE.format(command=command)],
        cwd=ROOT,
        env=cluster.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert second.stdout is not None and second.stdin is not None
    assert second.stdout.readline() == "ready\n", second.stderr
    outputs: list[str] = []

    def run_second() -> None:
        out, err = second.communicate("go\n", timeout=60)
        assert second.returncode == 0, err
        outputs.append(out)

    # The first look of the first batch: at the staging object of the first upload by id.
    first = min(stale_plans, key=lambda plan: uuid.UUID(plan["id"]))
    cluster.proxy.marker = f"HEAD /{cluster.bucket}/staging/{first['key']}".lower().encode()
    cluster.proxy.held = 0
    cluster.proxy.meanwhile = run_second
    cluster.proxy.stalling.set()
    try:
        outputs.append(manage(cluster.env, *command))
    finally:
        cluster.proxy.meanwhile = None
        cluster.proxy.stalling.clear()
        if second.poll() is None:
            second.kill()
            second.wait()
    assert cluster.proxy.failure is None, cluster.proxy.failure
    assert cluster.proxy.held == 1 and len(outputs) == 2, outputs  # they overlapped

    swept = [tuple(int(n) for n in SWEPT.findall(out)[-1]) for out in outputs]
    assert [sum(column) for column in zip(*swept, strict=True)] == [STALE, STALE, STALE], outputs
    # The second swept all but the first's batch, which it skipped (locked).
    assert [node[0] for node in swept] == [STALE - BATCH, BATCH], outputs
    handed_over = sum(int(n) for out in outputs for n in ENQUEUED.findall(out))
    assert handed_over == LAPSED, outputs
    assert set(statuses(cluster, http, stale).values()) == {"expired"}
    assert until(
        lambda: set(statuses(cluster, http, lapsed).values()) == {"completed"}, SETTLE_WITHIN, 1
    )
    for effect in EFFECTS:
        until(lambda: all(cluster.effects(effect).get(i) for i in lapsed), 30)  # noqa: B023
        assert [cluster.effects(effect)[i] for i in lapsed] == [1] * LAPSED, effect
