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

Multipart uploads too: ``put_part()`` stands in for the client's PUT of a part, and
``multiparts`` holds the parts of every multipart upload not yet completed or aborted.

    answer = client.post("/api/v1/uploads/presign", {..., "multipart": True}).json()["data"]
    for number, chunk in enumerate(chunks, 1):
        fake.put_part(answer["key"], number, chunk)
    client.post(f"/api/v1/uploads/{answer['id']}/complete")  # assembled, then verified
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from urllib.parse import quote

from uploads.keys import staging_key
from uploads.signers.base import (
    MiB,
    ObjectHeaders,
    PresignedUpload,
    Signer,
    StoredObject,
    StoredPart,
    UploadSpec,
)

FAKE_ORIGIN = "https://fake-storage.invalid"

#: Every UploadSpec signed, oldest first (its ``key`` is the staging key the URL writes).
outbox: list[UploadSpec] = []
#: key -> (bytes, content type) of every object stored with ``put()``.
objects: dict[str, tuple[bytes, str | None]] = {}
#: (staging key, multipart id) -> part number -> bytes, for multipart uploads in progress.
multiparts: dict[tuple[str, str], dict[int, bytes]] = {}
#: (spec, multipart id, part number, size) of every part URL signed, oldest first.
parts_signed: list[tuple[UploadSpec, str, int, int]] = []
_ids = itertools.count(1)


def put(key: str, data: bytes, content_type: str | None = None) -> None:
    """Store ``data`` where the signed URL for ``key`` (the upload's key in the API's
    answer) writes: its staging key, which complete copies to ``key``."""
    objects[staging_key(key)] = (data, content_type)


def put_part(key: str, part_number: int, data: bytes) -> None:
    """Store part ``part_number`` where its signed URL writes: in the multipart upload
    started for ``key`` (the upload's key in the API's answer)."""
    staging = staging_key(key)
    (ongoing,) = [parts for (k, _), parts in multiparts.items() if k == staging]
    ongoing[part_number] = data


def reset() -> None:
    outbox.clear()
    objects.clear()
    multiparts.clear()
    parts_signed.clear()


class FakeSigner(Signer):
    methods = frozenset({"PUT", "POST"})
    supports_multipart = True
    # Small parts, so that a test sends a multipart upload of a few bytes.
    part_limits = (1, 5 * 1024 * MiB, 10_000)

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

    def anonymous_url(self, key: str) -> str:
        return self.public_url(key)

    def stat(self, key: str) -> StoredObject | None:
        if key not in objects:
            return None
        data, content_type = objects[key]
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        return StoredObject(size=len(data), content_type=content_type, sha256=digest)

    def read_head(self, key: str, length: int) -> bytes:
        return self.read_range(key, 0, length)

    def read_range(self, key: str, start: int, length: int) -> bytes:
        return objects[key][0][start : start + length]

    def promote(self, staging_key: str, key: str, headers: ObjectHeaders) -> None:
        objects[key] = (objects[staging_key][0], headers.content_type)

    def bounds_size(self, method: str, size_declared: bool) -> bool:
        return False  # it enforces nothing at upload time

    def write(self, key: str, data: bytes, headers: ObjectHeaders) -> None:
        objects[key] = (data, headers.content_type)

    def delete(self, key: str) -> None:
        objects.pop(key, None)

    def create_multipart(self, spec: UploadSpec) -> str:
        outbox.append(spec)
        multipart_id = f"fake-{next(_ids)}"
        multiparts[(spec.key, multipart_id)] = {}
        return multipart_id

    def presign_part(
        self, spec: UploadSpec, multipart_id: str, part_number: int, size: int
    ) -> PresignedUpload:
        parts_signed.append((spec, multipart_id, part_number, size))
        url = f"{FAKE_ORIGIN}/{self.alias}/{quote(spec.key)}?uploadId={multipart_id}"
        return PresignedUpload(f"{url}&partNumber={part_number}", "PUT", {})

    def list_parts(self, key: str, multipart_id: str) -> list[StoredPart]:
        parts = multiparts.get((key, multipart_id), {})
        return [
            # An MD5 as S3's part ETags are; no security rests on it.
            StoredPart(n, len(data), hashlib.md5(data).hexdigest())  # noqa: S324
            for n, data in sorted(parts.items())
        ]

    def complete_multipart(self, key: str, multipart_id: str, parts: list[StoredPart]) -> None:
        stored = multiparts.pop((key, multipart_id))
        objects[key] = (b"".join(stored[part.number] for part in parts), None)

    def abort_multipart(self, key: str, multipart_id: str) -> None:
        multiparts.pop((key, multipart_id), None)
