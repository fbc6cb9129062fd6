"""Checks before publication (issue 17): an upload type's ordered checks run on the staged
file after the built-in ones and before it is completed; a refusal rejects the upload with
the check's reason and deletes the object; a check that cannot decide keeps it verifying
and it is checked again later. The ClamAV scan runs against a real clamd (tests/clamd.py)
with a signature database written here."""

from __future__ import annotations

import html
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from importlib.util import find_spec
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.db.models import F
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.backends import Backend, activate
from tests.clamd import FOUND, MARKER, Clamd, clamd_binary
from tests.helpers import (
    assert_error,
    assert_ok,
    assert_verifying,
    complete,
    presign_ok,
    write_object,
)
from tests.live import ROOT
from tests.test_admin import ADD_URL, UPLOADS_URL, policy_form, refused
from uploads.exceptions import StorageUnavailable
from uploads.models import Upload, UploadPolicy
from uploads.policies import bump_version
from uploads.scanning import StagedFile, Unavailable
from uploads.scanning.clamd import (
    ClamdTooLarge,
    ClamdUnavailable,
    instream,
    parse_address,
    parse_answer,
)
from uploads.scanning.read_ahead import read_ahead
from uploads.tasks import verify_upload

pytestmark = pytest.mark.django_db

TASKS_PACKAGE = "django.tasks" if find_spec("django.tasks") else "django_tasks"
CLEAN = b"Minutes of the meeting.\n" * 40
INFECTED = b"Minutes of the meeting.\n" + MARKER + b"\nmore text\n"
MACRO_TEXT = b'Attribute VB_Name\nSub AutoOpen()\n  Shell "calc"\nEnd Sub\n'
SCANNER_REASON = f"The malware scan found {FOUND}."
MACRO_REASON = "The file contains a macro that runs when it is opened."


@pytest.fixture(scope="module")
def clamd() -> Iterator[Clamd]:
    server = Clamd(clamd_binary())
    server.start()
    yield server
    server.close()


@pytest.fixture
def scanning(settings: Any, clamd: Clamd) -> Clamd:
    """The project offers the ClamAV scan and the host's own check; clamd answers."""
    settings.UPLOADS = {
        **settings.UPLOADS,
        "CHECKS": {
            "clamav": "uploads.scanning.clamav.scan",
            "no-macros": "tests.hostapp.file_checks.no_macros",
        },
        "CLAMD": clamd.address,
        "CLAMD_TIMEOUT": 5,
        "CHECK_RETRY_DELAY": 30,
        "CHECK_RETRY_MAX_DELAY": 100,
    }
    if clamd.process is None:
        clamd.start()  # a test that stopped it failed before starting it again
    return clamd


def notes(checks: list[str], **fields: Any) -> UploadPolicy:
    """A type for text files that runs ``checks``."""
    policy = UploadPolicy.objects.create(
        name="notes",
        label="Notes",
        allowed_content_types=["text/plain"],
        max_size=2 * 1024 * 1024,
        key_prefix="notes",
        checks=checks,
        **fields,
    )
    bump_version()
    return policy


