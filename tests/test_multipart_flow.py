"""A large file through the API in parts, on each real server: presign a plan, send some
parts, stop (a client that crashed), learn from the server what it holds, send the rest,
complete with the whole file's sha256 verified. GCS takes no parts yet: a large file gets one
URL, and asking for parts is refused."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest

from tests.backends import Backend
from tests.conftest import sha256_b64
from tests.helpers import PRESIGN, assert_error, assert_ok, settled, use_storage
from uploads.keys import staging_key

pytestmark = pytest.mark.django_db

MiB = 1024 * 1024
PART = 5 * MiB  # S3's smallest part
# An MP4 (the media type's magic bytes) of 11 MiB and a bit: three parts, the last short.
BODY = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + os.urandom(11 * MiB + 123)


@pytest.fixture(params=["local", "s3", "azure", "gcs"])
def backend(
    request: pytest.FixtureRequest,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    edit_policy: Any,
) -> Backend:
    backend: Backend = request.getfixturevalue(f"{request.param}_backend")
    for name, value in backend.client_env().items():
        monkeypatch.setenv(name, value)
    use_storage(settings, backend.storage_config())
    edit_policy("media", part_size=PART, multipart_threshold=6 * MiB)
    return backend


def presign_large(api: Any) -> Any:
    body = {"type": "media", "contentType": "video/mp4", "size": len(BODY)}
    return api.post(PRESIGN, {**body, "sha256": sha256_b64(BODY)}, format="json")


def send_parts(backend: Backend, api: Any, upload_id: str, numbers: list[int]) -> None:
    signed = assert_ok(
        api.post(f"/api/v1/uploads/{upload_id}/parts", {"partNumbers": numbers}, format="json")
    )
    for part in signed["parts"]:
        n = part["partNumber"]
        chunk = BODY[(n - 1) * PART : n * PART]
        answer = {"method": part["method"], "uploadUrl": part["url"]}
        assert backend.send(answer, chunk, part["headers"]) < 300, n


def test_a_large_file_resumes_from_the_stored_parts_and_completes_verified(
    backend: Backend, api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    if backend.name == "gcs":  # no parts yet: over the threshold, one URL as before
        assert "uploadUrl" in assert_ok(presign_large(api), 201)
        asked = {"type": "media", "contentType": "video/mp4", "size": 1, "multipart": True}
        assert_error(api.post(PRESIGN, asked, format="json"), 400, "upload.multipart_unsupported")
        return
    plan = assert_ok(presign_large(api), 201)
    assert plan["multipart"] == {"partSize": PART, "partCount": 3}
    assert "uploadUrl" not in plan

    send_parts(backend, api, plan["id"], [1, 3])  # then the client crashes
    stored = assert_ok(api.get(f"/api/v1/uploads/{plan['id']}/parts"))
    assert [(p["partNumber"], p["size"]) for p in stored["parts"]] == [
        (1, PART),
        (3, len(BODY) - 2 * PART),
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
