"""The S3 signer against a real S3 server (SeaweedFS): what it signs, what the server then
refuses, what complete reads back, downloads, and the storage failing or misconfigured."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages
from rest_framework.test import APIClient

from config.storage_env.s3 import storage_config as env_storage_config
from tests.backends.s3 import (
    ACCESS_KEY,
    BUCKET,
    REGION,
    SECRET_KEY,
    S3Backend,
    http,
    post_form,
    send_answer,
    without_ambient_credentials,
)
from tests.conftest import make_png, sha256_b64
from tests.helpers import PDF, assert_error, assert_ok, presign_ok, status_of, use_storage
from tests.live import free_port
from uploads.keys import staging_key
from uploads.models import Upload, UploadPolicy
from uploads.policies import bump_version
from uploads.services.admin_actions import reverify_uploads
from uploads.signers import ObjectHeaders, SignerError, get_signer

PNG = make_png(8, 8)
ORIGINAL = make_png(8, 8, b"\x00" * 4)
SWAPPED = make_png(8, 8, b"\x01" * 4)  # a PNG of the same size as ORIGINAL, other bytes


@pytest.fixture
def s3(settings: Any, s3_backend: S3Backend) -> S3Backend:
    use_storage(settings, s3_backend.storage_config())
    return s3_backend


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def set_policy(name: str, **fields: Any) -> None:
    UploadPolicy.objects.filter(name=name).update(**fields)
    bump_version()


# --- PUT ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_put_is_sigv4_and_lists_exactly_the_headers_it_signed(
    settings: Any, s3_backend: S3Backend, api: APIClient, user: Any
) -> None:
    # The storage itself is set to SigV2, which would leave Content-Length unsigned.
    use_storage(settings, s3_backend.storage_config(signature_version="s3"))
    storage_url = storages["default"].url("anything")
    assert "X-Amz-Algorithm" not in storage_url and "Signature=" in storage_url

    data = presign_ok(api, PNG, sha256=sha256_b64(PNG))
    assert data["method"] == "PUT"
    assert data["headers"] == {
        "Content-Type": "image/png",
        "Content-Length": str(len(PNG)),
        "x-amz-checksum-sha256": sha256_b64(PNG),
        "x-amz-meta-upload-id": data["id"],
        "x-amz-meta-owner": str(user.pk),
        "If-None-Match": "*",
    }
    params = query(data["uploadUrl"])
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    signed = params["X-Amz-SignedHeaders"].split(";")
    assert "content-length" in signed
    assert sorted(signed) == sorted([*(h.lower() for h in data["headers"]), "host"])
    assert int(params["X-Amz-Expires"]) in (299, 300)  # the type's 300 s, less the time to sign

    assert send_answer(data, PNG, data["headers"]).status == 200
    done = api.post(f"/api/v1/uploads/{data['id']}/complete")
    assert done.status_code == 200, done.content
    assert done.json()["data"]["sha256"] == sha256_b64(PNG)
    head = s3_backend.admin.head_object(Bucket=BUCKET, Key=data["key"])
    assert head["Metadata"] == {"upload-id": data["id"], "owner": str(user.pk)}
    assert head["ContentType"] == "image/png"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        {"x-amz-meta-owner": None},
        {"x-amz-meta-owner": "someone-else"},
        {"x-amz-checksum-sha256": None},
        {"If-None-Match": None},
        {"Content-Type": "image/webp"},
    ],
    ids=[
        "meta-dropped",
        "meta-changed",
        "checksum-dropped",
        "if-none-match-dropped",
        "type-changed",
    ],
)
def test_storage_refuses_a_put_that_strays_from_the_signed_headers(
    s3: S3Backend, api: APIClient, change: dict[str, str | None]
) -> None:
    data = presign_ok(api, PNG, sha256=sha256_b64(PNG))
    headers = {**data["headers"], **change}
    answer = send_answer(data, PNG, {k: v for k, v in headers.items() if v is not None})
    assert answer.status == 403, answer.body
    assert s3.read(data["key"]) is None
    assert_error(api.post(f"/api/v1/uploads/{data['id']}/complete"), 409, "upload.not_uploaded")
    assert status_of(data["id"]) == Upload.Status.PENDING


@pytest.mark.django_db
def test_storage_location_prefixes_every_object(
    settings: Any,
    s3_backend: S3Backend,
    api: APIClient,
    django_capture_on_commit_callbacks: Any,
) -> None:
    use_storage(settings, s3_backend.storage_config(location="tenant-a"))
    data = presign_ok(api, PNG)
    assert send_answer(data, PNG, data["headers"]).status == 200
    assert s3_backend.read(f"tenant-a/{staging_key(data['key'])}") == PNG
    assert api.post(f"/api/v1/uploads/{data['id']}/complete").status_code == 200
    assert s3_backend.read(f"tenant-a/{data['key']}") == PNG
    with django_capture_on_commit_callbacks(execute=True):  # the object goes after commit
        assert assert_ok(api.delete(f"/api/v1/uploads/{data['id']}"))["id"] == data["id"]
    assert s3_backend.read(f"tenant-a/{data['key']}") is None


# --- reading back ------------------------------------------------------------------------


@pytest.mark.django_db
def test_stat_read_head_and_hash_of_an_object_stored_without_a_sha256(s3: S3Backend) -> None:
    key = "direct/no-checksum.png"
    s3.admin.put_object(Bucket=BUCKET, Key=key, Body=PNG, ContentType="image/png")
    signer = get_signer("default")

    stored = signer.stat(key)
    assert stored is not None
    assert (stored.size, stored.content_type, stored.sha256) == (len(PNG), "image/png", None)
    assert signer.read_head(key, 8) == PNG[:8]
    assert signer.read_head(key, 1_000_000) == PNG
    assert signer.compute_sha256(key) == sha256_b64(PNG)
    signer.delete(key)
    assert signer.stat(key) is None
    signer.delete(key)  # already gone: no error


@pytest.mark.django_db
def test_a_write_given_its_sha256_stores_those_bytes_and_one_not_theirs_is_refused(
    s3: S3Backend,
) -> None:
    signer = get_signer("default")
    headers = ObjectHeaders("image/png")
    signer.write_hashed("direct/hashed.png", PNG, headers, sha256_b64(PNG))
    assert s3.admin.get_object(Bucket=BUCKET, Key="direct/hashed.png")["Body"].read() == PNG

    # A digest of other bytes (complete's own, were it ever wrong): nothing is stored.
    with pytest.raises(SignerError):
        signer.write_hashed("direct/mislabelled.png", PNG, headers, sha256_b64(SWAPPED))
    assert signer.stat("direct/mislabelled.png") is None


@pytest.mark.django_db
def test_complete_hashes_the_object_when_the_storage_kept_no_sha256(
    s3: S3Backend, api: APIClient
) -> None:
    data = presign_ok(api, PNG, sha256=sha256_b64(PNG))
    # Stored behind the API's back, without a checksum: complete must hash it itself.
    staging = staging_key(data["key"])
    s3.admin.put_object(Bucket=BUCKET, Key=staging, Body=PNG, ContentType="image/png")
    done = api.post(f"/api/v1/uploads/{data['id']}/complete")
    assert done.status_code == 200, done.content
    assert done.json()["data"]["sha256"] == sha256_b64(PNG)


# --- downloads and public URLs -------------------------------------------------------------


@pytest.mark.django_db
def test_download_url_makes_the_browser_save_the_file_under_its_name(
    s3: S3Backend, api: APIClient
) -> None:
    data = presign_ok(
        api, PDF, type="document", contentType="application/pdf", fileName="Q3 report.pdf"
    )
    assert data["publicUrl"] is None
    assert send_answer(data, PDF, data["headers"]).status == 200
    assert api.post(f"/api/v1/uploads/{data['id']}/complete").status_code == 200

    link = api.get(f"/api/v1/uploads/{data['id']}/download")
    assert link.status_code == 200, link.content
    url = link.json()["data"]["url"]
    assert query(url)["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    served = http("GET", url)
    assert served.status == 200
    assert served.headers["Content-Disposition"] == 'attachment; filename="Q3 report.pdf"'
    assert served.headers["Content-Type"] == "application/pdf"
    assert served.body == PDF
    tampered = url.replace("Q3%20report", "other")
    assert http("GET", tampered).status == 403


@pytest.mark.django_db
def test_public_url_is_the_unsigned_object_url_or_the_cdn(
    settings: Any, s3: S3Backend, api: APIClient
) -> None:
    data = presign_ok(api, PNG)
    assert data["publicUrl"] == f"{s3.server.endpoint}/{BUCKET}/{data['key']}"
    settings.UPLOADS = {**settings.UPLOADS, "PUBLIC_BASE_URL": "https://cdn.example/media/"}
    again = api.get(f"/api/v1/uploads/{data['id']}")
    assert again.json()["data"]["publicUrl"] == f"https://cdn.example/media/{data['key']}"


# --- POST policies -----------------------------------------------------------------------


@pytest.fixture
def post_policy(db: Any) -> None:
    set_policy("avatar", method="POST")


def policy_of(fields: dict[str, str]) -> dict[str, Any]:
    return dict(json.loads(base64.b64decode(fields["policy"])))


@pytest.mark.django_db
def test_post_form_upload_completes(
    s3: S3Backend, api: APIClient, user: Any, post_policy: None
) -> None:
    data = presign_ok(api, PNG, sha256=sha256_b64(PNG))
    assert data["method"] == "POST"
    assert data["headers"] == {}
    fields = data["fields"]
    assert fields["key"] == staging_key(data["key"])
    assert fields["Content-Type"] == "image/png"
    assert fields["x-amz-meta-owner"] == str(user.pk)
    assert fields["x-amz-checksum-sha256"] == sha256_b64(PNG)
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert ["content-length-range", len(PNG), len(PNG)] in policy_of(fields)["conditions"]

    assert post_form(data["uploadUrl"], fields, PNG, "image/png").status == 204
    done = api.post(f"/api/v1/uploads/{data['id']}/complete")
    assert done.status_code == 200, done.content
    assert s3.read(data["key"]) == PNG


@pytest.mark.django_db
def test_reposting_the_form_after_complete_changes_nothing(
    s3: S3Backend, api: APIClient, post_policy: None, django_capture_on_commit_callbacks: Any
) -> None:
    data = presign_ok(api, PNG)
    # Fields the policy does not name, which SeaweedFS takes: they reach the staging object only.
    unasked = {"Cache-Control": "max-age=7", "Content-Disposition": 'inline; filename="x.html"'}
    assert (
        post_form(data["uploadUrl"], {**data["fields"], **unasked}, PNG, "image/png").status < 300
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/api/v1/uploads/{data['id']}/complete").status_code == 200

    html = b"<html>" + b" " * (len(PNG) - 6)
    post_form(data["uploadUrl"], data["fields"], html, "image/png")

    assert s3.read(data["key"]) == PNG
    served = s3.served_headers(data["key"])
    assert (served["content-type"], served["content-disposition"]) == ("image/png", "inline")
    assert "max-age=7" not in served["cache-control"]
    done = api.get(f"/api/v1/uploads/{data['id']}").json()["data"]
    assert (done["status"], done["sha256"]) == ("completed", sha256_b64(PNG))


@pytest.mark.django_db
def test_reverify_catches_a_same_size_swap_without_a_declared_sha256(
    s3: S3Backend, api: APIClient
) -> None:
    data = presign_ok(api, ORIGINAL)
    assert send_answer(data, ORIGINAL, data["headers"]).status == 200
    assert api.post(f"/api/v1/uploads/{data['id']}/complete").status_code == 200
    s3.admin.put_object(Bucket=BUCKET, Key=data["key"], Body=SWAPPED, ContentType="image/png")

    assert reverify_uploads(Upload.objects.filter(pk=data["id"]))["rejected"] == 1
    assert status_of(data["id"]) == "rejected"
    rejection = Upload.objects.get(pk=data["id"]).rejection_reason
    assert rejection == "The file changed since it was verified.", rejection  # not its size
    assert s3.read(data["key"]) is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "body", "status"),
    [
        ({}, PNG + b"\0", 400),
        ({}, PNG[:-1], 400),
        ({"key": "avatars/someone-else.png"}, PNG, 403),
        ({"Content-Type": "text/html"}, PNG, 403),
        ({"x-amz-meta-owner": "0"}, PNG, 403),
        ({"x-amz-meta-extra": "1"}, PNG, 403),
        ({"x-amz-checksum-sha256": sha256_b64(b"other")}, PNG, 403),
    ],
    ids=[
        "bigger",
        "smaller",
        "other-key",
        "other-type",
        "other-owner",
        "extra-field",
        "other-checksum",
    ],
)
def test_post_policy_refuses_anything_it_did_not_sign(
    s3: S3Backend,
    api: APIClient,
    post_policy: None,
    fields: dict[str, str],
    body: bytes,
    status: int,
) -> None:
    data = presign_ok(api, PNG, sha256=sha256_b64(PNG))
    answer = post_form(data["uploadUrl"], {**data["fields"], **fields}, body, "image/png")
    assert answer.status == status, answer.body
    assert s3.read(data["key"]) is None
    assert s3.read("avatars/someone-else.png") is None
    assert_error(api.post(f"/api/v1/uploads/{data['id']}/complete"), 409, "upload.not_uploaded")


@pytest.mark.django_db
def test_post_without_declared_size_is_capped_at_the_policy_max(
    s3: S3Backend, api: APIClient, post_policy: None
) -> None:
    set_policy("avatar", method="POST", require_size=False, max_size=len(PNG))
    data = presign_ok(api, size=None)
    assert ["content-length-range", 1, len(PNG)] in policy_of(data["fields"])["conditions"]
    assert post_form(data["uploadUrl"], data["fields"], PNG + b"\0", "image/png").status == 400
    assert s3.read(data["key"]) is None
    assert post_form(data["uploadUrl"], data["fields"], PNG, "image/png").status == 204
    done = api.post(f"/api/v1/uploads/{data['id']}/complete")
    assert done.status_code == 200, done.content
    assert done.json()["data"]["size"] == len(PNG)


# --- the storage failing or misconfigured --------------------------------------------------


@pytest.mark.django_db
def test_storage_down_at_complete_answers_503_and_the_upload_completes_later(
    settings: Any, s3: S3Backend, api: APIClient
) -> None:
    data = presign_ok(api, PNG)
    assert send_answer(data, PNG, data["headers"]).status == 200
    working = settings.STORAGES["default"]
    use_storage(settings, s3.storage_config(endpoint_url=f"http://127.0.0.1:{free_port()}"))

    assert_error(api.post(f"/api/v1/uploads/{data['id']}/complete"), 503, "storage.unavailable")
    assert status_of(data["id"]) == Upload.Status.PENDING
    assert s3.read(staging_key(data["key"])) == PNG

    use_storage(settings, working)
    done = api.post(f"/api/v1/uploads/{data['id']}/complete")
    assert done.status_code == 200, done.content
    assert done.json()["data"]["status"] == "completed"


@pytest.mark.django_db
def test_storage_without_a_bucket_answers_not_configured_and_names_no_secret(
    settings: Any,
    s3_backend: S3Backend,
    presign: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    use_storage(settings, s3_backend.storage_config(bucket_name=None))
    with caplog.at_level(logging.ERROR, logger="uploads"):
        response = presign(size=len(PNG))
    assert_error(response, 503, "upload.not_configured")
    assert SECRET_KEY not in response.content.decode()
    assert "AWS_STORAGE_BUCKET_NAME" in caplog.text
    assert SECRET_KEY not in caplog.text
    assert not Upload.objects.exists()


@pytest.mark.django_db
def test_storage_without_credentials_answers_not_configured(
    settings: Any,
    s3_backend: S3Backend,
    presign: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    without_ambient_credentials(monkeypatch, tmp_path)
    use_storage(settings, s3_backend.storage_config(access_key=None, secret_key=None))
    with caplog.at_level(logging.ERROR, logger="uploads"):
        response = presign(size=len(PNG))
    assert_error(response, 503, "upload.not_configured")
    assert "AWS_ACCESS_KEY_ID" in caplog.text
    assert not Upload.objects.exists()


@pytest.mark.django_db
def test_bucket_missing_at_complete_answers_not_configured_and_keeps_the_upload(
    settings: Any, s3_backend: S3Backend, api: APIClient
) -> None:
    use_storage(settings, s3_backend.storage_config(bucket_name="no-such-bucket"))
    data = presign_ok(api, PNG)
    answer = send_answer(data, PNG, data["headers"])
    assert (answer.status, answer.error_code) == (404, "NoSuchBucket")
    assert_error(api.post(f"/api/v1/uploads/{data['id']}/complete"), 503, "upload.not_configured")
    assert status_of(data["id"]) == Upload.Status.PENDING


@pytest.mark.django_db
def test_bucket_missing_is_told_apart_from_a_missing_object(
    settings: Any, s3_backend: S3Backend
) -> None:
    from uploads.signers import SignerNotConfigured

    use_storage(settings, s3_backend.storage_config(bucket_name="no-such-bucket"))
    with pytest.raises(
        SignerNotConfigured, match="Bucket 'no-such-bucket' of storage 'default' does not exist"
    ):
        get_signer("default").stat("avatars/x.png")
    use_storage(settings, s3_backend.storage_config())
    assert get_signer("default").stat("avatars/x.png") is None


@pytest.mark.django_db
def test_wrong_secret_is_reported_as_configuration_naming_no_secret(
    settings: Any, s3_backend: S3Backend
) -> None:
    from uploads.signers import SignerNotConfigured

    wrong = "wrong-secret-0123456789"
    use_storage(settings, s3_backend.storage_config(secret_key=wrong))
    with pytest.raises(SignerNotConfigured) as caught:
        get_signer("default").delete("avatars/x.png")
    assert "refused the credentials" in str(caught.value)
    assert wrong not in str(caught.value) and ACCESS_KEY not in str(caught.value)


@pytest.mark.django_db
def test_signer_is_built_once_per_storage(s3: S3Backend) -> None:
    signer = get_signer("default")
    assert get_signer("default") is signer
    client = signer.client  # type: ignore[attr-defined]
    assert client.meta.config.signature_version == "s3v4"
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (2, 5)
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}


# --- configuration from the environment (UPLOADS_STORAGE=s3) --------------------------------


def test_env_config_fails_loudly_naming_the_missing_variable(tmp_path: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="AWS_STORAGE_BUCKET_NAME"):
        env_storage_config({"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}, tmp_path)
    with pytest.raises(ImproperlyConfigured, match="needs AWS_SECRET_ACCESS_KEY"):
        env_storage_config({"AWS_STORAGE_BUCKET_NAME": "b", "AWS_ACCESS_KEY_ID": "a"}, tmp_path)
    with pytest.raises(ImproperlyConfigured, match="needs AWS_ACCESS_KEY_ID"):
        env_storage_config({"AWS_STORAGE_BUCKET_NAME": "b", "AWS_SECRET_ACCESS_KEY": "s"}, tmp_path)
    with pytest.raises(ImproperlyConfigured, match="AWS_S3_ENDPOINT_URL"):
        env_storage_config(
            {"AWS_STORAGE_BUCKET_NAME": "b", "AWS_S3_ENDPOINT_URL": "127.0.0.1:8333"}, tmp_path
        )


@pytest.mark.django_db
def test_env_config_uploads_end_to_end(
    settings: Any, s3_backend: S3Backend, api: APIClient, tmp_path: Any
) -> None:
    env = {
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_S3_ENDPOINT_URL": s3_backend.server.endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_S3_REGION_NAME": REGION,
    }
    use_storage(settings, env_storage_config(env, tmp_path))
    data = presign_ok(api, PNG, sha256=sha256_b64(PNG))
    assert send_answer(data, PNG, data["headers"]).status == 200
    assert api.post(f"/api/v1/uploads/{data['id']}/complete").status_code == 200
    assert s3_backend.read(data["key"]) == PNG
