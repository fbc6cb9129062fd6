"""Azure Blob Storage, as Azurite (the official emulator, run from node_modules): it checks
SAS signatures, permissions, protocol and expiry as Azure does."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.backends import Backend
from tests.live import ROOT, free_port, listening, running
from tests.requirements import missing

AZURITE = ROOT / "node_modules" / ".bin" / "azurite-blob"
#: Azurite's documented development account (the same on every machine, not a secret).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
CONTAINER = "uploads"
#: The private container of the documented setup for staging blobs (AZURE_STAGING_CONTAINER).
STAGING_CONTAINER = "uploads-staging"
START_TIMEOUT = 20.0
QUICK_RETRY: dict[str, Any] = {"backoff": 0.2, "retry_total": 2, "random_jitter_range": 0.1}


def connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
    )


def storage_config(port: int, container: str = CONTAINER) -> dict[str, Any]:
    """A settings.STORAGES entry for an AzureStorage on the emulator at ``port``."""
    return {
        "BACKEND": "storages.backends.azure_storage.AzureStorage",
        "OPTIONS": {"connection_string": connection_string(port), "azure_container": container},
    }


class AzureBackend(Backend):
    name = "azure"
    # Azurite refuses a second write with the create-only SAS (403
    # AuthorizationPermissionMismatch). Size, type and checksum cannot be bound into a
    # SAS: complete checks those.
    enforces = frozenset({"overwrite"})
    # Put Blob takes the blob's properties in Azure's own headers.
    uploader_headers = {
        "x-ms-blob-cache-control": "no-transform, max-age=7",
        "x-ms-blob-content-disposition": 'inline; filename="evil.html"',
    }

    def __init__(self, port: int) -> None:
        from azure.storage.blob import BlobServiceClient, LinearRetry

        self.port = port
        self.connection_string = connection_string(port)
        self.service = BlobServiceClient.from_connection_string(
            self.connection_string,
            retry_policy=LinearRetry(**QUICK_RETRY),
            connection_timeout=2,
            read_timeout=5,
        )
        self.container = self.service.get_container_client(CONTAINER)

    def storage_config(self) -> dict[str, Any]:
        return storage_config(self.port)

    def project_env(self, var_dir: Path) -> dict[str, str]:
        return {
            "UPLOADS_STORAGE": "azure",
            "AZURE_CONNECTION_STRING": self.connection_string,
            "AZURE_CONTAINER": CONTAINER,
            "AZURE_STAGING_CONTAINER": STAGING_CONTAINER,
        }

    def send(self, answer: dict[str, Any], body: bytes, headers: dict[str, str]) -> int:
        # The HTTP library sets Content-Length from the body, as a browser does.
        headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
        response = requests.request(
            answer["method"], answer["uploadUrl"], data=body, headers=headers, timeout=10
        )
        return response.status_code

    def read(self, key: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return bytes(self.container.download_blob(key).readall())
        except ResourceNotFoundError:
            return None

    def served_headers(self, key: str) -> dict[str, str]:
        settings = self.container.get_blob_client(key).get_blob_properties().content_settings
        values = {
            "content-type": settings.content_type,
            "cache-control": settings.cache_control,
            "content-disposition": settings.content_disposition,
        }
        return {name: value for name, value in values.items() if value}


def azurite_command(port: int, *options: str) -> list[str]:
    return [
        str(AZURITE),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--inMemoryPersistence",
        "--disableTelemetry",
        "--skipApiVersionCheck",
        *options,
    ]


@contextmanager
def azurite(*options: str) -> Iterator[AzureBackend]:
    """Azurite on a free loopback port, in memory, with the container made; stopped after."""
    port = free_port()
    with (
        tempfile.TemporaryDirectory(prefix="azurite-", ignore_cleanup_errors=True) as workdir,
        running(
            azurite_command(port, *options),
            ready=listening(port),
            timeout=START_TIMEOUT,
            name="azurite",
            log=Path(workdir) / "azurite.log",
            cwd=workdir,
        ),
    ):
        backend = AzureBackend(port)
        backend.service.create_container(CONTAINER)
        backend.service.create_container(STAGING_CONTAINER)
        yield backend


@pytest.fixture(scope="session")
def azure_backend() -> Iterator[AzureBackend]:
    if not AZURITE.exists():
        missing(f"{AZURITE} is missing: run npm install --no-audit --no-fund in {ROOT}")
    with azurite() as backend:
        yield backend
