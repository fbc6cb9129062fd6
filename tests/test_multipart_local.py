"""The local signer's parts on a storage with files on disk: each part's PUT writes at its
offset in one file, listed once it arrived whole, and complete renames that file to the key
(uploads.signers.local_parts). A storage without files on disk keeps a file per part and
complete concatenates them."""

from __future__ import annotations

import fcntl
import io
import os
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import storages
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import sha256_b64
from tests.helpers import (
    assert_error,
    assert_ok,
    settled,
    status_of,
    stored_bytes,
    use_storage,
)
from tests.test_file_facts import mp4
from tests.test_multipart import (
    PART,
    VIDEO,
    KiB,
    chunk,
    complete,
    leftovers,
    presign_video,
    send,
    send_parts,
    sign,
    small_parts,  # noqa: F401  (autouse: the local signer with small parts)
    without_paths,
)
from uploads.models import Upload
from uploads.services.cleanup import expire_stale_uploads
from uploads.signers import SignerError, get_signer, local_parts
from uploads.signers.local import LocalSigner, Refused, parts_dir, read_upload_token

pytestmark = pytest.mark.django_db


def listed(api: APIClient, upload_id: str) -> list[int]:
    answer = assert_ok(api.get(f"/api/v1/uploads/{upload_id}/parts"))
    return [p["partNumber"] for p in answer["parts"]]


def cut_short(part: dict[str, Any], data: bytes) -> str:
    """Send ``data`` to the part's URL with its signed Content-Length, the body ending
    before it (a client that died mid-body); the code the PUT is refused with."""
    signer = get_signer("default")
    assert isinstance(signer, LocalSigner)
    grant = read_upload_token(part["url"].rsplit("/", 1)[-1])
    with pytest.raises(Refused) as refused:
        signer.receive(grant, "application/octet-stream", str(PART), io.BytesIO(data))
    return refused.value.code


def directory_of(upload_id: str) -> str:
    """The parts' directory on disk."""
    upload = Upload.objects.get(pk=upload_id)
    return str(storages["default"].path(parts_dir(upload.multipart_key, upload.multipart_id)))


