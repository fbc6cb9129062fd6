"""Complete checks a large file in a background task (Django's tasks framework): it answers
202 with the upload verifying, the task settles it (completed, or rejected with its object
deleted) with the same signals as complete, a lost task is made good by the sweep, and a
real worker process (the database backend's db_worker) does it for the project."""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from importlib.util import find_spec
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import requests
import time_machine
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from tests.backends import s3
from tests.conftest import sha256_b64
from tests.helpers import (
    MP4,
    assert_error,
    assert_ok,
    assert_verifying,
    complete,
    staged,
    stored,
    stored_bytes,
)
from tests.live import ROOT, demo_site, manage, media_in_parts, running, start_process
from tests.stall_proxy import stall_proxy
from uploads.models import Upload, UploadPolicy
from uploads.services import lease
from uploads.signals import upload_completed, upload_rejected
from uploads.signers.local import LocalSigner
from uploads.tasks import LOST_RUN, verify_upload

TASKS_PACKAGE = "django.tasks" if find_spec("django.tasks") else "django_tasks"
ABOVE = 1000
BIG = MP4 + b"\x00" * 4000  # over ABOVE
SMALL = MP4  # under it


@pytest.fixture(autouse=True)
def _background_above_1000_bytes(settings: Any) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "VERIFY_IN_BACKGROUND_ABOVE": ABOVE}


@pytest.fixture
def queued(settings: Any) -> Iterator[list[Any]]:
    """A backend that keeps tasks and runs none, as a worker that has not got to them yet
    (or died); yields the tasks enqueued."""
    settings.TASKS = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.dummy.DummyBackend"}}
    backends = __import__(TASKS_PACKAGE, fromlist=["task_backends"]).task_backends
    backend = backends["default"]
    yield backend.results
    backend.results.clear()


@pytest.fixture
def signals() -> Iterator[list[tuple[str, str]]]:
    """(signal, upload status) for each upload signal sent."""
    sent: list[tuple[str, str]] = []

    def on_completed(upload: Upload, **_: Any) -> None:
        sent.append(("completed", upload.status))

    def on_rejected(upload: Upload, **_: Any) -> None:
        sent.append(("rejected", upload.status))

    upload_completed.connect(on_completed, dispatch_uid="bg-completed")
    upload_rejected.connect(on_rejected, dispatch_uid="bg-rejected")
    yield sent
    upload_completed.disconnect(dispatch_uid="bg-completed")
    upload_rejected.disconnect(dispatch_uid="bg-rejected")


def send_video(api: APIClient, put: Any, body: bytes, **fields: Any) -> dict[str, Any]:
    request = {"type": "media", "contentType": "video/mp4", "size": len(body), **fields}
    answer = assert_ok(api.post("/api/v1/uploads/presign", request, format="json"), 201)
    assert put(answer, body).status_code == 200
    return dict(answer)


def get(api: APIClient, upload_id: str) -> dict[str, Any]:
    return dict(assert_ok(api.get(f"/api/v1/uploads/{upload_id}")))


