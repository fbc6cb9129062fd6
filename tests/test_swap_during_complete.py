"""A staging object replaced while complete runs, between its verification and its promotion
to the upload's key: an S3 POST form sent again, with the same still-valid fields, meanwhile
(a POST policy has no If-None-Match, and SeaweedFS, like S3, takes the overwrite).

A file read whole and no larger than ``WRITE_VERIFIED_UP_TO`` (these avatars) is written to its
key by complete itself, the very bytes it verified: whatever the form sends meanwhile never
reaches the key, and the upload completes with the file that was checked. A larger one is
copied, the copy pinned to the version read and verified (its ETag, in
``x-amz-copy-source-if-match``): S3 and SeaweedFS refuse the copy of the replaced object (412),
and the upload is rejected as changed, so it never completes with bytes it did not check.

Only S3's POST forms can do this: Azure's and GCS's signed PUTs cannot overwrite (Azure
enforces If-None-Match; GCS signs x-goog-if-generation-match: 0, which fake-gcs-server alone
ignores, see EMULATOR_GAPS in tests/backends/gcs.py), nor can the local receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.backends.s3 import S3Backend, send_answer
from tests.conftest import make_png, sha256_b64
from tests.helpers import (
    assert_error,
    assert_verifying,
    complete,
    presign_ok,
    status_of,
    use_storage,
)
from tests.stall_proxy import StallProxy, stall_proxy
from uploads.keys import staging_key
from uploads.models import Upload

PNG = make_png(8, 8, b"verified")
OTHER_PNG = make_png(8, 8, b"reposted")  # as long and as whole, other bytes
NOT_A_PNG = b"<html><script>alert(1)</script>".ljust(len(PNG), b" ")


@contextmanager
def holding(
    settings: Any, s3_backend: S3Backend, edit_policy: Any, marker: bytes
) -> Iterator[StallProxy]:
    """S3 behind a proxy that can hold the request of complete's that ``marker`` names;
    avatars sent as POST forms."""
    edit_policy("avatar", method="POST")
    port = int(s3_backend.server.endpoint.rsplit(":", 1)[1])
    with stall_proxy(port, marker) as proxy:
        use_storage(settings, s3_backend.storage_config(endpoint_url=proxy.url))
        yield proxy


@pytest.fixture
def copies(settings: Any, s3_backend: S3Backend, edit_policy: Any) -> Iterator[StallProxy]:
    """Complete's CopyObject held: avatars over WRITE_VERIFIED_UP_TO, so copied."""
    settings.UPLOADS = {**settings.UPLOADS, "WRITE_VERIFIED_UP_TO": len(PNG) - 1}
    with holding(settings, s3_backend, edit_policy, b"x-amz-copy-source:") as proxy:
        yield proxy


@pytest.fixture
def writes(settings: Any, s3_backend: S3Backend, edit_policy: Any) -> Iterator[StallProxy]:
    """Complete's PutObject of the bytes it verified held (the header that carries their
    sha256 names it; a form sends it as a field)."""
    with holding(settings, s3_backend, edit_policy, b"x-amz-checksum-sha256:") as proxy:
        yield proxy


def reposted_during_the_copy(
    api: APIClient, proxy: StallProxy, capture: Any, body: bytes
) -> tuple[dict[str, Any], Any]:
    """Send PNG by its form, then complete; while complete's copy (or write) is held, the
    same form sends ``body``. Returns the presign answer and complete's response."""
    answer = presign_ok(api, PNG)
    assert answer["method"] == "POST"
    assert send_answer(answer, PNG, {}).status == 204
    statuses: list[int] = []
    proxy.meanwhile = lambda: statuses.append(send_answer(answer, body, {}).status)
    proxy.stalling.set()

    with capture(execute=True):
        response = complete(api, answer["id"])

    assert proxy.failure is None, proxy.failure
    assert (proxy.held, statuses) == (1, [204])  # the copy was held, the form taken again
    return answer, response


