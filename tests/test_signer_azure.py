"""The Azure signer against Azurite: what its SAS allows and refuses, what the stored blob
looks like, downloads, CORS, public URLs, and how failures of the account reach the API."""

from __future__ import annotations

import io
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from azure.storage.blob import CorsRule
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.utils import timezone

from config.storage_env.azure import storage_config as env_storage_config
from tests.backends.azure import (
    ACCOUNT,
    ACCOUNT_KEY,
    CONTAINER,
    AzureBackend,
    connection_string,
    storage_config,
)
from tests.conftest import make_png, sha256_b64
from tests.helpers import PDF, assert_error, presign_ok, use_storage
from tests.live import free_port
from uploads.keys import staging_key
from uploads.models import Upload
from uploads.signers import SignerNotConfigured, UploadSpec, get_signer

PNG = make_png(6, 6)
VAR = Path("var")
REAL_KEY = "c2VjcmV0LWtleS1vZi10aGUtdGVzdHMtMDEyMzQ1Njc4OWFiY2RlZg=="


@pytest.fixture
def azure(azure_backend: AzureBackend, settings: Any) -> AzureBackend:
    use_storage(settings, azure_backend.storage_config())
    return azure_backend


def put(answer: dict[str, Any], body: bytes, **extra_headers: str) -> requests.Response:
    headers = {**answer["headers"], **extra_headers}
    return requests.request(
        answer["method"], answer["uploadUrl"], data=body, headers=headers, timeout=10
    )


