"""The same scenarios against every storage backend, each a real server.

Where a provider can enforce a rule on a signed upload, its storage must refuse the bad
request itself and keep nothing. Where it cannot, complete must refuse the upload and the
object must be gone afterwards.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from tests.backends import Backend
from tests.conftest import client_for, make_png, sha256_b64
from tests.helpers import complete, presign_ok, use_storage

BACKENDS = ["local", "s3", "azure", "gcs"]


@pytest.fixture(params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Backend:
    backend: Backend = request.getfixturevalue(f"{request.param}_backend")
    for name, value in backend.client_env().items():
        monkeypatch.setenv(name, value)
    gap = backend.emulator_gaps.get(request.node.originalname)
    if gap:
        request.node.add_marker(pytest.mark.xfail(reason=gap, strict=True))
    use_storage(settings, backend.storage_config())
    return backend


PNG = make_png(8, 8)
SAME_SIZE_OTHER_BYTES = (
    make_png(8, 8)[:-20] + bytes(b ^ 0xFF for b in make_png(8, 8)[-20:-12]) + make_png(8, 8)[-12:]
)


def _refused_or_rejected(
    backend: Backend, api: Any, rule: str, answer: dict[str, Any], status: int
) -> None:
    if rule in backend.enforces:
        assert 400 <= status < 500, f"{backend.name} accepted what it should refuse ({rule})"
        assert backend.read(answer["key"]) is None
        assert complete(api, answer["id"]).json()["error"]["code"] == "upload.not_uploaded"
    else:
        assert status < 300, status
        response = complete(api, answer["id"])
        assert response.status_code == 422, response.content
        assert response.json()["error"]["code"] == "upload.verification_failed"
        assert backend.read(answer["key"]) is None


@pytest.mark.django_db
class TestConformance:
    def test_happy_path(self, backend: Backend, api: Any) -> None:
        answer = presign_ok(api, PNG, sha256=sha256_b64(PNG))
        assert backend.send(answer, PNG, answer["headers"]) < 300
        response = complete(api, answer["id"])
        assert response.status_code == 200, response.content
        data = response.json()["data"]
        assert (data["status"], data["size"], data["sha256"]) == (
            "completed",
            len(PNG),
            sha256_b64(PNG),
        )
        assert backend.read(answer["key"]) == PNG

    def test_wrong_content_type(self, backend: Backend, api: Any) -> None:
        answer = presign_ok(api, PNG)
        status = backend.send(answer, PNG, {**answer["headers"], "Content-Type": "image/jpeg"})
        _refused_or_rejected(backend, api, "content_type", answer, status)

    @pytest.mark.parametrize("delta", [-1, +1])
    def test_size_other_than_declared(self, backend: Backend, api: Any, delta: int) -> None:
        answer = presign_ok(api, PNG)
        body = PNG[:delta] if delta < 0 else PNG + b"\0"
        headers = {**answer["headers"], "Content-Length": str(len(body))}
        _refused_or_rejected(backend, api, "size", answer, backend.send(answer, body, headers))

    def test_checksum_mismatch(self, backend: Backend, api: Any) -> None:
        answer = presign_ok(api, PNG, sha256=sha256_b64(PNG))
        status = backend.send(answer, SAME_SIZE_OTHER_BYTES, answer["headers"])
        _refused_or_rejected(backend, api, "checksum", answer, status)

    def test_tampered_signature(self, backend: Backend, api: Any) -> None:
        answer = presign_ok(api, PNG)
        tampered = {**answer, "uploadUrl": backend.tamper(answer["uploadUrl"])}
        assert backend.send(tampered, PNG, answer["headers"]) in (401, 403)
        assert backend.read(answer["key"]) is None

    def test_expired_url(self, backend: Backend, api: Any, user: Any) -> None:
        with time_machine.travel(timezone.now() - timedelta(minutes=10), tick=True):
            answer = presign_ok(client_for(user), PNG)  # a token minted then, so still valid now
        assert 400 <= backend.send(answer, PNG, answer["headers"]) < 500
        assert backend.read(answer["key"]) is None
        assert complete(api, answer["id"]).json()["error"]["code"] == "upload.expired"

    def test_overwrite(self, backend: Backend, api: Any) -> None:
        answer = presign_ok(api, PNG)
        assert backend.send(answer, PNG, answer["headers"]) < 300
        assert complete(api, answer["id"]).status_code == 200
        status = backend.send(answer, SAME_SIZE_OTHER_BYTES, answer["headers"])
        if "overwrite" in backend.enforces:
            assert 400 <= status < 500
        assert backend.read(answer["key"]) == PNG, f"{backend.name} let a completed object change"
