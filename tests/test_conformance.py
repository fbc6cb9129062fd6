"""The same scenarios against every storage backend, each a real server.

Where a provider can enforce a rule on a signed upload, its storage must refuse the bad
request itself and keep nothing. Where it cannot, complete must refuse the upload and the
object must be gone afterwards. Signed URLs write only the staging key: once complete has
copied the verified object to its key, no URL the server issued can change it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from tests.backends import Backend, activate
from tests.conftest import client_for, make_png, sha256_b64
from tests.helpers import assert_ok, complete, presign_ok
from tests.metadata_images import (
    ends_at_image_end,
    jpeg_with_gps,
    metadata_in,
    pixel_size,
    png_with_text_and_trailer,
)
from uploads.keys import staging_key
from uploads.models import Upload
from uploads.signers import ObjectHeaders, get_signer

BACKENDS = ["local", "s3", "azure", "gcs"]


@pytest.fixture(params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Backend:
    backend = activate(request, settings, monkeypatch)
    gap = backend.emulator_gaps.get(request.node.originalname)
    if gap:
        request.node.add_marker(pytest.mark.xfail(reason=gap, strict=True))
    return backend


PNG = make_png(8, 8)
JPEG_WITH_GPS = jpeg_with_gps()
PNG_WITH_TEXT = png_with_text_and_trailer()
PNG_A, PNG_B = make_png(8, 8, b"a"), make_png(8, 8, b"b")  # both whole, as long, not equal
SAME_SIZE_OTHER_BYTES = (
    make_png(8, 8)[:-20] + bytes(b ^ 0xFF for b in make_png(8, 8)[-20:-12]) + make_png(8, 8)[-12:]
)


def _refused_or_rejected(
    backend: Backend, api: Any, rule: str, answer: dict[str, Any], status: int
) -> None:
    if rule in backend.enforces:
        assert 400 <= status < 500, f"{backend.name} accepted what it should refuse ({rule})"
        assert backend.read(staging_key(answer["key"])) is None
        assert complete(api, answer["id"]).json()["error"]["code"] == "upload.not_uploaded"
    else:
        assert status < 300, status
        response = complete(api, answer["id"])
        assert response.status_code == 422, response.content
        assert response.json()["error"]["code"] == "upload.verification_failed"
        assert backend.read(staging_key(answer["key"])) is None
    assert backend.read(answer["key"]) is None


def _completed(backend: Backend, api: Any, capture: Any, body: bytes = PNG) -> dict[str, Any]:
    """A PNG sent and completed, its staging object dropped as after a real commit."""
    answer = presign_ok(api, body)
    assert backend.send(answer, body, answer["headers"]) < 300
    with capture(execute=True):
        assert complete(api, answer["id"]).status_code == 200
    assert backend.read(staging_key(answer["key"])) is None
    return answer


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

    def test_every_completion_records_a_sha256(
        self, backend: Backend, api: Any, django_capture_on_commit_callbacks: Any
    ) -> None:
        answer = _completed(backend, api, django_capture_on_commit_callbacks)  # none declared
        upload = assert_ok(api.get(f"/api/v1/uploads/{answer['id']}"))
        assert upload["sha256"] == sha256_b64(PNG)

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
        """A whole PNG of the declared size and type, only not the declared one: the
        sha256 is all that can refuse it, the storage's check or else complete's."""
        answer = presign_ok(api, PNG_A, sha256=sha256_b64(PNG_A))
        status = backend.send(answer, PNG_B, answer["headers"])
        _refused_or_rejected(backend, api, "checksum", answer, status)
        if "checksum" not in backend.enforces:
            rejection = Upload.objects.get(pk=answer["id"]).rejection_reason
            assert rejection == "The file's sha256 differs from the declared one.", rejection

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
        """While the upload is pending, the URL cannot replace what it wrote."""
        answer = presign_ok(api, PNG)
        assert backend.send(answer, PNG, answer["headers"]) < 300
        status = backend.send(answer, SAME_SIZE_OTHER_BYTES, answer["headers"])
        if "overwrite" in backend.enforces:
            assert 400 <= status < 500
        assert backend.read(staging_key(answer["key"])) == PNG
        assert complete(api, answer["id"]).status_code == 200
        assert backend.read(answer["key"]) == PNG

    def test_resending_after_complete_changes_nothing(
        self, backend: Backend, api: Any, django_capture_on_commit_callbacks: Any
    ) -> None:
        answer = _completed(backend, api, django_capture_on_commit_callbacks)
        backend.send(answer, SAME_SIZE_OTHER_BYTES, answer["headers"])  # may be taken: staging
        assert backend.read(answer["key"]) == PNG, f"{backend.name} let a completed object change"
        again = assert_ok(complete(api, answer["id"]))
        assert (again["status"], again["sha256"]) == ("completed", sha256_b64(PNG))
        assert backend.read(answer["key"]) == PNG

    def test_a_rejected_uploads_url_cannot_write_its_key(self, backend: Backend, api: Any) -> None:
        answer = presign_ok(api, PNG)
        lie = b"<html>" + b" " * (len(PNG) - 6)
        assert backend.send(answer, lie, answer["headers"]) < 300
        assert complete(api, answer["id"]).status_code == 422
        backend.send(answer, PNG, answer["headers"])
        assert backend.read(answer["key"]) is None
        assert complete(api, answer["id"]).json()["error"]["code"] == "upload.invalid_state"
        assert backend.read(answer["key"]) is None

    def test_a_deleted_uploads_url_cannot_write_its_key(
        self, backend: Backend, api: Any, django_capture_on_commit_callbacks: Any
    ) -> None:
        answer = _completed(backend, api, django_capture_on_commit_callbacks)
        with django_capture_on_commit_callbacks(execute=True):  # the object goes after commit
            assert api.delete(f"/api/v1/uploads/{answer['id']}").status_code == 200
        assert backend.read(answer["key"]) is None
        backend.send(answer, PNG, answer["headers"])
        assert backend.read(answer["key"]) is None

    def test_the_key_is_served_with_the_servers_headers(
        self, backend: Backend, api: Any, django_capture_on_commit_callbacks: Any
    ) -> None:
        answer = presign_ok(api, PNG)
        sent = {**answer["headers"], **backend.uploader_headers}
        assert backend.send(answer, PNG, sent) < 300
        if backend.name != "local":  # the provider keeps them: they must stay in staging
            staged = backend.served_headers(staging_key(answer["key"]))
            assert "evil.html" in staged["content-disposition"]
        with django_capture_on_commit_callbacks(execute=True):
            assert complete(api, answer["id"]).status_code == 200
        served = backend.served_headers(answer["key"])
        assert served["content-type"] == "image/png"
        assert "evil.html" not in served.get("content-disposition", "")
        assert "max-age=7" not in served.get("cache-control", "")

    def test_write_stores_the_bytes_with_the_servers_headers(self, backend: Backend) -> None:
        signer = get_signer("default")
        headers = ObjectHeaders(
            content_type="image/png",
            content_disposition="inline",
            cache_control="public, max-age=31536000, immutable",
            metadata={"upload-id": "u", "owner": "1"},
        )
        key = f"written/{backend.name}/object.png"
        signer.write(key, SAME_SIZE_OTHER_BYTES, headers)
        signer.write(key, PNG, headers)  # replaces what is there
        assert backend.read(key) == PNG
        if backend.name != "local":  # it serves an upload's key with the upload's headers
            served = backend.served_headers(key)
            assert served["content-type"] == "image/png"
            assert served["cache-control"] == "public, max-age=31536000, immutable"
            assert served["content-disposition"] == "inline"
        signer.delete(key)

    @pytest.mark.parametrize(
        ("body", "content_type", "fmt"),
        [(JPEG_WITH_GPS, "image/jpeg", "JPEG"), (PNG_WITH_TEXT, "image/png", "PNG")],
        ids=["jpeg-exif-gps", "png-text-trailer"],
    )
    def test_a_stripping_type_stores_the_image_without_its_metadata(
        self,
        backend: Backend,
        api: Any,
        edit_policy: Any,
        django_capture_on_commit_callbacks: Any,
        body: bytes,
        content_type: str,
        fmt: str,
    ) -> None:
        edit_policy("avatar", strip_metadata=True)
        answer = presign_ok(api, body, contentType=content_type, sha256=sha256_b64(body))
        assert backend.send(answer, body, answer["headers"]) < 300
        with django_capture_on_commit_callbacks(execute=True):
            done = assert_ok(complete(api, answer["id"]))
        stored = backend.read(answer["key"])
        assert stored is not None and stored != body
        assert metadata_in(stored) == {}
        assert ends_at_image_end(stored, fmt)
        assert pixel_size(stored, fmt) == pixel_size(body, fmt)
        assert (done["size"], done["sha256"]) == (len(stored), sha256_b64(stored))
        shown = assert_ok(api.get(f"/api/v1/uploads/{answer['id']}"))
        assert (shown["size"], shown["sha256"]) == (len(stored), sha256_b64(stored))
        assert backend.served_headers(answer["key"])["content-type"] == content_type
        assert backend.read(staging_key(answer["key"])) is None

    def test_a_type_that_does_not_strip_keeps_the_bytes_sent(
        self, backend: Backend, api: Any
    ) -> None:
        answer = presign_ok(api, JPEG_WITH_GPS, contentType="image/jpeg")
        assert backend.send(answer, JPEG_WITH_GPS, answer["headers"]) < 300
        done = assert_ok(complete(api, answer["id"]))
        assert backend.read(answer["key"]) == JPEG_WITH_GPS
        assert (done["size"], done["sha256"]) == (len(JPEG_WITH_GPS), sha256_b64(JPEG_WITH_GPS))