def sas_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def test_upload_url_is_a_create_only_sas_for_one_blob_expiring_with_the_upload(
    azure: AzureBackend, api: Any
) -> None:
    answer = presign_ok(api, PNG)
    sas = sas_of(answer["uploadUrl"])
    upload = Upload.objects.get(pk=answer["id"])

    assert (sas["sp"], sas["sr"]) == ("c", "b")
    assert datetime.strptime(sas["se"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=UTC
    ) == upload.expires_at.replace(microsecond=0)
    assert sas["spr"] == "https,http"  # plain http is allowed only because Azurite is on loopback
    staging = staging_key(answer["key"])
    assert urlsplit(answer["uploadUrl"]).path == f"/{ACCOUNT}/{CONTAINER}/{staging}"
    assert answer["method"] == "PUT"
    assert answer["headers"] == {"Content-Type": "image/png", "x-ms-blob-type": "BlockBlob"}

    # The same signature does not write any other blob, and never reads.
    elsewhere = answer["uploadUrl"].replace(answer["key"], answer["key"].replace(".png", "-2.png"))
    assert put({**answer, "uploadUrl": elsewhere}, PNG).status_code == 403
    assert azure.read(staging.replace(".png", "-2.png")) is None
    assert put(answer, PNG).status_code == 201
    assert requests.get(answer["uploadUrl"], timeout=10).status_code == 403


def test_a_real_account_gets_https_only_urls_on_its_endpoint_suffix(settings: Any) -> None:
    use_storage(
        settings,
        env_storage_config(
            {
                "AZURE_ACCOUNT_NAME": "acme",
                "AZURE_ACCOUNT_KEY": REAL_KEY,
                "AZURE_CONTAINER": "media",
                "AZURE_ENDPOINT_SUFFIX": "core.chinacloudapi.cn",
            },
            VAR,
        ),
    )
    expires_at = timezone.now() + timedelta(minutes=5)
    spec = UploadSpec(
        key="avatars/1/x.png", content_type="image/png", expires_at=expires_at, max_size=10
    )

    url = get_signer("default").presign_upload(spec).url

    assert url.startswith("https://acme.blob.core.chinacloudapi.cn/media/avatars/1/x.png?")
    assert sas_of(url)["spr"] == "https"


def test_the_blob_is_stored_with_the_declared_content_type(azure: AzureBackend, api: Any) -> None:
    answer = presign_ok(api, PNG, sha256=sha256_b64(PNG))
    assert put(answer, PNG).status_code == 201

    blob = azure.container.get_blob_client(staging_key(answer["key"]))
    properties = blob.get_blob_properties()
    assert properties.content_settings.content_type == "image/png"
    assert properties.size == len(PNG)
    done = api.post(f"/api/v1/uploads/{answer['id']}/complete")
    assert done.status_code == 200, done.content
    assert (done.json()["data"]["contentType"], done.json()["data"]["sha256"]) == (
        "image/png",
        sha256_b64(PNG),
    )


def test_download_is_served_by_azure_as_an_attachment(azure: AzureBackend, api: Any) -> None:
    answer = presign_ok(
        api, PDF, type="document", contentType="application/pdf", fileName="report 2026.pdf"
    )
    assert put(answer, PDF).status_code == 201
    assert api.post(f"/api/v1/uploads/{answer['id']}/complete").status_code == 200

    link = api.get(f"/api/v1/uploads/{answer['id']}/download").json()["data"]
    served = requests.get(link["url"], timeout=10)

    assert served.status_code == 200
    assert served.content == PDF
    assert served.headers["Content-Disposition"] == 'attachment; filename="report 2026.pdf"'
    assert served.headers["Content-Type"] == "application/pdf"
    assert sas_of(link["url"])["sp"] == "r"
    assert put({**answer, "uploadUrl": link["url"]}, b"%PDF-1.4 other").status_code == 403
    assert azure.read(answer["key"]) == PDF


def test_a_second_put_with_the_same_url_is_refused_and_changes_nothing(
    azure: AzureBackend, api: Any
) -> None:
    answer = presign_ok(api, PNG)
    assert put(answer, PNG).status_code == 201

    again = put(answer, make_png(6, 6, b"other"))  # before complete, too

    assert again.status_code == 403
    assert again.headers["x-ms-error-code"] == "AuthorizationPermissionMismatch"
    assert azure.read(staging_key(answer["key"])) == PNG
    assert api.post(f"/api/v1/uploads/{answer['id']}/complete").status_code == 200
    assert azure.read(answer["key"]) == PNG


def test_a_rejected_blob_is_deleted_with_the_snapshots_its_url_could_make(
    azure: AzureBackend, api: Any
) -> None:
    answer = presign_ok(api, PNG)
    assert put(answer, PNG + b"\0").status_code == 201
    assert requests.put(answer["uploadUrl"] + "&comp=snapshot", timeout=10).status_code == 201

    done = api.post(f"/api/v1/uploads/{answer['id']}/complete")

    assert_error(done, 422, "upload.verification_failed")
    left = list(azure.container.list_blobs(name_starts_with=answer["key"], include=["snapshots"]))
    assert left == []


def test_storage_down_answers_503_and_the_upload_completes_once_it_is_back(
    azure: AzureBackend, api: Any, settings: Any
) -> None:
    answer = presign_ok(api, PNG)
    assert put(answer, PNG).status_code == 201
    use_storage(settings, storage_config(free_port()))

    started = time.monotonic()
    down = api.post(f"/api/v1/uploads/{answer['id']}/complete")

    assert_error(down, 503, "storage.unavailable")
    assert time.monotonic() - started < 10, "the SDK's retries are not bounded"
    assert Upload.objects.get(pk=answer["id"]).status == Upload.Status.PENDING
    use_storage(settings, azure.storage_config())
    back = api.post(f"/api/v1/uploads/{answer['id']}/complete")
    assert back.status_code == 200, back.content
    assert back.json()["data"]["status"] == "completed"


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"account_name": "acme", "account_key": REAL_KEY}, "AZURE_CONTAINER"),
        ({"account_name": "acme", "azure_container": "media"}, "AZURE_ACCOUNT_KEY"),
        (
            {"account_name": "acme", "account_key": "not base64!", "azure_container": "media"},
            "not base64",
        ),
        (
            {
                "connection_string": f"AccountName=acme;AccountKey={REAL_KEY};BlobEndpoint=http://blob.example/acme",
                "azure_container": "media",
            },
            "plain http",
        ),
    ],
    ids=["no-container", "no-key", "bad-key", "http-off-loopback"],
)
def test_unusable_configuration_answers_503_not_configured_naming_the_fix_not_the_secret(
    presign: Callable[..., Any],
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    options: dict[str, str],
    named: str,
) -> None:
    use_storage(
        settings, {"BACKEND": "storages.backends.azure_storage.AzureStorage", "OPTIONS": options}
    )
    with caplog.at_level(logging.ERROR, logger="uploads"):
        response = presign(size=9)

    assert_error(response, 503, "upload.not_configured")
    assert Upload.objects.count() == 0
    assert named in caplog.text
    assert REAL_KEY not in caplog.text and REAL_KEY not in response.content.decode()
    with pytest.raises(SignerNotConfigured):
        get_signer("default")


def test_a_missing_container_at_complete_answers_503_not_configured(
    azure: AzureBackend, api: Any, settings: Any
) -> None:
    answer = presign_ok(api, PNG)
    use_storage(settings, storage_config(azure.port, "no-such-container"))

    response = api.post(f"/api/v1/uploads/{answer['id']}/complete")

    assert_error(response, 503, "upload.not_configured")
    assert Upload.objects.get(pk=answer["id"]).status == Upload.Status.PENDING


def test_a_refused_account_key_is_reported_as_configuration(
    azure: AzureBackend, settings: Any
) -> None:
    wrong = storage_config(azure.port)
    wrong["OPTIONS"]["connection_string"] = connection_string(azure.port).replace(
        ACCOUNT_KEY, REAL_KEY
    )
    use_storage(settings, wrong)

    with pytest.raises(SignerNotConfigured, match="AZURE_ACCOUNT_KEY") as caught:
        get_signer("default").stat("avatars/1/anything.png")
    assert REAL_KEY not in str(caught.value)


def preflight(url: str, origin: str, method: str = "PUT") -> requests.Response:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type,x-ms-blob-type",
    }
    return requests.options(url, headers=headers, timeout=10)