@pytest.fixture(params=["local", "s3"])
def backend(
    request: pytest.FixtureRequest, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Backend:
    return activate(request, settings, monkeypatch)


def sent(api: APIClient, backend: Backend, body: bytes) -> dict[str, Any]:
    answer = presign_ok(api, body, type="notes", contentType="text/plain")
    assert backend.send(answer, body, answer["headers"]) < 300
    return answer


def get(api: APIClient, upload_id: str) -> dict[str, Any]:
    return dict(assert_ok(api.get(f"/api/v1/uploads/{upload_id}")))


# --- the scan and the host's check, on each storage ----------------------------------------


def test_a_file_clamd_finds_malware_in_is_rejected_and_gone(
    scanning: Clamd, backend: Backend, api: APIClient
) -> None:
    notes(["clamav"])
    answer = sent(api, backend, INFECTED)

    error = assert_error(complete(api, answer["id"]), 422, "upload.verification_failed")

    assert error["message"] == SCANNER_REASON
    assert error["details"] == [
        {
            "field": "file",
            "code": "check_refused",
            "check": "clamav",
            "message": SCANNER_REASON,
            "expected": None,
            "actual": None,
        }
    ]
    shown = get(api, answer["id"])
    assert (shown["status"], shown["rejectionReason"]) == ("rejected", SCANNER_REASON)
    assert backend.read(answer["key"]) is None
    assert backend.read(f"staging/{answer['key']}") is None


def test_a_clean_file_passes_the_scan_and_completes(
    scanning: Clamd, backend: Backend, api: APIClient
) -> None:
    notes(["clamav", "no-macros"])
    answer = sent(api, backend, CLEAN)

    assert assert_ok(complete(api, answer["id"]))["status"] == "completed"
    assert backend.read(answer["key"]) == CLEAN


def test_the_host_projects_check_refuses_with_its_reason_after_the_scan_passed(
    scanning: Clamd, backend: Backend, api: APIClient
) -> None:
    notes(["clamav", "no-macros"])
    answer = sent(api, backend, MACRO_TEXT)

    error = assert_error(complete(api, answer["id"]), 422, "upload.verification_failed")

    assert error["message"] == MACRO_REASON
    assert [(d["check"], d["message"]) for d in error["details"]] == [("no-macros", MACRO_REASON)]
    assert Upload.objects.get(pk=answer["id"]).rejection_reason == MACRO_REASON
    assert backend.read(f"staging/{answer['key']}") is None


def test_checks_run_in_the_order_the_type_lists_them(scanning: Clamd, api: APIClient) -> None:
    """Both refuse this file: the first listed gives the reason."""
    body = MACRO_TEXT + MARKER
    notes(["no-macros", "clamav"])
    first = presign_ok(api, body, type="notes", contentType="text/plain")
    write_object(first["key"], body)
    error = assert_error(complete(api, first["id"]), 422, "upload.verification_failed")
    assert [d["check"] for d in error["details"]] == ["no-macros"]


def test_a_file_over_clamds_stream_limit_is_refused_not_completed_unscanned(
    scanning: Clamd, api: APIClient
) -> None:
    """The test clamd takes streams up to 1 MiB (StreamMaxLength)."""
    notes(["clamav"], complete_unscanned=True)
    body = b"quite a long text line\n" * 60_000  # 1.3 MiB
    answer = presign_ok(api, body, type="notes", contentType="text/plain")
    write_object(answer["key"], body)
    error = assert_error(complete(api, answer["id"]), 422, "upload.verification_failed")
    assert error["message"] == (
        "The file is larger than the malware scanner accepts, so it cannot be checked."
    )


# --- a scanner that cannot be reached -----------------------------------------------------


@pytest.fixture
def deferring(settings: Any) -> Iterator[list[Any]]:
    """A backend that defers tasks (as the database one does) and runs none: yields the
    tasks enqueued."""
    settings.TASKS = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.dummy.DummyBackend"}}
    backends = __import__(TASKS_PACKAGE, fromlist=["task_backends"]).task_backends
    results: list[Any] = backends["default"].results
    yield results
    results.clear()


def test_clamd_down_keeps_the_upload_verifying_and_a_later_run_completes_it(
    scanning: Clamd,
    backend: Backend,
    api: APIClient,
    deferring: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    notes(["clamav"])
    answer = sent(api, backend, CLEAN)
    scanning.stop()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert_verifying(complete(api, answer["id"]))

        row = Upload.objects.get(pk=answer["id"])
        assert (row.status, row.check_retries) == ("verifying", 1)
        assert backend.read(answer["key"]) is None  # never published unscanned
        assert backend.read(f"staging/{answer['key']}") == CLEAN
        # Handed to the background, for when the wait (CHECK_RETRY_DELAY) is over.
        assert [r.args for r in deferring] == [[answer["id"]]]
        due = deferring[0].task.run_after
        assert row.verify_lease_until is not None
        assert due == row.verify_lease_until + timedelta(seconds=1)
        assert timedelta(seconds=29) < due - timezone.now() <= timedelta(seconds=31)
        assert verify_upload.call(answer["id"]) == "held"  # too early: it waits

        with time_machine.travel(due, tick=False):
            assert verify_upload.call(answer["id"]) == "verifying"  # still down: waits longer
        row.refresh_from_db()
        assert row.check_retries == 2
        assert row.verify_lease_until == due + timedelta(seconds=60)  # twice as long
        assert len(deferring) == 2
    finally:
        scanning.start()

    with time_machine.travel(deferring[1].task.run_after, tick=False):
        assert verify_upload.call(answer["id"]) == "completed"
    assert get(api, answer["id"])["status"] == "completed"
    assert backend.read(answer["key"]) == CLEAN


def test_without_a_deferring_backend_the_sweep_checks_it_again_once_its_wait_is_over(
    scanning: Clamd, api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    """The immediate backend defers nothing: uploads_cleanup, run every minute or two,
    hands the upload to a new run once its wait is over."""
    notes(["clamav"])
    answer = presign_ok(api, CLEAN, type="notes", contentType="text/plain")
    write_object(answer["key"], CLEAN)
    scanning.stop()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert_verifying(complete(api, answer["id"]))
    finally:
        scanning.start()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("uploads_cleanup", stdout=StringIO())
    assert get(api, answer["id"])["status"] == "verifying"  # its wait is not over

    later = timezone.now() + timedelta(seconds=31)
    with time_machine.travel(later, tick=False), django_capture_on_commit_callbacks(execute=True):
        call_command("uploads_cleanup", stdout=StringIO())
    assert get(api, answer["id"])["status"] == "completed"


def test_a_type_that_allows_it_completes_unscanned_when_clamd_is_down(
    scanning: Clamd, api: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    notes(["clamav", "no-macros"], complete_unscanned=True)
    clean = presign_ok(api, CLEAN, type="notes", contentType="text/plain")
    macro = presign_ok(api, MACRO_TEXT, type="notes", contentType="text/plain")
    write_object(clean["key"], CLEAN)
    write_object(macro["key"], MACRO_TEXT)
    scanning.stop()
    try:
        assert assert_ok(complete(api, clean["id"]))["status"] == "completed"
        # The checks that can decide still do.
        error = assert_error(complete(api, macro["id"]), 422, "upload.verification_failed")
    finally:
        scanning.start()
    assert error["message"] == MACRO_REASON
    assert "completed unchecked" in caplog.text


def test_a_check_the_settings_no_longer_offer_keeps_the_upload_verifying(
    scanning: Clamd, api: APIClient, deferring: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    """Never skipped, even by a type that completes files unchecked when a scanner is down
    (system check uploads.W011 names it)."""
    notes(["clamav", "gone"], complete_unscanned=True)
    answer = presign_ok(api, CLEAN, type="notes", contentType="text/plain")
    write_object(answer["key"], CLEAN)
    with django_capture_on_commit_callbacks(execute=True):
        assert_verifying(complete(api, answer["id"]))
    row = Upload.objects.get(pk=answer["id"])
    assert (row.status, row.check_retries) == ("verifying", 1)
    assert [r.args for r in deferring] == [[answer["id"]]]


# --- large files: checked in the background task ---------------------------------------


def test_a_large_file_is_scanned_in_the_background(
    scanning: Clamd,
    api: APIClient,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "VERIFY_IN_BACKGROUND_ABOVE": 1000}
    notes(["clamav"])
    big_clean = CLEAN * 20  # 19 KiB
    big_infected = CLEAN * 10 + MARKER + CLEAN * 10
    ids = []
    for body in (big_clean, big_infected):
        answer = presign_ok(api, body, type="notes", contentType="text/plain")
        write_object(answer["key"], body)
        with django_capture_on_commit_callbacks(execute=True):
            assert_verifying(complete(api, answer["id"]))
        ids.append(answer["id"])

    assert get(api, ids[0])["status"] == "completed"
    infected = get(api, ids[1])
    assert (infected["status"], infected["rejectionReason"]) == ("rejected", SCANNER_REASON)


# --- the clamd client and the file a check receives ---------------------------------------


def test_the_clamd_client_over_tcp_and_its_errors(clamd: Clamd) -> None:
    assert parse_address("tcp://clamd.internal:3310").target == ("clamd.internal", 3310)
    for bad in ("clamd:3310", "tcp://clamd", "unix://", "http://clamd:3310"):
        with pytest.raises(ValueError):
            parse_address(bad)
    with pytest.raises(ClamdUnavailable):
        instream("tcp://127.0.0.1:9", [b"text"], timeout=2)  # nothing listens on discard
    if clamd.process is None:
        clamd.start()
    # Chunks larger than a frame are split; a marker across two chunks is still found.
    half = len(MARKER) // 2
    chunks = [b"a" * 300_000 + MARKER[:half], MARKER[half:] + b"b"]
    assert instream(clamd.address, chunks, timeout=5) == FOUND


def test_a_staged_file_reads_in_chunks_and_as_a_stream() -> None:
    data = bytes(range(256)) * 40
    reads: list[tuple[int, int]] = []

    def read_range(start: int, length: int) -> bytes:
        reads.append((start, length))
        return data[start : start + length]

    file = StagedFile(uuid.uuid4(), 1, "notes", "text/plain", len(data), "a.txt", "", read_range)
    assert b"".join(file.chunks(4000)) == data
    assert reads == [(0, 4000), (4000, 4000), (8000, 2240)]
    with file.open() as stream:
        stream.seek(10_000)
        assert stream.read() == data[10_000:]
        stream.seek(0)
        assert stream.read(5) == data[:5]

    short = StagedFile(uuid.uuid4(), 1, "notes", "text/plain", 10, "a.txt", "", lambda s, n: b"")
    with pytest.raises(OSError):
        list(short.chunks())


# --- the admin ------------------------------------------------------------------------------


def test_operators_choose_a_types_checks_in_order_in_the_admin(
    scanning: Clamd, admin_client: Client
) -> None:
    form = policy_form(checks="no-macros\nclamav", complete_unscanned="on")
    assert admin_client.post(ADD_URL, form).status_code == 302
    policy = UploadPolicy.objects.get(name="report")
    assert (policy.checks, policy.complete_unscanned) == (["no-macros", "clamav"], True)

    page = admin_client.get(f"/admin/uploads/uploadpolicy/{policy.pk}/change/").content.decode()
    assert "Offered: clamav, no-macros." in html.unescape(page)


def test_the_admin_refuses_a_check_the_settings_do_not_offer(
    scanning: Clamd, admin_client: Client
) -> None:
    errors = refused(admin_client, "checks", name="report", checks="clamav, antivirus")
    assert errors == [
        "'antivirus' is not a check settings.UPLOADS['CHECKS'] offers (clamav, no-macros)."
    ]


def test_the_uploads_list_shows_why_a_file_was_refused_and_one_waiting_for_its_checks(
    scanning: Clamd, api: APIClient, admin_client: Client, deferring: list[Any]
) -> None:
    notes(["clamav"])
    refused_file = presign_ok(api, INFECTED, type="notes", contentType="text/plain")
    waiting = presign_ok(api, CLEAN, type="notes", contentType="text/plain")
    write_object(refused_file["key"], INFECTED)
    write_object(waiting["key"], CLEAN)
    complete(api, refused_file["id"])
    scanning.stop()
    try:
        assert_verifying(complete(api, waiting["id"]))
    finally:
        scanning.start()

    page = html.unescape(admin_client.get(UPLOADS_URL).content.decode())

    assert SCANNER_REASON in page
    assert "checks unavailable, tried 1 time<" in page


def test_a_clamd_that_never_answers_leaves_the_file_to_the_background_within_the_deadline(
    scanning: Clamd, api: APIClient, settings: Any, deferring: list[Any]
) -> None:
    """A port that takes connections (the kernel's backlog) and never reads: within a
    request the scan gives up by the request's storage deadline, not CLAMD_TIMEOUT, and the
    upload waits verifying rather than the server killing the request."""
    notes(["clamav"])
    answer = presign_ok(api, CLEAN, type="notes", contentType="text/plain")
    write_object(answer["key"], CLEAN)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        settings.UPLOADS = {
            **settings.UPLOADS,
            "CLAMD": f"tcp://127.0.0.1:{port}",
            "CLAMD_TIMEOUT": 120,
            "REQUEST_STORAGE_DEADLINE": 2,
        }
        started = time.monotonic()
        assert_verifying(complete(api, answer["id"]))
        assert time.monotonic() - started < 60  # far under CLAMD_TIMEOUT
    assert Upload.objects.get(pk=answer["id"]).check_retries == 1


def revoked_then_unavailable(file: StagedFile) -> None:
    """A check during which the run loses its lease (the sweep revoked it, a new run took
    the upload), then cannot decide."""
    Upload.objects.filter(pk=file.upload_id).update(verify_attempt=F("verify_attempt") + 1)
    raise Unavailable("down")


def test_a_run_that_lost_its_lease_postpones_nothing(
    api: APIClient, settings: Any, deferring: list[Any]
) -> None:
    settings.UPLOADS = {
        **settings.UPLOADS,
        "CHECKS": {"flaky": f"{__name__}.revoked_then_unavailable"},
        "VERIFY_IN_BACKGROUND_ABOVE": 100,
    }
    notes(["flaky"])
    answer = presign_ok(api, CLEAN, type="notes", contentType="text/plain")
    write_object(answer["key"], CLEAN)
    assert_verifying(complete(api, answer["id"]))  # over 100 bytes: in the background

    assert verify_upload.call(answer["id"]) == "superseded"

    row = Upload.objects.get(pk=answer["id"])
    assert (row.status, row.check_retries) == ("verifying", 0)
    assert deferring == []  # no retry enqueued by the run that lost the upload


def test_clamd_answers_are_read_as_clamd_writes_them() -> None:
    assert parse_answer("stream: OK") is None
    assert parse_answer("stream: Win.Test.EICAR_HDB-1 FOUND") == "Win.Test.EICAR_HDB-1"
    with pytest.raises(ClamdTooLarge):
        parse_answer("INSTREAM size limit exceeded. ERROR")
    for broken in ("", "stream: lstat() failed. ERROR", "UNKNOWN COMMAND"):
        with pytest.raises(ClamdUnavailable):
            parse_answer(broken)


def test_the_docs_show_the_host_check_these_tests_run() -> None:
    """docs/checks.md's example is tests/hostapp/file_checks.py's check, word for word, so
    that a project following the docs runs what CI proves."""
    docs = (ROOT / "docs" / "checks.md").read_text()
    example = docs.split("```python\n# myproject/checks.py\n", 1)[1].split("```", 1)[0]
    source = (ROOT / "tests" / "hostapp" / "file_checks.py").read_text()
    assert example.strip() in source


def test_read_ahead_keeps_order_raises_errors_and_stops_with_its_consumer() -> None:
    assert list(read_ahead(iter([b"a", b"b", b"c"]))) == [b"a", b"b", b"c"]

    def failing() -> Iterator[bytes]:
        yield b"first"
        raise StorageUnavailable()

    pieces = read_ahead(failing())
    assert next(pieces) == b"first"
    with pytest.raises(StorageUnavailable):
        next(pieces)

    produced: list[int] = []

    def endless() -> Iterator[bytes]:
        while True:
            produced.append(1)
            yield b"x"

    pieces = read_ahead(endless(), ahead=2)
    assert next(pieces) == b"x"
    pieces.close()  # joins the reader: it no longer reads
    after = len(produced)
    assert after <= 4  # the one handed over, two ahead, one waiting to be
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]
