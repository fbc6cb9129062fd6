"""The Google Cloud Storage signer.

No emulator checks V4 signatures, so the signature is proven here the way GCS checks it:
``verify_v4`` (tests/backends/gcs.py) rebuilds the canonical request and string-to-sign
from the URL and the headers a client sends and verifies ``X-Goog-Signature`` with the
public key of a service account this test generated. The rest of the flow runs against
fake-gcs-server, whose ``send`` runs that same check before forwarding.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import timezone
from rest_framework.test import APIClient

from config.storage_env import gcs as gcs_env
from tests.backends import _flip_last_signature_char
from tests.backends.gcs import (
    BUCKET,
    PROJECT,
    GCSBackend,
    Refused,
    ServiceAccount,
    make_service_account,
    require_gcs_client,
    verify_v4,
)
from tests.conftest import make_png, sha256_b64
from tests.helpers import PDF, assert_error, presign_ok, use_storage
from tests.live import demo_site, free_port
from uploads.keys import staging_key
from uploads.models import Upload, UploadPolicy
from uploads.signers import SignerNotConfigured, UploadSpec, get_signer
from uploads.signers.gcs import GCSSigner

MB = 1024 * 1024
PNG = make_png(6, 6)


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _gcs_client() -> None:
    """Before the module's other fixtures (autouse goes first within a scope)."""
    require_gcs_client()


@pytest.fixture(scope="module")
def account() -> ServiceAccount:
    return make_service_account()


def keys(account: ServiceAccount) -> dict[str, Any]:
    return {account.email: account.public_key}


def make_signer(account: ServiceAccount, **options: Any) -> GCSSigner:
    """A signer over a real django-storages GoogleCloudStorage (signing needs no server)."""
    from storages.backends.gcloud import GoogleCloudStorage  # only once _gcs_client found it

    storage = GoogleCloudStorage(
        bucket_name=BUCKET, credentials=account.credentials(), project_id=PROJECT, **options
    )
    return GCSSigner("default", storage)