def test_cors_lets_the_configured_origins_preflight_an_upload_and_keeps_other_rules(
    azure: AzureBackend,
) -> None:
    reports = "https://reports.example"
    azure.service.set_service_properties(cors=[CorsRule([reports], ["GET"], allowed_headers=["*"])])
    first, second = (f"https://app-{uuid.uuid4().hex[:8]}.example" for _ in range(2))
    blob_url = azure.container.get_blob_client("avatars/1/cors.png").url
    assert preflight(blob_url, first).status_code == 403

    call_command("uploads_cors", "--origin", first, stdout=io.StringIO())

    allowed = preflight(blob_url, first)
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == first
    assert preflight(blob_url, "https://elsewhere.example").status_code == 403
    assert preflight(blob_url, reports, "GET").status_code == 200

    get_signer("default").apply_cors([second])  # replaces its own rule, not the others

    assert (preflight(blob_url, first).status_code, preflight(blob_url, second).status_code) == (
        403,
        200,
    )
    assert preflight(blob_url, reports, "GET").status_code == 200


def test_public_url_serves_the_blob_from_a_public_container(
    azure_backend: AzureBackend, api: Any, settings: Any
) -> None:
    container = f"public{uuid.uuid4().hex[:8]}"
    azure_backend.service.create_container(container, public_access="blob")
    use_storage(settings, storage_config(azure_backend.port, container))
    answer = presign_ok(api, PNG)
    assert put(answer, PNG).status_code == 201

    done = api.post(f"/api/v1/uploads/{answer['id']}/complete").json()["data"]

    assert done["publicUrl"] == answer["publicUrl"]
    assert "sig=" not in done["publicUrl"]
    served = requests.get(done["publicUrl"], timeout=10)
    assert (served.status_code, served.content, served.headers["Content-Type"]) == (
        200,
        PNG,
        "image/png",
    )


def test_public_url_uses_the_cdn_base_when_configured(
    azure: AzureBackend, api: Any, settings: Any
) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "PUBLIC_BASE_URL": "https://cdn.example/"}
    answer = presign_ok(api, PNG)
    assert answer["publicUrl"] == f"https://cdn.example/{answer['key']}"


def test_storage_location_prefixes_the_blob_and_complete_finds_it(
    azure: AzureBackend, api: Any, settings: Any
) -> None:
    config = storage_config(azure.port)
    config["OPTIONS"]["location"] = "tenant-a"
    use_storage(settings, config)
    answer = presign_ok(api, PNG, sha256=sha256_b64(PNG))
    staging = staging_key(answer["key"])
    assert urlsplit(answer["uploadUrl"]).path.endswith(f"/{CONTAINER}/tenant-a/{staging}")
    assert put(answer, PNG).status_code == 201

    done = api.post(f"/api/v1/uploads/{answer['id']}/complete")

    assert done.status_code == 200, done.content
    assert azure.read(f"tenant-a/{answer['key']}") == PNG


def test_the_env_connection_string_drives_a_whole_upload(
    azure: AzureBackend, api: Any, settings: Any
) -> None:
    use_storage(
        settings,
        env_storage_config(
            {
                "AZURE_CONNECTION_STRING": azure.connection_string,
                "AZURE_CONTAINER": CONTAINER,
            },
            VAR,
        ),
    )
    answer = presign_ok(api, PNG)
    assert put(answer, PNG).status_code == 201
    assert api.post(f"/api/v1/uploads/{answer['id']}/complete").status_code == 200


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"AZURE_ACCOUNT_NAME": "acme", "AZURE_ACCOUNT_KEY": REAL_KEY}, "AZURE_CONTAINER"),
        ({"AZURE_CONTAINER": "media", "AZURE_ACCOUNT_KEY": REAL_KEY}, "AZURE_ACCOUNT_NAME"),
        ({"AZURE_CONTAINER": "media", "AZURE_ACCOUNT_NAME": "acme"}, "AZURE_ACCOUNT_KEY"),
        (
            {
                "AZURE_CONTAINER": "media",
                "AZURE_CONNECTION_STRING": "AccountName=acme;BlobEndpoint=https://x",
            },
            "AccountKey",
        ),
    ],
)
def test_env_config_names_what_is_missing(env: dict[str, str], missing: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=missing) as caught:
        env_storage_config(env, VAR)
    assert REAL_KEY not in str(caught.value)


def test_env_config_of_a_real_account() -> None:
    env = {"AZURE_ACCOUNT_NAME": "acme", "AZURE_ACCOUNT_KEY": REAL_KEY, "AZURE_CONTAINER": "media"}
    assert env_storage_config(env, VAR) == {
        "BACKEND": "storages.backends.azure_storage.AzureStorage",
        "OPTIONS": {"azure_container": "media", "account_name": "acme", "account_key": REAL_KEY},
    }


def test_an_empty_blob_is_read_as_nothing_and_rejected(azure: AzureBackend, api: Any) -> None:
    answer = presign_ok(api, PNG)
    assert put(answer, b"").status_code == 201
    assert get_signer("default").read_head(staging_key(answer["key"]), 16) == b""

    done = api.post(f"/api/v1/uploads/{answer['id']}/complete")

    assert_error(done, 422, "upload.verification_failed")
    assert azure.read(answer["key"]) is None
    assert Upload.objects.get(pk=answer["id"]).status == Upload.Status.REJECTED
