"""A storage that freezes in the middle of complete's copy, or of its write of a small file
(after the stat and the reads answered): complete gives up by REQUEST_STORAGE_DEADLINE, well
before a worker timeout, answers 503 storage.unavailable with Retry-After, and leaves the
upload pending; once the storage answers again, complete completes it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.backends import azure, gcs, s3
from tests.helpers import MP4, assert_error, assert_ok, complete, status_of, use_storage
from tests.stall_proxy import StallProxy, stall_proxy
from uploads.keys import staging_key
from uploads.signers import ObjectHeaders, SignerUnavailable, get_signer
from uploads.signers.base import MiB
from uploads.signers.deadline import storage_deadline
from uploads.signers.s3 import S3Signer

DEADLINE = 3
HEADERS = ObjectHeaders(content_type="video/mp4", metadata={"upload-id": "u", "owner": "7"})
#: Over the deadline: a connect timeout (1 s) and a retry's backoff at most.
MARGIN = 3
#: Without the deadline the frozen copy alone would take COPY_TIMEOUT per attempt (GCS's
#: READ_TIMEOUT: its copy is a rewrite, in calls that each answer soon).
COPY_TIMEOUT = 20
READ_TIMEOUT = 10


@pytest.fixture
def frozen_copies(settings: Any) -> None:
    settings.UPLOADS = {
        **settings.UPLOADS,
        "REQUEST_STORAGE_DEADLINE": DEADLINE,
        "STORAGE_CONNECT_TIMEOUT": 1,
        "STORAGE_READ_TIMEOUT": READ_TIMEOUT,
        "STORAGE_COPY_TIMEOUT": COPY_TIMEOUT,
        "STORAGE_ATTEMPTS": 2,
        # Copied, as a file over it is: these MP4s are read whole, and would be written.
        "WRITE_VERIFIED_UP_TO": 0,
    }


def freeze_copy_then_recover(
    api: APIClient, proxy: StallProxy, send: Callable[[dict[str, Any], bytes, dict[str, str]], int]
) -> None:
    request = {"type": "media", "contentType": "video/mp4", "size": len(MP4)}
    answer = assert_ok(api.post("/api/v1/uploads/presign", request, format="json"), 201)
    assert send(answer, MP4, answer["headers"]) < 300

    proxy.stalling.set()
    started = time.monotonic()
    response = complete(api, answer["id"])
    elapsed = time.monotonic() - started

    error = assert_error(response, 503, "storage.unavailable")
    assert proxy.held >= 1  # it was the copy that froze, not an earlier call
    assert elapsed < DEADLINE + MARGIN, elapsed
    assert response["Retry-After"] == "5" and error["i18nVars"]["retryAfter"] == 5
    assert status_of(answer["id"]) == "pending"

    proxy.stalling.clear()  # the storage answers again
    done = assert_ok(complete(api, answer["id"]))
    assert (done["status"], done["size"]) == ("completed", len(MP4))


@pytest.mark.django_db
def test_s3_a_copy_that_freezes_answers_503_by_the_deadline(
    frozen_copies: None, settings: Any, api: APIClient, s3_backend: Any
) -> None:
    port = int(s3_backend.server.endpoint.rsplit(":", 1)[1])
    with stall_proxy(port, b"x-amz-copy-source:") as proxy:
        use_storage(settings, s3_backend.storage_config(endpoint_url=proxy.url))
        freeze_copy_then_recover(api, proxy, s3_backend.send)


@pytest.mark.django_db
def test_s3_a_write_that_freezes_answers_503_by_the_deadline(
    frozen_copies: None, settings: Any, api: APIClient, s3_backend: Any
) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "WRITE_VERIFIED_UP_TO": len(MP4)}
    port = int(s3_backend.server.endpoint.rsplit(":", 1)[1])
    with stall_proxy(port, b"x-amz-checksum-sha256:") as proxy:  # the write's header
        use_storage(settings, s3_backend.storage_config(endpoint_url=proxy.url))
        freeze_copy_then_recover(api, proxy, s3_backend.send)


@pytest.mark.django_db
def test_azure_a_copy_that_freezes_answers_503_by_the_deadline(
    frozen_copies: None, settings: Any, api: APIClient, azure_backend: Any
) -> None:
    with stall_proxy(azure_backend.port, b"x-ms-copy-source:") as proxy:
        use_storage(settings, azure.storage_config(proxy.port))
        freeze_copy_then_recover(api, proxy, azure_backend.send)


@pytest.mark.django_db
def test_gcs_a_copy_that_freezes_answers_503_by_the_deadline(
    frozen_copies: None,
    settings: Any,
    api: APIClient,
    gcs_backend: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = int(gcs_backend.server.url.rsplit(":", 1)[1])
    with stall_proxy(port, b"/rewriteTo/", rewrite_host=True) as proxy:
        monkeypatch.setenv(gcs.EMULATOR_ENV, proxy.url)
        use_storage(settings, gcs_backend.storage_config())
        freeze_copy_then_recover(api, proxy, gcs_backend.send)


@pytest.mark.django_db
def test_s3_a_copy_in_parts_is_bound_by_the_deadline_in_its_threads_too(
    frozen_copies: None, settings: Any, s3_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An object over CopyObject's limit is copied part by part from a pool of threads:
    each part's copy is cut to the request's deadline all the same."""
    monkeypatch.setattr(S3Signer, "copy_threshold", 10 * MiB)
    monkeypatch.setattr(S3Signer, "copy_part_size", 5 * MiB)
    key = f"media/7/{uuid.uuid4()}.mp4"
    s3_backend.admin.put_object(Bucket=s3.BUCKET, Key=staging_key(key), Body=b"\0" * 11 * MiB)
    port = int(s3_backend.server.endpoint.rsplit(":", 1)[1])
    with stall_proxy(port, b"x-amz-copy-source:") as proxy:
        use_storage(settings, s3_backend.storage_config(endpoint_url=proxy.url))
        signer = get_signer("default")
        proxy.stalling.set()
        started = time.monotonic()
        with storage_deadline(DEADLINE), pytest.raises(SignerUnavailable):
            signer.promote(staging_key(key), key, HEADERS)
        assert time.monotonic() - started < DEADLINE + MARGIN
        assert proxy.held >= 1