@pytest.mark.django_db
def test_a_large_file_is_verified_in_the_background_a_small_one_at_once(
    api: APIClient,
    put: Any,
    signals: list[tuple[str, str]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    small = send_video(api, put, SMALL)
    assert assert_ok(complete(api, small["id"]))["status"] == "completed"  # 200, as ever

    big = send_video(api, put, BIG, sha256=sha256_b64(BIG))
    with django_capture_on_commit_callbacks(execute=True):
        assert_verifying(complete(api, big["id"]))
    done = get(api, big["id"])
    assert (done["status"], done["size"], done["sha256"]) == (
        "completed",
        len(BIG),
        sha256_b64(BIG),
    )
    assert done["completedAt"]
    assert stored_bytes(big["key"]) == BIG and not staged(big["key"])
    assert signals == [("completed", "completed")]  # sent once the task settled it
    # Completing it again changes nothing.
    assert assert_ok(complete(api, big["id"]))["status"] == "completed"


@pytest.mark.django_db
def test_while_it_is_verified_the_upload_shows_so_and_complete_answers_202_again(
    api: APIClient, put: Any, queued: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    big = send_video(api, put, BIG)
    with django_capture_on_commit_callbacks(execute=True):
        assert_verifying(complete(api, big["id"]))
    with django_capture_on_commit_callbacks(execute=True):
        assert_verifying(complete(api, big["id"]))  # a client that asks again: no second task
    assert [r.args for r in queued] == [[big["id"]]]

    assert get(api, big["id"])["status"] == "verifying"
    listed = assert_ok(api.get("/api/v1/uploads?status=verifying"))
    assert [u["id"] for u in listed] == [big["id"]]
    download = api.get(f"/api/v1/uploads/{big['id']}/download")
    assert_error(download, 409, "upload.invalid_state")  # not completed yet

    with django_capture_on_commit_callbacks(execute=True):
        assert verify_upload.call(big["id"]) == "completed"  # the worker gets to it
    assert get(api, big["id"])["status"] == "completed"
    assert stored_bytes(big["key"]) == BIG
    assert verify_upload.call(big["id"]) == "missing"  # run twice: nothing more happens


@pytest.mark.django_db
def test_a_file_refused_in_the_background_is_rejected_and_deleted(
    api: APIClient,
    put: Any,
    signals: list[tuple[str, str]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    big = send_video(api, put, b"\x00" * 5000)  # not an MP4
    with django_capture_on_commit_callbacks(execute=True):
        assert_verifying(complete(api, big["id"]))
    done = get(api, big["id"])
    assert done["status"] == "rejected"
    assert "bytes are not video/mp4" in done["rejectionReason"]
    assert not stored(big["key"]) and not staged(big["key"])
    assert signals == [("rejected", "rejected")]
    assert Upload.objects.get(pk=big["id"]).verify_lease_until is None  # the run's lease ended


@pytest.mark.django_db
def test_an_upload_deleted_while_it_is_verified_leaves_nothing(
    api: APIClient, put: Any, queued: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    big = send_video(api, put, BIG)
    with django_capture_on_commit_callbacks(execute=True):
        assert_verifying(complete(api, big["id"]))
    with django_capture_on_commit_callbacks(execute=True):
        assert assert_ok(api.delete(f"/api/v1/uploads/{big['id']}"))["status"] == "deleted"
    assert verify_upload.call(big["id"]) == "missing"
    assert not stored(big["key"]) and not staged(big["key"])


@pytest.mark.django_db
def test_the_sweep_verifies_an_upload_whose_task_was_lost(
    api: APIClient,
    put: Any,
    queued: list[Any],
    signals: list[tuple[str, str]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    big = send_video(api, put, BIG)
    with django_capture_on_commit_callbacks(execute=True):
        assert_verifying(complete(api, big["id"]))  # enqueued, and the queue is then lost
    upload = Upload.objects.get(pk=big["id"])

    out = StringIO()
    call_command("uploads_cleanup", stdout=out)  # within the grace: the task may yet run
    assert Upload.objects.get(pk=upload.pk).status == "verifying"
    assert staged(big["key"])

    # Past the grace, and past the upload URL's expiry: the sweep verifies the file rather
    # than clearing it away as an expired upload's leftover.
    later = max(
        upload.expires_at + timedelta(seconds=3600), timezone.now() + timedelta(seconds=3600)
    ) + timedelta(minutes=1)
    with time_machine.travel(later), django_capture_on_commit_callbacks(execute=True):
        call_command("uploads_cleanup", stdout=out)
    assert "Verified 1 uploads whose background check was lost." in out.getvalue()
    assert Upload.objects.get(pk=upload.pk).status == "completed"
    assert stored_bytes(big["key"]) == BIG
    assert signals == [("completed", "completed")]


@pytest.mark.django_db(transaction=True)
def test_the_file_is_hashed_outside_any_transaction(
    api: APIClient, put: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No row lock (and on SQLite no write lock) is held for the time hashing takes: the
    task reads the file in autocommit and locks the row only to record the outcome."""
    in_transaction: list[bool] = []
    hash_file = LocalSigner.compute_sha256

    def watched(self: LocalSigner, key: str) -> str:
        in_transaction.append(connection.in_atomic_block)
        return hash_file(self, key)

    monkeypatch.setattr(LocalSigner, "compute_sha256", watched)
    # Longer than SNIFF_BYTES: a video is read by its head only, then hashed by the storage
    # (a file read whole is hashed from the bytes read, with no call of its own).
    longer = BIG + b"\x00" * 4096
    big = send_video(api, put, longer, sha256=sha256_b64(longer))
    assert_verifying(complete(api, big["id"]))  # committed: the immediate backend ran it then
    assert get(api, big["id"])["status"] == "completed"
    assert in_transaction and not any(in_transaction)


# --- a run whose worker died -----------------------------------------------------------


def past_the_lease() -> Any:
    """The clock once a lease taken now has lapsed."""
    return time_machine.travel(timezone.now() + timedelta(seconds=LEASE + 1), tick=False)


LEASE = 120  # the default VERIFY_LEASE


@pytest.mark.django_db
def test_the_sweep_leaves_a_live_run_alone_and_hands_a_lapsed_one_to_a_new_task(
    api: APIClient, put: Any, queued: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    big = send_video(api, put, BIG)
    with django_capture_on_commit_callbacks(execute=True):
        assert_verifying(complete(api, big["id"]))
    assert lease.claim(big["id"]) == 1  # a worker took it, and then died
    out = StringIO()
    call_command("uploads_cleanup", stdout=out)  # its lease holds: nothing to do
    assert len(queued) == 1 and "Enqueued again" not in out.getvalue()

    with past_the_lease(), django_capture_on_commit_callbacks(execute=True):
        call_command("uploads_cleanup", stdout=out)
        assert "Enqueued again 1 verifications whose worker was lost." in out.getvalue()
        assert [r.args for r in queued] == [[big["id"]], [big["id"]]]
        call_command("uploads_cleanup", stdout=out)  # once is enough
        assert len(queued) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert verify_upload.call(big["id"]) == "completed"  # the new task
    assert get(api, big["id"])["status"] == "completed"


@pytest.mark.django_db
@pytest.mark.parametrize("before_copy", [True, False], ids=["before-copy", "after-copy"])
def test_a_run_that_lost_its_lease_cannot_settle_the_upload_when_it_wakes_up(
    before_copy: bool,
    api: APIClient,
    put: Any,
    queued: list[Any],
    signals: list[tuple[str, str]],
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The first run freezes while it checks the staged file (before the copy) or the copy
    (after it) for longer than its lease; the sweep hands the upload to a new run, which
    settles it. Then the first run wakes up: it settles nothing, copies nothing more."""
    # Copied, as a file over it is (BIG is read whole: it would be written).
    settings.UPLOADS = {**settings.UPLOADS, "WRITE_VERIFIED_UP_TO": 0}
    big = send_video(api, put, BIG)
    with django_capture_on_commit_callbacks(execute=True):
        assert_verifying(complete(api, big["id"]))
    original = LocalSigner.read_object
    late: list[str] = []
    copies: list[str] = []
    promote = LocalSigner.promote

    def counted(self: LocalSigner, *args: Any, **kwargs: Any) -> None:
        copies.append(args[1])
        promote(self, *args, **kwargs)

    def frozen(self: LocalSigner, key: str, length: int) -> Any:
        answer = original(self, key, length)
        if not late and key.startswith("staging/") == before_copy:
            # The first run, frozen here (it read what it read) while time passes.
            late.append("frozen")
            with past_the_lease(), django_capture_on_commit_callbacks(execute=True):
                call_command("uploads_cleanup", stdout=StringIO())
                late.append(verify_upload.call(big["id"]))
        return answer

    monkeypatch.setattr(LocalSigner, "read_object", frozen)
    monkeypatch.setattr(LocalSigner, "promote", counted)
    assert verify_upload.call(big["id"]) == "superseded"  # and nothing to do on commit
    assert late == ["frozen", "completed"]
    assert get(api, big["id"])["status"] == "completed"
    assert signals == [("completed", "completed")]
    assert stored_bytes(big["key"]) == BIG and not staged(big["key"])
    assert len(copies) == (1 if before_copy else 2)


@pytest.mark.django_db(transaction=True)
def test_a_run_that_outlasts_its_lease_keeps_it_while_it_works(
    api: APIClient, put: Any, queued: list[Any], settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The heartbeat renews the lease of a run that takes longer than the lease (outside any
    transaction, as in a worker): the sweep meanwhile finds it held and enqueues nothing."""
    settings.UPLOADS = {**settings.UPLOADS, "VERIFY_LEASE": 1}
    # An earlier transactional test flushed the shipped upload types away.
    UploadPolicy.objects.get_or_create(
        name="media",
        defaults={
            "label": "Media",
            "allowed_content_types": ["video/mp4"],
            "max_size": 50 * 1024**2,
            "key_prefix": "media",
        },
    )
    big = send_video(api, put, BIG)
    assert_verifying(complete(api, big["id"]))
    original = LocalSigner.read_object
    seen: list[str] = []

    def slow(self: LocalSigner, key: str, length: int) -> Any:
        if not seen:
            first = Upload.objects.get(pk=big["id"]).verify_lease_until
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # until the heartbeat renewed it (0.25 s)
                if Upload.objects.get(pk=big["id"]).verify_lease_until != first:
                    seen.append("renewed")
                    break
                time.sleep(0.05)
            out = StringIO()
            call_command("uploads_cleanup", stdout=out)
            seen.append(out.getvalue())
        return original(self, key, length)

    monkeypatch.setattr(LocalSigner, "read_object", slow)
    assert verify_upload.call(big["id"]) == "completed"
    assert seen[0] == "renewed" and "Enqueued again" not in seen[1]
    assert len(queued) == 1


# --- a real worker -----------------------------------------------------------------------


PART = 5 * 1024 * 1024
VIDEO = MP4 + bytes(range(256)) * (11 * 4096)  # 11 MiB and a bit: three parts


@pytest.mark.live
def test_a_worker_process_completes_a_large_multipart_upload(tmp_path: Path) -> None:
    """The project on the database task backend: complete answers 202 and nothing settles
    the upload until `manage.py db_worker` runs, which verifies the whole file's sha256."""
    with demo_site(tmp_path, setup=media_in_parts(PART), TASKS_BACKEND="database") as site:
        env, base = site.env, site.base
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {site.shown('Access token')}"
        api = f"{base}/api/v1/uploads"

        body = {"type": "media", "contentType": "video/mp4", "size": len(VIDEO)}
        body["sha256"] = sha256_b64(VIDEO)
        plan = http.post(f"{api}/presign", json=body, timeout=30).json()["data"]
        assert plan["multipart"] == {"partSize": PART, "partCount": 3}
        numbers = {"partNumbers": [1, 2, 3]}
        parts = http.post(f"{api}/{plan['id']}/parts", json=numbers, timeout=30).json()["data"]
        for part in parts["parts"]:
            n = part["partNumber"]
            sent = requests.request(
                part["method"],
                part["url"],
                data=VIDEO[(n - 1) * PART : n * PART],
                headers=part["headers"],
                timeout=30,
            )
            assert sent.status_code == 200 and sent.json()["success"] is True, sent.text

        answer = http.post(f"{api}/{plan['id']}/complete", timeout=60)
        assert answer.status_code == 202, answer.text
        assert answer.json()["data"]["status"] == "verifying"
        assert http.get(f"{api}/{plan['id']}", timeout=30).json()["data"]["status"] == "verifying"

        worker = [sys.executable, "manage.py", "db_worker", "--no-reload", "--interval", "0.1"]
        with running(worker, ready=lambda: True, timeout=10, name="db_worker", cwd=ROOT, env=env):
            # What a client does after a 202: look again until it is settled.
            deadline = time.monotonic() + 60
            while True:
                done = http.get(f"{api}/{plan['id']}", timeout=30).json()["data"]
                if done["status"] != "verifying" or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        assert (done["status"], done["size"], done["sha256"]) == (
            "completed",
            len(VIDEO),
            sha256_b64(VIDEO),
        )
        download = http.get(f"{api}/{plan['id']}/download", timeout=30).json()["data"]["url"]
        fetched = requests.get(download, timeout=30).content
        assert hashlib.sha256(fetched).digest() == hashlib.sha256(VIDEO).digest()


AGE_THE_LEASE = (
    "from datetime import timedelta; from django.utils import timezone; "
    "from uploads.models import Upload; Upload.objects.filter(status='verifying')"
    ".update(verify_lease_until=timezone.now() - timedelta(seconds=1))"
)
TASK_ROWS = (
    "from django_tasks_db.models import DBTaskResult; "
    "print(sorted((r.status, r.return_value, r.exception_class_path) "
    "for r in DBTaskResult.objects.all()))"
)


def settled(http: requests.Session, url: str) -> dict[str, Any]:
    """What a client does after a 202: look again until the upload is no longer verifying."""
    deadline = time.monotonic() + 60
    while True:
        done: dict[str, Any] = http.get(url, timeout=30).json()["data"]
        if done["status"] != "verifying" or time.monotonic() > deadline:
            return done
        time.sleep(0.2)


@pytest.mark.live
def test_a_worker_killed_mid_verification_is_replaced_and_the_upload_settled_once(
    tmp_path: Path, s3_backend: Any
) -> None:
    """db_worker is SIGKILLed while it reads the file (S3 frozen on that read by a proxy):
    its task row stays RUNNING and the upload verifying. Once its lease lapsed the sweep
    marks the row failed and enqueues a new task, which the next worker runs: the upload is
    completed once, with one copy at its key."""
    port = int(s3_backend.server.endpoint.rsplit(":", 1)[1])
    with stall_proxy(port, f"GET /{s3.BUCKET}/staging/".encode()) as proxy:
        env = s3_backend.project_env(tmp_path) | {
            "AWS_S3_ENDPOINT_URL": proxy.url,
            "TASKS_BACKEND": "database",
        }
        with demo_site(tmp_path, setup=media_in_parts(PART), **env) as site:
            http = requests.Session()
            http.headers["Authorization"] = f"Bearer {site.shown('Access token')}"
            api = f"{site.base}/api/v1/uploads"
            body = {"type": "media", "contentType": "video/mp4", "size": len(VIDEO)}
            plan = http.post(f"{api}/presign", json=body, timeout=30).json()["data"]
            numbers = {"partNumbers": [1, 2, 3]}
            parts = http.post(f"{api}/{plan['id']}/parts", json=numbers, timeout=30)
            for part in parts.json()["data"]["parts"]:
                n = part["partNumber"]
                sent = requests.request(
                    part["method"],
                    part["url"],
                    data=VIDEO[(n - 1) * PART : n * PART],
                    headers=part["headers"],
                    timeout=30,
                )
                assert sent.status_code == 200, sent.text  # S3's UploadPart
            answer = http.post(f"{api}/{plan['id']}/complete", timeout=60)
            assert answer.status_code == 202, answer.text

            proxy.stalling.set()  # the worker's read of the file will hang
            worker = [sys.executable, "manage.py", "db_worker", "--no-reload", "--interval", "0.1"]
            first = start_process(
                worker, ready=lambda: True, timeout=10, name="db_worker", cwd=ROOT, env=site.env
            )
            try:
                deadline = time.monotonic() + 60
                while not proxy.held and first.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert proxy.held, "the worker never read the file"
            finally:
                first.kill()  # SIGKILL, mid-verification
                first.wait()
            proxy.stalling.clear()

            assert "Enqueued again" not in manage(site.env, "uploads_cleanup")  # lease holds
            assert http.get(f"{api}/{plan['id']}", timeout=30).json()["data"]["status"] == (
                "verifying"
            )
            manage(site.env, "shell", "-c", AGE_THE_LEASE)  # VERIFY_LEASE passes
            swept = manage(site.env, "uploads_cleanup")
            assert "Enqueued again 1 verifications whose worker was lost." in swept

            with running(
                worker, ready=lambda: True, timeout=10, name="db_worker", cwd=ROOT, env=site.env
            ):
                done = settled(http, f"{api}/{plan['id']}")
            assert (done["status"], done["size"]) == ("completed", len(VIDEO))
            rows = manage(site.env, "shell", "-v", "0", "-c", TASK_ROWS).strip()
            assert rows == str([("FAILED", None, LOST_RUN), ("SUCCESSFUL", "completed", "")])
            assert s3_backend.read(plan["key"]) == VIDEO
            assert s3_backend.read(f"staging/{plan['key']}") is None