@pytest.mark.parametrize("public", [False, True], ids=["assembled at the key", "in staging"])
def test_parts_are_written_into_one_file_that_complete_renames_to_the_key(
    public: bool, api: APIClient, edit_policy: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # A public type's file is renamed to its staging key, then linked to its key.
    edit_policy("media", is_public=public)
    answer = presign_video(api, sha256=sha256_b64(VIDEO))
    send_parts(api, answer["id"], [3, 1, 4, 2])
    assembling = os.path.join(directory_of(answer["id"]), local_parts.ASSEMBLING)
    with open(assembling, "rb") as fh:
        assert fh.read() == VIDEO
    inode = os.stat(assembling).st_ino

    done = settled(api, django_capture_on_commit_callbacks, answer["id"])
    assert (done["status"], done["sha256"]) == ("completed", sha256_b64(VIDEO))
    # The same file, moved: not a byte copied.
    at_key = os.stat(storages["default"].path(answer["key"]))
    assert (at_key.st_ino, at_key.st_nlink) == (inode, 1)
    assert stored_bytes(answer["key"]) == VIDEO
    assert leftovers(answer["key"]) == []


def test_a_part_refused_mid_body_is_never_listed(api: APIClient) -> None:
    answer = presign_video(api)
    first, second = assert_ok(sign(api, answer["id"], [1, 2]))["parts"]
    assert send(first, chunk(VIDEO, 1)).status_code == 200

    assert cut_short(second, chunk(VIDEO, 2)[:-10]) == "upload.incomplete"
    assert listed(api, answer["id"]) == [1]

    # Sent again and cut short, a part that had arrived is unlisted until it arrives whole:
    # its bytes were being overwritten.
    assert cut_short(first, chunk(VIDEO, 1)[:-10]) == "upload.incomplete"
    assert listed(api, answer["id"]) == []
    assert_error(complete(api, answer["id"]), 409, "upload.parts_missing")

    send_parts(api, answer["id"], [1, 2])
    assert listed(api, answer["id"]) == [1, 2]


def test_a_part_sent_again_with_other_bytes_replaces_the_first(
    api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    answer = presign_video(api, sha256=sha256_b64(VIDEO))
    other = VIDEO[:PART] + os.urandom(len(VIDEO) - PART)
    send_parts(api, answer["id"], [1, 2, 3, 4], other)
    send_parts(api, answer["id"], [2, 3, 4])

    done = settled(api, django_capture_on_commit_callbacks, answer["id"])
    assert (done["status"], done["sha256"]) == ("completed", sha256_b64(VIDEO))
    assert stored_bytes(answer["key"]) == VIDEO


def test_a_part_being_written_holds_off_its_second_send_and_complete(api: APIClient) -> None:
    answer = presign_video(api)
    send_parts(api, answer["id"], [1])
    directory = directory_of(answer["id"])

    def can_lock(name: str, operation: int) -> bool:
        fd = os.open(os.path.join(directory, name), os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(fd)

    with local_parts.writing_part(directory, 2, PART) as part:
        part.write(chunk(VIDEO, 2)[:100])
        assert not can_lock("00002.lock", fcntl.LOCK_EX)  # the same part sent again waits
        assert can_lock("00003.lock", fcntl.LOCK_EX)  # another part does not
        assert not can_lock(local_parts.LOCK, fcntl.LOCK_EX)  # complete and abort wait
    assert can_lock(local_parts.LOCK, fcntl.LOCK_EX)
    assert listed(api, answer["id"]) == [1]  # never told it arrived


def test_a_part_recorded_short_rejects_the_upload_and_leaves_nothing(
    api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    answer = presign_video(api)
    send_parts(api, answer["id"], [1, 2, 4])
    # Part 3 recorded at 10 bytes, as a storage that binds no size would let a client send.
    with local_parts.writing_part(directory_of(answer["id"]), 3, 2 * PART) as part:
        part.write(b"\x00" * 10)
        part.arrived("short")

    with django_capture_on_commit_callbacks(execute=True):
        error = assert_error(complete(api, answer["id"]), 422, "upload.verification_failed")
    assert "Part 3 is 10 bytes" in error["details"][0]["message"]
    assert status_of(answer["id"]) == "rejected"
    assert leftovers(answer["key"]) == [] and not os.path.exists(directory_of(answer["id"]))


def test_deleting_and_the_sweep_remove_the_file_the_parts_are_written_into(
    api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    deleted, expired = presign_video(api), presign_video(api)
    for answer in (deleted, expired):
        send_parts(api, answer["id"], [1, 2])
        assembling = os.path.join(directory_of(answer["id"]), local_parts.ASSEMBLING)
        assert os.path.getsize(assembling) == 2 * PART

    with django_capture_on_commit_callbacks(execute=True):
        assert_ok(api.delete(f"/api/v1/uploads/{deleted['id']}"))
    assert not os.path.exists(directory_of(deleted["id"]))

    Upload.objects.filter(pk=expired["id"]).update(expires_at=timezone.now() - timedelta(days=1))
    assert expire_stale_uploads().expired == 1
    assert not os.path.exists(directory_of(expired["id"]))
    assert leftovers(deleted["key"]) == leftovers(expired["key"]) == []


@pytest.mark.parametrize("memory", [False, True], ids=["no path()", "InMemoryStorage"])
def test_on_a_storage_without_files_on_disk_the_parts_are_concatenated(
    memory: bool, api: APIClient, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    if memory:  # its path() names files it does not keep
        use_storage(settings, {"BACKEND": "django.core.files.storage.InMemoryStorage"})
    else:
        without_paths(settings)
    answer = presign_video(api, sha256=sha256_b64(VIDEO))
    (second,) = assert_ok(sign(api, answer["id"], [2]))["parts"]
    assert cut_short(second, chunk(VIDEO, 2)[:-10]) == "upload.incomplete"
    send_parts(api, answer["id"], [4, 1, 3])
    assert listed(api, answer["id"]) == [1, 3, 4]
    send_parts(api, answer["id"], [2])

    done = settled(api, django_capture_on_commit_callbacks, answer["id"])
    assert (done["status"], done["sha256"]) == ("completed", sha256_b64(VIDEO))
    assert stored_bytes(answer["key"]) == VIDEO
    if memory:  # which keeps empty directories: no file is left in them
        upload = Upload.objects.get(pk=answer["id"])
        directory = parts_dir(upload.multipart_key, upload.multipart_id)
        assert storages["default"].listdir(directory) == ([], [])
    else:
        assert leftovers(answer["key"]) == []


def waiting_on(path: str) -> bool:
    """Whether a request waits for the lock of ``path`` (a blocked request is listed in
    /proc/locks with ``->``, by the file's inode)."""
    inode = os.stat(path).st_ino
    with open("/proc/locks") as fh:
        return any("->" in line and f":{inode} " in line for line in fh)


def test_a_part_that_waited_while_its_upload_ended_is_refused(api: APIClient) -> None:
    answer = presign_video(api)
    send_parts(api, answer["id"], [1])
    (second,) = assert_ok(sign(api, answer["id"], [2]))["parts"]
    directory = directory_of(answer["id"])
    lock = os.path.join(directory, local_parts.LOCK)
    signer = get_signer("default")
    assert isinstance(signer, LocalSigner)
    refused: list[str] = []

    def put() -> None:
        grant = read_upload_token(second["url"].rsplit("/", 1)[-1])
        try:
            signer.receive(grant, "", str(PART), io.BytesIO(chunk(VIDEO, 2)))
        except Refused as refusal:
            refused.append(refusal.code)

    held = os.open(lock, os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX)  # as complete and abort hold it
    sending = threading.Thread(target=put)
    sending.start()
    deadline = time.monotonic() + 30
    while not waiting_on(lock) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert waiting_on(lock)
    for name in os.listdir(directory):  # the upload ends: its files go
        os.unlink(os.path.join(directory, name))
    os.close(held)
    sending.join()

    assert refused == ["upload.invalid_state"]
    assert os.listdir(directory) == []  # it wrote nothing


def test_complete_refuses_parts_that_changed_after_they_were_listed(api: APIClient) -> None:
    answer = presign_video(api)
    send_parts(api, answer["id"], [1, 2, 3, 4])
    upload = Upload.objects.get(pk=answer["id"])
    signer = get_signer("default")
    parts = signer.list_parts(upload.multipart_key, upload.multipart_id)
    send_parts(api, answer["id"], [2], VIDEO[:PART] + os.urandom(PART))  # sent again meanwhile

    with pytest.raises(SignerError, match="part 2 changed"):
        signer.complete_multipart(upload.multipart_key, upload.multipart_id, parts)
    assert not os.path.exists(storages["default"].path(upload.multipart_key))
    assert listed(api, answer["id"]) == [1, 2, 3, 4]  # all still there, to complete again


def test_a_video_in_parts_is_probed_as_it_is_hashed(
    api: APIClient, tmp_path: Path, edit_policy: Any, django_capture_on_commit_callbacks: Any
) -> None:
    body = mp4(tmp_path)
    edit_policy("media", is_public=False, part_size=KiB, multipart_threshold=KiB)
    answer = presign_video(api, body, sha256=sha256_b64(body))
    count = answer["multipart"]["partCount"]
    assert count > 1
    for part in assert_ok(sign(api, answer["id"], list(range(1, count + 1))))["parts"]:
        start = (part["partNumber"] - 1) * KiB
        assert send(part, body[start : start + KiB]).status_code == 200

    done = settled(api, django_capture_on_commit_callbacks, answer["id"])
    assert (done["status"], done["width"], done["height"]) == ("completed", 64, 48)
    assert done["duration"] == pytest.approx(1.5, abs=0.15)
