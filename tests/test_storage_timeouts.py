"""A storage that takes connections but never answers: every provider gives up within the
timeouts of the settings, answers 503 and leaves the upload pending."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.backends import azure, gcs, s3
from tests.conftest import make_png
from tests.helpers import assert_error, presign_ok, status_of, use_storage
from tests.requirements import require_module

PNG = make_png(4, 4)
#: The whole call, retries included, with 1 s reads and one attempt (GCS's retry deadline
#: is its own, 3 s): far below what the SDKs' defaults would take (a minute or more).
BOUND_SECONDS = 8


@pytest.fixture
def frozen_port() -> Iterator[int]:
    """A port whose connections are taken by the kernel but never read nor answered."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def config_for(name: str, port: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    if name == "s3":
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": s3.BUCKET,
                "endpoint_url": f"http://127.0.0.1:{port}",
                "access_key": s3.ACCESS_KEY,
                "secret_key": s3.SECRET_KEY,
                "region_name": s3.REGION,
            },
        }
    if name == "azure":
        return azure.storage_config(port)
    monkeypatch.setenv(gcs.EMULATOR_ENV, f"http://127.0.0.1:{port}")
    return {
        "BACKEND": "storages.backends.gcloud.GoogleCloudStorage",
        "OPTIONS": {
            "bucket_name": gcs.BUCKET,
            "credentials": gcs.make_service_account().credentials(),
            "project_id": gcs.PROJECT,
        },
    }


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["s3", "azure", "gcs"])
def test_a_frozen_storage_answers_503_within_the_configured_timeouts(
    name: str,
    frozen_port: int,
    settings: Any,
    api: APIClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module, extra = {
        "s3": ("boto3", "s3"),
        "azure": ("azure.storage.blob", "azure"),
        "gcs": ("google.cloud.storage", "gcs"),
    }[name]
    require_module(module, f"pip install django-upload-policies[{extra}]")
    settings.UPLOADS = {
        **settings.UPLOADS,
        "STORAGE_CONNECT_TIMEOUT": 1,
        "STORAGE_READ_TIMEOUT": 1,
        "STORAGE_ATTEMPTS": 1,
    }
    use_storage(settings, config_for(name, frozen_port, monkeypatch))
    answer = presign_ok(api, PNG)  # signing needs no answer from the storage

    started = time.monotonic()
    response = api.post(f"/api/v1/uploads/{answer['id']}/complete")

    assert time.monotonic() - started < BOUND_SECONDS
    assert_error(response, 503, "storage.unavailable")
    assert status_of(answer["id"]) == "pending"
