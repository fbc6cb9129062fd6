"""A signer for your own test suite, in the spirit of anymail's test backend: nothing leaves
the process. Presigns are recorded in ``outbox``, objects live in ``objects``, and
``put()`` stands in for the client's upload to the signed URL.

    # settings for tests
    UPLOADS = {"SIGNERS": {"default": "uploads.signers.fake.FakeSigner"}}

    # a test
    from uploads.signers import fake

    answer = client.post("/api/v1/uploads/presign", {...}).json()["data"]
    assert fake.outbox[-1].key == answer["key"]
    fake.put(answer["key"], png_bytes)           # the client's PUT
    client.post(f"/api/v1/uploads/{answer['id']}/complete")  # verified as usual
    fake.reset()                                  # between tests

The fake enforces nothing at upload time: complete's checks (size, magic bytes, sha256) run
against what ``put()`` stored, so they behave as with a storage that binds nothing.
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import quote

from uploads.keys import staging_key
from uploads.signers.base import ObjectHeaders, PresignedUpload, Signer, StoredObject, UploadSpec

FAKE_ORIGIN = "https://fake-storage.invalid"

#: Every UploadSpec signed, oldest first (its ``key`` is the staging key the URL writes).
outbox: list[UploadSpec] = []
#: key -> (bytes, content type) of every object stored with ``put()``.
objects: dict[str, tuple[bytes, str | None]] = {}


def put(key: str, data: bytes, content_type: str | None = None) -> None:
    """Store ``data`` where the signed URL for ``key`` (the upload's key in the API's
    answer) writes: its staging key, which complete copies to ``key``."""
    objects[staging_key(key)] = (data, content_type)


def reset() -> None:
    outbox.clear()
    objects.clear()


class FakeSigner(Signer):
    methods = frozenset({"PUT", "POST"})

    def presign_upload(self, spec: UploadSpec) -> PresignedUpload:
        outbox.append(spec)
        url = f"{FAKE_ORIGIN}/{self.alias}/{quote(spec.key)}"
        headers = {"Content-Type": spec.content_type}
        if spec.size is not None:
            headers["Content-Length"] = str(spec.size)
        if spec.method == "POST":
            return PresignedUpload(url, "POST", {}, {"key": spec.key, **headers})
        return PresignedUpload(url, "PUT", headers)

    def presign_download(
        self, key: str, *, expires_in: int, content_type: str, attachment_name: str | None
    ) -> str:
        return f"{FAKE_ORIGIN}/{self.alias}/{quote(key)}?download={expires_in}"

    def public_url(self, key: str) -> str:
        return f"{FAKE_ORIGIN}/{self.alias}/{quote(key)}"

    def stat(self, key: str) -> StoredObject | None:
        if key not in objects:
            return None
        data, content_type = objects[key]
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        return StoredObject(size=len(data), content_type=content_type, sha256=digest)

    def read_head(self, key: str, length: int) -> bytes:
        return objects[key][0][:length]

    def promote(self, staging_key: str, key: str, headers: ObjectHeaders) -> None:
        objects[key] = (objects[staging_key][0], headers.content_type)

    def bounds_size(self, method: str, size_declared: bool) -> bool:
        return False  # it enforces nothing at upload time

    def write(self, key: str, data: bytes, headers: ObjectHeaders) -> None:
        objects[key] = (data, headers.content_type)

    def delete(self, key: str) -> None:
        objects.pop(key, None)