def make_spec(**overrides: Any) -> UploadSpec:
    fields: dict[str, Any] = {
        "key": "avatars/7/0b7e3f0e.png",
        "content_type": "image/png",
        "expires_at": timezone.now() + timedelta(seconds=300),
        "max_size": 5 * MB,
        "size": 1234,
        "metadata": {"upload-id": "0b7e3f0e", "owner": "7"},
    }
    return UploadSpec(**(fields | overrides))


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = [(k, changes.get(k, v)) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def signed_at(url: str) -> datetime:
    return datetime.strptime(query_of(url)["X-Goog-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


@pytest.fixture
def gcs(gcs_backend: GCSBackend, settings: Any, monkeypatch: pytest.MonkeyPatch) -> GCSBackend:
    """The default storage on fake-gcs-server (STORAGE_EMULATOR_HOST set for this test)."""
    for name, value in gcs_backend.client_env().items():
        monkeypatch.setenv(name, value)
    use_storage(settings, gcs_backend.storage_config())
    return gcs_backend


# --- the upload URL's signature, checked as GCS checks it -------------------------------------


def test_upload_url_is_signed_by_the_service_account_with_the_headers_to_send(
    account: ServiceAccount,
) -> None:
    spec = make_spec()
    presigned = make_signer(account).presign_upload(spec)

    assert presigned.method == "PUT"
    assert presigned.fields is None
    assert presigned.headers == {
        "Content-Type": "image/png",
        "x-goog-content-length-range": "1234,1234",
        "x-goog-if-generation-match": "0",
        "x-goog-meta-owner": "7",
        "x-goog-meta-upload-id": "0b7e3f0e",
    }
    url = urlsplit(presigned.url)
    assert url.path == f"/{BUCKET}/avatars/7/0b7e3f0e.png"
    query = query_of(presigned.url)
    assert query["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
    assert query["X-Goog-Credential"].startswith(f"{account.email}/")
    assert query["X-Goog-SignedHeaders"].split(";") == [
        "content-type",
        "host",
        "x-goog-content-length-range",
        "x-goog-if-generation-match",
        "x-goog-meta-owner",
        "x-goog-meta-upload-id",
    ]
    expires_in = int(query["X-Goog-Expires"])
    assert 298 <= expires_in <= 300  # until spec.expires_at, the policy's expiry
    assert signed_at(presigned.url) + timedelta(seconds=expires_in) <= spec.expires_at

    verify_v4("PUT", presigned.url, presigned.headers, keys(account))  # no Refused


def test_upload_url_without_a_declared_size_allows_one_byte_up_to_the_cap(
    account: ServiceAccount,
) -> None:
    presigned = make_signer(account).presign_upload(make_spec(size=None, max_size=1024))

    assert presigned.headers["x-goog-content-length-range"] == "1,1024"
    verify_v4("PUT", presigned.url, presigned.headers, keys(account))


def _other_type(url: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    return url, {**headers, "Content-Type": "image/jpeg"}


def _wider_range(url: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    return url, {**headers, "x-goog-content-length-range": f"1,{5 * MB}"}


def _longer_expiry(url: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    return with_query(url, **{"X-Goog-Expires": "604800"}), headers


def _no_precondition(url: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    return url, {k: v for k, v in headers.items() if k != "x-goog-if-generation-match"}


def _other_owner(url: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    return url, {**headers, "x-goog-meta-owner": "8"}


def _other_key(url: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    return url.replace("/avatars/7/", "/avatars/8/"), headers


def _altered_signature(url: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    return _flip_last_signature_char(url), headers  # what the conformance suite's tamper does


@pytest.mark.parametrize(
    "tamper",
    [
        _other_type,
        _wider_range,
        _longer_expiry,
        _no_precondition,
        _other_owner,
        _other_key,
        _altered_signature,
    ],
)
def test_a_changed_request_fails_the_signature(
    account: ServiceAccount, tamper: Callable[[str, dict[str, str]], tuple[str, dict[str, str]]]
) -> None:
    presigned = make_signer(account).presign_upload(make_spec())
    url, headers = tamper(presigned.url, presigned.headers)

    with pytest.raises(Refused) as refused:
        verify_v4("PUT", url, headers, keys(account))
    assert refused.value.status == 403


def test_a_url_signed_with_another_key_fails_the_signature(account: ServiceAccount) -> None:
    impostor = make_service_account(email=account.email)  # same name, another private key
    presigned = make_signer(impostor).presign_upload(make_spec())

    with pytest.raises(Refused) as refused:
        verify_v4("PUT", presigned.url, presigned.headers, keys(account))
    assert refused.value.status == 403


def test_the_url_expires_when_the_policy_says(account: ServiceAccount) -> None:
    presigned = make_signer(account).presign_upload(
        make_spec(expires_at=timezone.now() + timedelta(seconds=120))
    )
    end = signed_at(presigned.url) + timedelta(
        seconds=int(query_of(presigned.url)["X-Goog-Expires"])
    )

    verify_v4(
        "PUT", presigned.url, presigned.headers, keys(account), now=end - timedelta(seconds=1)
    )
    with pytest.raises(Refused) as refused:
        verify_v4("PUT", presigned.url, presigned.headers, keys(account), now=end)
    assert refused.value.status == 400


def test_a_spec_that_expired_already_gives_a_dead_url(account: ServiceAccount) -> None:
    presigned = make_signer(account).presign_upload(
        make_spec(expires_at=timezone.now() - timedelta(minutes=1))
    )
    with pytest.raises(Refused) as refused:
        verify_v4("PUT", presigned.url, presigned.headers, keys(account))
    assert refused.value.status == 400


def test_the_storage_location_prefixes_the_signed_object_name(account: ServiceAccount) -> None:
    presigned = make_signer(account, location="tenant-a").presign_upload(make_spec())

    assert urlsplit(presigned.url).path == f"/{BUCKET}/tenant-a/avatars/7/0b7e3f0e.png"
    verify_v4("PUT", presigned.url, presigned.headers, keys(account))


def test_a_public_upload_on_an_acl_storage_signs_the_acl(account: ServiceAccount) -> None:
    signer = make_signer(account, default_acl="publicRead")

    public = signer.presign_upload(make_spec(public=True))
    private = signer.presign_upload(make_spec(public=False))

    assert public.headers["x-goog-acl"] == "public-read"
    assert "x-goog-acl" in query_of(public.url)["X-Goog-SignedHeaders"].split(";")
    assert "x-goog-acl" not in private.headers
    verify_v4("PUT", public.url, public.headers, keys(account))


# --- download URLs -----------------------------------------------------------------------------


def test_download_url_asks_for_an_attachment_and_the_type(account: ServiceAccount) -> None:
    url = make_signer(account).presign_download(
        "documents/7/a.pdf",
        expires_in=300,
        content_type="application/pdf",
        attachment_name="Q3 report.pdf",
    )
    query = query_of(url)
    assert query["response-content-disposition"] == 'attachment; filename="Q3 report.pdf"'
    assert query["response-content-type"] == "application/pdf"
    assert query["X-Goog-Expires"] == "300"
    verify_v4("GET", url, {}, keys(account))

    inline = with_query(url, **{"response-content-disposition": "inline"})
    with pytest.raises(Refused) as refused:
        verify_v4("GET", inline, {}, keys(account))
    assert refused.value.status == 403


def test_download_url_without_a_name_leaves_the_disposition_alone(account: ServiceAccount) -> None:
    url = make_signer(account).presign_download(
        "avatars/7/a.png", expires_in=60, content_type="image/png", attachment_name=None
    )
    assert "response-content-disposition" not in query_of(url)
    verify_v4("GET", url, {}, keys(account))


@pytest.mark.django_db
def test_a_private_document_downloads_from_gcs_as_an_attachment(
    gcs: GCSBackend, api: APIClient
) -> None:
    answer = presign_ok(
        api, PDF, type="document", contentType="application/pdf", fileName="Q3 report.pdf"
    )
    assert answer["publicUrl"] is None
    assert gcs.send(answer, PDF, answer["headers"]) == 200
    assert api.post(f"/api/v1/uploads/{answer['id']}/complete").status_code == 200

    response = api.get(f"/api/v1/uploads/{answer['id']}/download")
    assert response.status_code == 200, response.content
    url = response.json()["data"]["url"]
    assert query_of(url)["response-content-disposition"] == 'attachment; filename="Q3 report.pdf"'
    verify_v4("GET", url, {}, keys(gcs.account))
    fetched = requests.get(url, timeout=5)
    assert (fetched.status_code, fetched.content) == (200, PDF)


# --- the flow on fake-gcs-server ---------------------------------------------------------------


@pytest.mark.django_db
def test_the_object_keeps_its_owner_upload_id_and_type(
    gcs: GCSBackend, api: APIClient, user: Any
) -> None:
    answer = presign_ok(api, PNG, sha256=sha256_b64(PNG))
    assert answer["headers"] == {
        "Content-Type": "image/png",
        "x-goog-content-length-range": f"{len(PNG)},{len(PNG)}",
        "x-goog-if-generation-match": "0",
        "x-goog-meta-owner": str(user.pk),
        "x-goog-meta-upload-id": answer["id"],
    }
    assert gcs.send(answer, PNG, answer["headers"]) == 200

    done = api.post(f"/api/v1/uploads/{answer['id']}/complete")
    assert done.status_code == 200, done.content
    assert done.json()["data"]["sha256"] == sha256_b64(PNG)  # hashed from the stored bytes
    served = requests.get(done.json()["data"]["publicUrl"], timeout=5)  # the storage's URL
    assert (served.status_code, served.content) == (200, PNG)
    stored = get_signer("default").stat(answer["key"])
    assert stored is not None
    assert (stored.size, stored.content_type, stored.sha256) == (len(PNG), "image/png", None)
    assert stored.metadata == {"owner": str(user.pk), "upload-id": answer["id"]}


@pytest.mark.django_db
def test_an_upload_without_a_declared_size_completes_within_the_cap(
    gcs: GCSBackend, api: APIClient
) -> None:
    UploadPolicy.objects.filter(name="avatar").update(require_size=False, max_size=1024)
    answer = presign_ok(api)
    assert answer["headers"]["x-goog-content-length-range"] == "1,1024"

    assert gcs.send(answer, PNG, answer["headers"]) == 200
    done = api.post(f"/api/v1/uploads/{answer['id']}/complete")
    assert done.status_code == 200, done.content
    assert done.json()["data"]["size"] == len(PNG)


@pytest.mark.django_db
def test_stat_read_head_hash_and_delete_on_the_stored_object(gcs: GCSBackend) -> None:
    signer = get_signer("default")
    spec = make_spec(key=f"tests/{free_port()}/stat.png", size=len(PNG))
    assert signer.stat(spec.key) is None

    presigned = signer.presign_upload(spec)
    answer = {"method": presigned.method, "uploadUrl": presigned.url}
    assert gcs.send(answer, PNG, presigned.headers) == 200

    stored = signer.stat(spec.key)
    assert stored is not None and (stored.size, stored.content_type) == (len(PNG), "image/png")
    assert signer.read_head(spec.key, 8) == PNG[:8]
    assert signer.read_head(spec.key, 100_000) == PNG
    assert signer.compute_sha256(spec.key) == sha256_b64(PNG)

    signer.delete(spec.key)
    assert signer.stat(spec.key) is None
    assert gcs.read(spec.key) is None
    signer.delete(spec.key)  # already gone: no error


@pytest.mark.django_db
def test_a_location_prefix_is_where_the_object_lands(gcs: GCSBackend, settings: Any) -> None:
    use_storage(settings, gcs.storage_config(location="tenant-a"))
    signer = get_signer("default")
    spec = make_spec(key=f"tests/{free_port()}/located.png", size=len(PNG))
    presigned = signer.presign_upload(spec)

    assert gcs.send({"method": "PUT", "uploadUrl": presigned.url}, PNG, presigned.headers) == 200
    assert gcs.read(f"tenant-a/{spec.key}") == PNG
    assert signer.stat(spec.key) is not None


@pytest.mark.django_db
def test_public_url_is_the_cdn_base_when_one_is_set(
    gcs: GCSBackend, api: APIClient, settings: Any
) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "PUBLIC_BASE_URL": "https://cdn.example.com/"}
    answer = presign_ok(api, PNG)
    assert answer["publicUrl"] == f"https://cdn.example.com/{answer['key']}"


# --- failures ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_storage_down_answers_503_and_the_upload_waits(
    gcs: GCSBackend, api: APIClient, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = free_port()  # nothing listens there
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{closed}")
    use_storage(settings, gcs.storage_config())
    answer = presign_ok(api, PNG)  # signing needs no server

    started = timezone.now()
    response = api.post(f"/api/v1/uploads/{answer['id']}/complete")

    assert timezone.now() - started < timedelta(seconds=10)  # retried, but not for long
    error = assert_error(response, 503, "storage.unavailable")
    assert str(closed) not in json.dumps(error)
    assert Upload.objects.get(pk=answer["id"]).status == Upload.Status.PENDING

    # Once the storage answers again, the same upload completes.
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.server.url)
    use_storage(settings, gcs.storage_config())
    storages["default"].save(staging_key(answer["key"]), ContentFile(PNG))
    done = api.post(f"/api/v1/uploads/{answer['id']}/complete")
    assert done.status_code == 200, done.content
    assert done.json()["data"]["status"] == "completed"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "options, fix",
    [
        ({"credentials": None}, "GS_CREDENTIALS"),
        ({"bucket_name": ""}, "GS_BUCKET_NAME"),
        ({"credentials": "/etc/keys/sa.json"}, "cannot sign"),
    ],
    ids=["no-credentials", "no-bucket", "credentials-that-cannot-sign"],
)
def test_a_storage_that_cannot_sign_answers_not_configured(
    gcs: GCSBackend, presign: Callable[..., Any], settings: Any, options: dict[str, Any], fix: str
) -> None:
    use_storage(settings, gcs.storage_config(**options))
    with pytest.raises(SignerNotConfigured, match=fix) as reason:
        get_signer("default")
    assert gcs.account.info["private_key"] not in str(reason.value)

    response = presign(size=len(PNG))
    assert_error(response, 503, "upload.not_configured")
    body = response.content.decode()
    for secret in ("GS_", "private_key", gcs.account.email, "/etc/keys", BUCKET):
        assert secret not in body
    assert not Upload.objects.exists()


@pytest.mark.django_db
def test_a_missing_bucket_is_reported_as_configuration(gcs: GCSBackend, settings: Any) -> None:
    use_storage(settings, gcs.storage_config(bucket_name="no-such-bucket"))
    signer = get_signer("default")
    with pytest.raises(SignerNotConfigured, match="no-such-bucket.*does not exist.*GS_BUCKET_NAME"):
        signer.stat("avatars/1/x.png")


@pytest.mark.django_db
def test_complete_on_a_missing_bucket_answers_not_configured(
    gcs: GCSBackend, api: APIClient, settings: Any
) -> None:
    use_storage(settings, gcs.storage_config(bucket_name="no-such-bucket"))
    answer = presign_ok(api, PNG)

    response = api.post(f"/api/v1/uploads/{answer['id']}/complete")

    assert_error(response, 503, "upload.not_configured")
    assert Upload.objects.get(pk=answer["id"]).status == Upload.Status.PENDING


# --- UPLOADS_STORAGE=gcs: config/storage_env/gcs.py --------------------------------------------


def write_key(tmp_path: Path, account: ServiceAccount) -> Path:
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(account.info))
    return path


@pytest.mark.django_db
def test_env_config_builds_a_storage_that_runs_the_flow(
    gcs: GCSBackend, api: APIClient, settings: Any, tmp_path: Path
) -> None:
    env = {
        "GS_BUCKET_NAME": BUCKET,
        "GS_CREDENTIALS": str(write_key(tmp_path, gcs.account)),
        "STORAGE_EMULATOR_HOST": gcs.server.url,
    }
    config = gcs_env.storage_config(env, tmp_path)
    assert config["BACKEND"] == "storages.backends.gcloud.GoogleCloudStorage"
    assert config["OPTIONS"]["bucket_name"] == BUCKET
    assert config["OPTIONS"]["project_id"] == PROJECT  # from the key file
    assert config["OPTIONS"]["credentials"].signer_email == gcs.account.email
    use_storage(settings, config)

    answer = presign_ok(api, PNG, sha256=sha256_b64(PNG))
    assert gcs.send(answer, PNG, answer["headers"]) == 200
    done = api.post(f"/api/v1/uploads/{answer['id']}/complete")
    assert done.status_code == 200, done.content
    assert gcs.read(answer["key"]) == PNG


def test_env_config_takes_the_project_from_gs_project_id(
    account: ServiceAccount, tmp_path: Path
) -> None:
    env = {
        "GS_BUCKET_NAME": "b",
        "GS_CREDENTIALS": str(write_key(tmp_path, account)),
        "GS_PROJECT_ID": "other-project",
    }
    assert gcs_env.storage_config(env, tmp_path)["OPTIONS"]["project_id"] == "other-project"


@pytest.mark.parametrize(
    "env, named",
    [
        ({"GS_CREDENTIALS": "KEY"}, "GS_BUCKET_NAME"),
        ({"GS_BUCKET_NAME": "b"}, "GS_CREDENTIALS"),
        (
            {"GS_BUCKET_NAME": "b", "GS_CREDENTIALS": "/nonexistent/sa.json"},
            "GS_CREDENTIALS=/nonexistent/sa.json",
        ),
        ({"GS_BUCKET_NAME": "b", "GS_CREDENTIALS": "NOT_JSON"}, "not JSON"),
        ({"GS_BUCKET_NAME": "b", "GS_CREDENTIALS": "USER_KEY"}, "not a service-account key"),
        ({"GS_BUCKET_NAME": "b", "GS_CREDENTIALS": "BROKEN_KEY"}, "GS_CREDENTIALS="),
    ],
    ids=[
        "no-bucket",
        "no-credentials",
        "missing-file",
        "not-json",
        "not-a-service-account",
        "broken-key",
    ],
)
def test_env_config_fails_loudly_naming_the_variable(
    account: ServiceAccount, tmp_path: Path, env: dict[str, str], named: str
) -> None:
    files = {
        "KEY": json.dumps(account.info),
        "NOT_JSON": "client_email = x",
        "USER_KEY": json.dumps({"type": "authorized_user", "refresh_token": "r-secret"}),
        "BROKEN_KEY": json.dumps(
            {**account.info, "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA"}
        ),
    }
    for name, value in env.items():
        if value in files:
            path = tmp_path / f"{value.lower()}.json"
            path.write_text(files[value])
            env = {**env, name: str(path)}

    with pytest.raises(ImproperlyConfigured, match=re.escape(named)) as failure:
        gcs_env.storage_config(env, tmp_path)
    message = str(failure.value)
    assert "PRIVATE KEY" not in message and "r-secret" not in message
    assert account.info["private_key"][40:80] not in message


@pytest.mark.live
def test_make_run_with_uploads_storage_gcs_serves_the_flow(gcs: GCSBackend, tmp_path: Path) -> None:
    with demo_site(
        tmp_path,
        UPLOADS_STORAGE="gcs",
        GS_BUCKET_NAME=BUCKET,
        GS_CREDENTIALS=str(write_key(tmp_path, gcs.account)),
        STORAGE_EMULATOR_HOST=gcs.server.url,
    ) as site:
        base, token = site.base, site.shown("Access token")
        auth = {"Authorization": f"Bearer {token}"}
        response = requests.post(
            f"{base}/api/v1/uploads/presign",
            headers=auth,
            timeout=10,
            json={
                "type": "avatar",
                "contentType": "image/png",
                "size": len(PNG),
                "sha256": sha256_b64(PNG),
            },
        )
        assert response.status_code == 201, response.text
        answer = response.json()["data"]
        assert gcs.send(answer, PNG, answer["headers"]) == 200
        done = requests.post(
            f"{base}/api/v1/uploads/{answer['id']}/complete", headers=auth, timeout=10
        )
        assert done.status_code == 200, done.text
        assert done.json()["data"]["sha256"] == sha256_b64(PNG)
    assert gcs.read(answer["key"]) == PNG
