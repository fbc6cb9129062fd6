"""A large file through the API in parts, on each real server: presign a plan, send some
parts, stop (a client that crashed), learn from the server what it holds, send the rest,
complete with the whole file's sha256 verified."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest

from tests.backends import Backend, activate
from tests.conftest import sha256_b64
from tests.helpers import PRESIGN, assert_error, assert_ok, settled
from uploads.keys import staging_key

pytestmark = pytest.mark.django_db

MiB = 1024 * 1024
PART = 5 * MiB  # S3's smallest part
# An MP4 (the media type's magic bytes) of 11 MiB and a bit: three parts, the last short.
# MULTIPART_FLOW_MIB=1024 runs the same flow with a 1 GiB file (by hand: minutes, not CI).
SIZE = int(os.environ.get("MULTIPART_FLOW_MIB", "11")) * MiB + 123
BODY = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + os.urandom(SIZE)
COUNT = -(-len(BODY) // PART)


@pytest.fixture(params=["local", "s3", "azure", "gcs"])
def backend(
    request: pytest.FixtureRequest,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    edit_policy: Any,
) -> Backend:
    backend = activate(request, settings, monkeypatch)
    edit_policy(
        "media", part_size=PART, multipart_threshold=6 * MiB, max_size=max(50 * MiB, len(BODY))
    )
    return backend


def presign_large(api: Any) -> Any:
    body = {"type": "media", "contentType": "video/mp4", "size": len(BODY)}
    return api.post(PRESIGN, {**body, "sha256": sha256_b64(BODY)}, format="json")


def send_parts(backend: Backend, api: Any, upload_id: str, numbers: list[int]) -> None:
    for start in range(0, len(numbers), 100):  # the most URLs one request gives
        batch = {"partNumbers": numbers[start : start + 100]}
        signed = assert_ok(api.post(f"/api/v1/uploads/{upload_id}/parts", batch, format="json"))
        for part in signed["parts"]:
            n = part["partNumber"]
            chunk = BODY[(n - 1) * PART : n * PART]
            answer = {"method": part["method"], "uploadUrl": part["url"]}
            assert backend.send(answer, chunk, part["headers"]) < 300, n


def test_a_large_file_resumes_from_the_stored_parts_and_completes_verified(
    backend: Backend, api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    plan = assert_ok(presign_large(api), 201)
    assert plan["multipart"] == {"partSize": PART, "partCount": COUNT}
    assert "uploadUrl" not in plan

    sent = [n for n in range(1, COUNT + 1) if n != 2]
    send_parts(backend, api, plan["id"], sent)  # all but part 2, then the client crashes
    stored = assert_ok(api.get(f"/api/v1/uploads/{plan['id']}/parts"))
    assert [(p["partNumber"], p["size"]) for p in stored["parts"]] == [
        (n, min(PART, len(BODY) - (n - 1) * PART)) for n in sent
    ]
    missing = assert_error(
        api.post(f"/api/v1/uploads/{plan['id']}/complete"), 409, "upload.parts_missing"
    )
    assert missing["i18nVars"]["missing"] == [2]

    send_parts(backend, api, plan["id"], [2])  # the client, restarted, sends what is missing
    done = settled(api, django_capture_on_commit_callbacks, plan["id"])

    assert (done["status"], done["size"], done["sha256"]) == (
        "completed",
        len(BODY),
        sha256_b64(BODY),
    )
    stored_bytes = backend.read(plan["key"])
    assert stored_bytes is not None
    assert hashlib.sha256(stored_bytes).digest() == hashlib.sha256(BODY).digest()
    assert backend.read(staging_key(plan["key"])) is None
