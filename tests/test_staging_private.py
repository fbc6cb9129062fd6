"""Unverified bytes are never public: on each documented public setup (an Azure container
with public blob access beside a private staging container, an S3 bucket policy on the public
types' prefixes only, a GCS staging bucket), a staging object answers an anonymous GET with
403/404 before complete and after a reject, while the completed file reads anonymously; and
the storage check fails on a setup that exposes staging, naming the fix."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import requests
from azure.core.exceptions import ResourceNotFoundError
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.utils import timezone

from config.storage_env import azure as azure_env
from config.storage_env import gcs as gcs_env
from tests.backends.azure import ACCOUNT, AzureBackend, storage_config
from tests.backends.gcs import GCSBackend
from tests.backends.s3 import S3Backend
from tests.conftest import make_png, sha256_b64
from tests.helpers import PRESIGN, assert_ok, presign_ok, settled, status_of, use_storage
from uploads.keys import staging_key
from uploads.models import Upload
from uploads.services.storage_check import check_storage, describe

pytestmark = pytest.mark.django_db

PNG = make_png(6, 6)
HTML = b"<!doctype html><html><script>alert(document.domain)</script></html>"
MiB = 1024 * 1024
PART = 64 * 1024
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + os.urandom(3 * PART + 123)


def anonymous(url: str) -> requests.Response:
    return requests.get(url, timeout=10)


def put(answer: dict[str, Any], body: bytes) -> int:
    response = requests.request(
        answer["method"], answer["uploadUrl"], data=body, headers=answer["headers"], timeout=10
    )
    return response.status_code


@pytest.fixture
def complete(api: Any, django_capture_on_commit_callbacks: Any) -> Any:
    """POST complete, running what the app leaves until its transaction commits (the
    staging object's delete)."""

    def do(upload_id: str) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return api.post(f"/api/v1/uploads/{upload_id}/complete")

    return do


def step(report: Any, name: str) -> Any:
    return next(s for s in report.steps if s.name == name)


def send_parts(backend: Any, api: Any, upload_id: str) -> None:
    numbers = list(range(1, -(-len(MP4) // PART) + 1))
    batch = {"partNumbers": numbers}
    signed = assert_ok(api.post(f"/api/v1/uploads/{upload_id}/parts", batch, format="json"))
    for part in signed["parts"]:
        n = part["partNumber"]
        chunk = MP4[(n - 1) * PART : n * PART]
        answer = {"method": part["method"], "uploadUrl": part["url"]}
        assert backend.send(answer, chunk, part["headers"]) < 300, n


def large_file_through_the_api(
    backend: Any, api: Any, edit_policy: Any, capture: Any, parts_sent: Callable[[str], None]
) -> dict[str, Any]:
    """Presign, send the parts, call ``parts_sent`` with the staging key, complete."""
    edit_policy("media", part_size=PART, multipart_threshold=2 * PART, max_size=MiB)
    body = {"type": "media", "contentType": "video/mp4", "size": len(MP4)}
    plan = assert_ok(api.post(PRESIGN, {**body, "sha256": sha256_b64(MP4)}, format="json"), 201)
    send_parts(backend, api, plan["id"])
    parts_sent(staging_key(plan["key"]))
    done: dict[str, Any] = settled(api, capture, plan["id"])
    assert (done["status"], done["sha256"]) == ("completed", sha256_b64(MP4))
    return done


# --- Azure: a private staging container beside the public one -------------------------------


class Containers:
    def __init__(self, backend: AzureBackend) -> None:
        self.backend = backend
        self.public = f"public{uuid.uuid4().hex[:8]}"
        self.staging = f"staging{uuid.uuid4().hex[:8]}"

    def url(self, container: str, name: str) -> str:
        return f"http://127.0.0.1:{self.backend.port}/{ACCOUNT}/{container}/{name}"

    def names(self, container: str) -> list[str]:
        client = self.backend.service.get_container_client(container)
        return [blob.name for blob in client.list_blobs()]


@pytest.fixture
def azure_public(azure_backend: AzureBackend, settings: Any) -> Iterator[Containers]:
    """The documented Azure setup: the storage's container at public blob access, staging
    blobs in a private container of the same account."""
    containers = Containers(azure_backend)
    azure_backend.service.create_container(containers.public, public_access="blob")
    azure_backend.service.create_container(containers.staging)
    use_storage(settings, storage_config(azure_backend.port, containers.public))
    settings.UPLOADS = {**settings.UPLOADS, "STAGING_BUCKETS": {"default": containers.staging}}
    yield containers
    for name in (containers.public, containers.staging):
        azure_backend.service.delete_container(name)


def test_azure_staging_blob_is_private_until_complete_and_the_file_public_after(
    azure_public: Containers, api: Any, complete: Any
) -> None:
    answer = presign_ok(api, PNG)
    staging = staging_key(answer["key"])
    assert urlsplit(answer["uploadUrl"]).path == f"/{ACCOUNT}/{azure_public.staging}/{staging}"
    assert put(answer, PNG) == 201

    assert anonymous(azure_public.url(azure_public.staging, staging)).status_code == 403
    assert anonymous(azure_public.url(azure_public.public, staging)).status_code == 404

    done = complete(answer["id"])

    assert done.status_code == 200, done.content
    served = anonymous(done.json()["data"]["publicUrl"])
    assert (served.status_code, served.content) == (200, PNG)
    assert azure_public.names(azure_public.staging) == []  # the staging blob went
    # The file and, beside it, the variants its type declares (the avatar's thumb).
    kept = [answer["key"], *Upload.objects.get(pk=answer["id"]).variant_keys()]
    assert len(kept) == 2 and azure_public.names(azure_public.public) == sorted(kept)


def test_azure_html_sent_as_png_is_never_served_before_or_after_its_reject(
    azure_public: Containers, api: Any, complete: Any
) -> None:
    answer = presign_ok(api, HTML)
    staging = staging_key(answer["key"])
    assert put(answer, HTML) == 201

    before = anonymous(azure_public.url(azure_public.staging, staging))
    assert before.status_code == 403 and b"<script>" not in before.content
    assert anonymous(azure_public.url(azure_public.public, staging)).status_code == 404

    refused = complete(answer["id"])

    assert refused.status_code == 422, refused.content
    assert Upload.objects.get(pk=answer["id"]).status == Upload.Status.REJECTED
    for container in (azure_public.staging, azure_public.public):
        assert anonymous(azure_public.url(container, staging)).status_code in (403, 404)
        assert anonymous(azure_public.url(container, answer["key"])).status_code in (403, 404)


def test_azure_block_upload_assembles_in_the_staging_container_and_promotes_across(
    azure_public: Containers,
    azure_backend: AzureBackend,
    api: Any,
    edit_policy: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    def blocks_in(container: str, name: str) -> int:
        blob = azure_backend.service.get_container_client(container).get_blob_client(name)
        try:
            committed, uncommitted = blob.get_block_list(block_list_type="all")
        except ResourceNotFoundError:
            return 0
        return len(committed) + len(uncommitted)

    def parts_sent(staging: str) -> None:
        assert blocks_in(azure_public.staging, staging) == 4
        assert blocks_in(azure_public.public, staging) == 0

    done = large_file_through_the_api(
        azure_backend, api, edit_policy, django_capture_on_commit_callbacks, parts_sent
    )

    served = anonymous(done["publicUrl"])
    assert served.status_code == 200
    assert hashlib.sha256(served.content).digest() == hashlib.sha256(MP4).digest()
    assert azure_public.names(azure_public.staging) == []
    assert azure_public.names(azure_public.public) == [done["key"]]


def test_azure_sweep_clears_the_staging_container(
    azure_public: Containers, azure_backend: AzureBackend, api: Any
) -> None:
    oversize, expired = presign_ok(api, PNG), presign_ok(api, PNG)
    assert put(oversize, PNG + b"\0" * 4096) == 201  # a SAS binds no length
    assert put(expired, PNG) == 201
    assert len(azure_public.names(azure_public.staging)) == 2
    Upload.objects.filter(pk=expired["id"]).update(expires_at=timezone.now() - timedelta(days=2))

    call_command("uploads_cleanup", stdout=io.StringIO())

    assert (status_of(oversize["id"]), status_of(expired["id"])) == ("rejected", "expired")
    assert azure_public.names(azure_public.staging) == []


def test_azure_check_fails_on_a_public_container_holding_staging_and_names_the_fix(
    azure_backend: AzureBackend, settings: Any
) -> None:
    container = f"public{uuid.uuid4().hex[:8]}"
    azure_backend.service.create_container(container, public_access="blob")
    use_storage(settings, storage_config(azure_backend.port, container))

    report = check_storage("default")

    exposed = step(report, "staging-private")
    assert not report.ok and not exposed.ok
    assert "Staging objects are readable anonymously (200" in exposed.detail
    assert "AZURE_STAGING_CONTAINER" in exposed.detail
    assert "UPLOADS['STAGING_BUCKETS']" in exposed.detail
    assert any("staging-private" in line for line in describe(report))
    assert Containers(azure_backend).names(container) == []  # the test objects are gone
    azure_backend.service.delete_container(container)


def test_azure_check_passes_with_the_private_staging_container(azure_public: Containers) -> None:
    report = check_storage("default")

    assert step(report, "staging-private").ok, describe(report)
    assert report.ok, describe(report)
    assert azure_public.names(azure_public.staging) == []


def test_azure_check_names_a_staging_container_that_does_not_exist(
    azure_public: Containers, azure_backend: AzureBackend
) -> None:
    azure_backend.service.delete_container(azure_public.staging)

    report = check_storage("default")

    missing = step(report, "staging-private")
    assert not missing.ok
    assert "A container of storage 'default'" in missing.detail
    assert f"staging container {azure_public.staging}" in missing.detail
    assert "UPLOADS['STAGING_BUCKETS']" in missing.detail
    azure_backend.service.create_container(azure_public.staging)  # for the fixture's teardown


def test_azure_env_names_the_staging_container(tmp_path: Path) -> None:
    env = {"AZURE_CONTAINER": "uploads", "AZURE_STAGING_CONTAINER": "uploads-staging"}

    assert azure_env.staging_buckets(env) == {"default": "uploads-staging"}
    assert azure_env.staging_buckets({"AZURE_CONTAINER": "uploads"}) == {}
    with pytest.raises(ImproperlyConfigured, match="AZURE_STAGING_CONTAINER must name another"):
        azure_env.staging_buckets({**env, "AZURE_STAGING_CONTAINER": "uploads"})


# --- S3: a bucket policy on the public types' prefixes only ---------------------------------


def public_read_policy(bucket: str, resource: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/{resource}",
                }
            ],
        }
    )


@pytest.fixture
def s3_bucket(s3_backend: S3Backend, settings: Any) -> str:
    bucket = s3_backend.new_bucket()
    use_storage(settings, s3_backend.storage_config(bucket_name=bucket))
    return bucket


def test_s3_policy_on_the_public_prefixes_reads_the_file_and_never_staging(
    s3_backend: S3Backend, s3_bucket: str, api: Any, complete: Any
) -> None:
    s3_backend.admin.put_bucket_policy(
        Bucket=s3_bucket, Policy=public_read_policy(s3_bucket, "avatars/*")
    )
    answer = presign_ok(api, HTML)
    staging_url = f"{s3_backend.server.endpoint}/{s3_bucket}/{staging_key(answer['key'])}"
    assert s3_backend.send(answer, HTML, answer["headers"]) == 200
    assert anonymous(staging_url).status_code == 403  # before complete
    assert complete(answer["id"]).status_code == 422
    assert anonymous(staging_url).status_code in (403, 404)  # after the reject

    answer = presign_ok(api, PNG)
    assert s3_backend.send(answer, PNG, answer["headers"]) == 200
    staging_url = f"{s3_backend.server.endpoint}/{s3_bucket}/{staging_key(answer['key'])}"
    assert anonymous(staging_url).status_code == 403
    done = complete(answer["id"])
    assert done.status_code == 200, done.content
    served = anonymous(done.json()["data"]["publicUrl"])
    assert (served.status_code, served.content) == (200, PNG)

    report = check_storage("default")
    assert step(report, "staging-private").ok and step(report, "public-read").ok, describe(report)


def test_s3_check_fails_on_a_policy_over_the_whole_bucket(
    s3_backend: S3Backend, s3_bucket: str
) -> None:
    s3_backend.admin.put_bucket_policy(Bucket=s3_bucket, Policy=public_read_policy(s3_bucket, "*"))

    report = check_storage("default")

    exposed = step(report, "staging-private")
    assert not report.ok and not exposed.ok
    assert "readable anonymously (200" in exposed.detail
    assert f"arn:aws:s3:::{s3_bucket}/<prefix>/*" in exposed.detail


# --- GCS: a staging bucket ------------------------------------------------------------------


@pytest.fixture
def gcs_staging(
    gcs_backend: GCSBackend, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    for name, value in gcs_backend.client_env().items():
        monkeypatch.setenv(name, value)
    use_storage(settings, gcs_backend.storage_config())
    bucket = f"staging-{uuid.uuid4().hex[:12]}"
    gcs_backend.server.create_bucket(bucket)
    settings.UPLOADS = {**settings.UPLOADS, "STAGING_BUCKETS": {"default": bucket}}
    yield bucket


def gcs_names(backend: GCSBackend, bucket: str) -> list[str]:
    response = requests.get(f"{backend.server.url}/storage/v1/b/{bucket}/o", timeout=5)
    response.raise_for_status()
    return [item["name"] for item in response.json().get("items", [])]


def test_gcs_uploads_write_the_staging_bucket_and_complete_promotes_across(
    gcs_backend: GCSBackend, gcs_staging: str, api: Any, complete: Any
) -> None:
    answer = presign_ok(api, PNG)
    staging = staging_key(answer["key"])
    assert urlsplit(answer["uploadUrl"]).path == f"/{gcs_staging}/{staging}"
    assert gcs_backend.send(answer, PNG, answer["headers"]) == 200
    assert gcs_names(gcs_backend, gcs_staging) == [staging]
    assert gcs_backend.read(staging) is None  # nothing of it in the public bucket

    done = complete(answer["id"])

    assert done.status_code == 200, done.content
    assert gcs_backend.read(answer["key"]) == PNG
    assert gcs_names(gcs_backend, gcs_staging) == []


def test_gcs_a_rejected_upload_leaves_nothing_in_either_bucket(
    gcs_backend: GCSBackend, gcs_staging: str, api: Any, complete: Any
) -> None:
    answer = presign_ok(api, HTML)
    assert gcs_backend.send(answer, HTML, answer["headers"]) == 200
    assert gcs_names(gcs_backend, gcs_staging) == [staging_key(answer["key"])]

    assert complete(answer["id"]).status_code == 422

    assert gcs_names(gcs_backend, gcs_staging) == []
    assert gcs_backend.read(answer["key"]) is None


def test_gcs_parts_are_composed_in_the_staging_bucket(
    gcs_backend: GCSBackend,
    gcs_staging: str,
    api: Any,
    edit_policy: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    def parts_sent(staging: str) -> None:
        assert len([n for n in gcs_names(gcs_backend, gcs_staging) if n.startswith(staging)]) == 4
        assert not [n for n in gcs_names(gcs_backend, gcs_backend.bucket) if n.startswith(staging)]

    done = large_file_through_the_api(
        gcs_backend, api, edit_policy, django_capture_on_commit_callbacks, parts_sent
    )

    stored = gcs_backend.read(done["key"])
    assert stored is not None
    assert hashlib.sha256(stored).digest() == hashlib.sha256(MP4).digest()
    assert gcs_names(gcs_backend, gcs_staging) == []


@pytest.mark.parametrize("staging_bucket", [True, False])
def test_gcs_public_acl_is_never_signed_for_a_staging_object(
    gcs_backend: GCSBackend, gcs_staging: str, settings: Any, api: Any, staging_bucket: bool
) -> None:
    use_storage(settings, gcs_backend.storage_config(default_acl="publicRead"))
    if not staging_bucket:
        settings.UPLOADS = {**settings.UPLOADS, "STAGING_BUCKETS": {}}

    answer = presign_ok(api, PNG)

    assert "x-goog-acl" not in answer["headers"]


def test_gcs_check_fails_when_staging_shares_the_public_bucket(
    gcs_backend: GCSBackend, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # fake-gcs-server serves every object anonymously, as a bucket where allUsers holds
    # roles/storage.objectViewer does.
    for name, value in gcs_backend.client_env().items():
        monkeypatch.setenv(name, value)
    use_storage(settings, gcs_backend.storage_config())

    report = check_storage("default")

    exposed = step(report, "staging-private")
    assert not exposed.ok
    assert "GS_STAGING_BUCKET_NAME" in exposed.detail
    assert "UPLOADS['STAGING_BUCKETS']" in exposed.detail


def test_gcs_env_names_the_staging_bucket() -> None:
    env = {"GS_BUCKET_NAME": "uploads", "GS_STAGING_BUCKET_NAME": "uploads-staging"}

    assert gcs_env.staging_buckets(env) == {"default": "uploads-staging"}
    with pytest.raises(ImproperlyConfigured, match="GS_STAGING_BUCKET_NAME must name another"):
        gcs_env.staging_buckets({**env, "GS_STAGING_BUCKET_NAME": "uploads"})


# --- the CDN ----------------------------------------------------------------------------------


@contextmanager
def cdn_in_front_of(s3_backend: S3Backend, bucket: str) -> Iterator[str]:
    """A CDN with its own read access to the whole bucket (an origin access identity), as a
    local HTTP server: GET /<name> serves the bucket's object, anonymously."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = s3_backend.read(unquote(self.path.lstrip("/")), bucket)
            self.send_response(404 if body is None else 200)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_check_fails_when_the_cdn_base_serves_staging(
    s3_backend: S3Backend, s3_bucket: str, settings: Any
) -> None:
    s3_backend.admin.put_bucket_policy(
        Bucket=s3_bucket, Policy=public_read_policy(s3_bucket, "avatars/*")
    )
    with cdn_in_front_of(s3_backend, s3_bucket) as cdn:
        settings.UPLOADS = {**settings.UPLOADS, "PUBLIC_BASE_URL": cdn}

        report = check_storage("default")

    exposed = step(report, "staging-private")
    assert not report.ok and not exposed.ok
    assert f"(200 for {cdn}/staging/" in exposed.detail
    assert "The CDN of UPLOADS['PUBLIC_BASE_URL'] serves staging/" in exposed.detail
    assert step(report, "public-read").ok  # the public files do read through the CDN


# --- system checks ----------------------------------------------------------------------------


def check_ids(settings: Any) -> dict[str, list[str]]:
    settings.DEBUG = True  # (W001 is about DEBUG off)
    found: dict[str, list[str]] = {}
    for message in run_checks():
        if str(message.id).startswith("uploads."):
            found.setdefault(str(message.id), []).append(str(message.msg))
    return found


def test_a_staging_bucket_for_no_upload_storage_is_w006(settings: Any) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "STAGING_BUCKETS": {"defualt": "uploads-staging"}}

    found = check_ids(settings)

    assert list(found) == ["uploads.W006"]
    assert "names 'defualt', which is not in UPLOADS['STORAGES']" in found["uploads.W006"][0]


def test_a_staging_bucket_for_a_signer_that_keeps_staging_inside_is_e002(
    settings: Any, s3_bucket: str
) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "STAGING_BUCKETS": {"default": "uploads-staging"}}

    found = check_ids(settings)

    assert list(found) == ["uploads.E002"]
    assert "keeps staging objects in the storage itself" in found["uploads.E002"][0]


def test_a_staging_bucket_that_is_not_a_name_is_e001(settings: Any) -> None:
    settings.UPLOADS = {**settings.UPLOADS, "STAGING_BUCKETS": {"default": ""}}

    found = check_ids(settings)

    assert list(found) == ["uploads.E001"]
    assert "STAGING_BUCKETS']['default'] must be the name of a bucket" in found["uploads.E001"][0]


def test_an_azure_staging_container_passes_the_checks(
    azure_public: Containers, settings: Any
) -> None:
    assert check_ids(settings) == {}