@pytest.mark.django_db
def test_a_form_reposted_during_the_copy_with_other_bytes_never_completes(
    api: APIClient,
    copies: StallProxy,
    s3_backend: S3Backend,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    answer, response = reposted_during_the_copy(
        api, copies, django_capture_on_commit_callbacks, NOT_A_PNG
    )

    error = assert_error(response, 422, "upload.verification_failed")
    # Refused by the pinned copy: the staging object is no longer the PNG it verified.
    assert [(d["field"], d["message"]) for d in error["details"]] == [
        ("sha256", "The file changed while it was verified.")
    ]
    assert error["details"][0]["expected"] == sha256_b64(PNG)
    assert status_of(answer["id"]) == "rejected"
    assert s3_backend.read(answer["key"]) is None
    assert s3_backend.read(staging_key(answer["key"])) is None


@pytest.mark.django_db
def test_a_form_reposted_during_a_background_verifications_copy_never_completes(
    api: APIClient,
    copies: StallProxy,
    s3_backend: S3Backend,
    settings: Any,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    """The same during the check a worker runs for a large file, which holds no row lock
    and takes long enough for a client to send the form again."""
    settings.UPLOADS = {**settings.UPLOADS, "VERIFY_IN_BACKGROUND_ABOVE": 0}

    answer, response = reposted_during_the_copy(
        api, copies, django_capture_on_commit_callbacks, NOT_A_PNG
    )

    assert_verifying(response)
    assert status_of(answer["id"]) == "rejected"
    rejection = Upload.objects.get(pk=answer["id"]).rejection_reason
    assert rejection == "The file changed while it was verified.", rejection
    assert s3_backend.read(answer["key"]) is None
    assert s3_backend.read(staging_key(answer["key"])) is None
    assert s3_backend.read(answer["key"]) is None
    assert s3_backend.read(staging_key(answer["key"])) is None


@pytest.mark.django_db
def test_a_form_reposted_during_the_copy_with_another_image_never_completes(
    api: APIClient,
    copies: StallProxy,
    s3_backend: S3Backend,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    """A valid image of the declared size and type, no sha256 declared: every check of the
    bytes would pass on it, but it is not the version that was verified."""
    answer, response = reposted_during_the_copy(
        api, copies, django_capture_on_commit_callbacks, OTHER_PNG
    )

    error = assert_error(response, 422, "upload.verification_failed")
    assert [(d["field"], d["message"]) for d in error["details"]] == [
        ("sha256", "The file changed while it was verified.")
    ]
    assert error["details"][0]["expected"] == sha256_b64(PNG)
    assert status_of(answer["id"]) == "rejected"
    assert s3_backend.read(answer["key"]) is None
    assert s3_backend.read(staging_key(answer["key"])) is None


@pytest.mark.parametrize("body", [NOT_A_PNG, OTHER_PNG], ids=["not-a-png", "another-png"])
@pytest.mark.django_db
def test_a_form_reposted_while_the_verified_bytes_are_written_completes_with_them(
    api: APIClient,
    writes: StallProxy,
    s3_backend: S3Backend,
    body: bytes,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    """A small file is written to its key by complete, from the bytes it read and verified:
    the form sent again meanwhile changes only the staging object, which goes on commit."""
    answer, response = reposted_during_the_copy(
        api, writes, django_capture_on_commit_callbacks, body
    )

    assert response.status_code == 200, response.content
    assert status_of(answer["id"]) == "completed"
    assert Upload.objects.get(pk=answer["id"]).verified_sha256 == sha256_b64(PNG)
    assert s3_backend.read(answer["key"]) == PNG
    assert s3_backend.read(staging_key(answer["key"])) is None


@pytest.mark.django_db
def test_a_form_reposted_while_a_background_verification_writes_completes_with_the_verified(
    api: APIClient,
    writes: StallProxy,
    s3_backend: S3Backend,
    settings: Any,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "VERIFY_IN_BACKGROUND_ABOVE": 0}

    answer, response = reposted_during_the_copy(
        api, writes, django_capture_on_commit_callbacks, NOT_A_PNG
    )

    assert_verifying(response)
    assert status_of(answer["id"]) == "completed"
    assert s3_backend.read(answer["key"]) == PNG
    assert s3_backend.read(staging_key(answer["key"])) is None
