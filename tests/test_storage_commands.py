"""`manage.py uploads_check_storage` and `manage.py uploads_cors`, against SeaweedFS: a
working bucket, a missing one, bad or missing credentials, CORS before and after, and a
clock that is off."""

from __future__ import annotations

import html
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from tests.backends.s3 import BUCKET, S3Backend, post_form, without_ambient_credentials
from tests.backends.strict_post import StrictPostProxy
from tests.helpers import use_storage
from uploads.services.storage_check import CHECK_PREFIX, check_storage
from uploads.signers import UploadSpec, get_signer

ORIGIN = "https://app.example"

# The check reads which upload types are public, to try their files' publicUrl.
pytestmark = pytest.mark.django_db


def add_storage(settings: Any, alias: str, config: dict[str, Any]) -> None:
    use_storage(settings, config, alias)
    aliases = [a for a in settings.UPLOADS.get("STORAGES", ["default"]) if a != alias]
    settings.UPLOADS = {**settings.UPLOADS, "STORAGES": [*aliases, alias]}


def run(*args: str) -> tuple[bool, str]:
    """The command's output, and whether it exited zero."""
    out = StringIO()
    try:
        call_command(*args, stdout=out, stderr=out)
    except CommandError as err:
        return False, f"{out.getvalue()}\n{err}"
    return True, out.getvalue()


def step_lines(output: str) -> dict[str, str]:
    """step name -> its line, from the report."""
    lines = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("ok", "FAIL", "skip", "WARN"):
            lines[parts[1]] = line
    return lines


def leftovers(s3: S3Backend, bucket: str = BUCKET) -> list[str]:
    listing = s3.admin.list_objects_v2(Bucket=bucket, Prefix=CHECK_PREFIX)
    return [item["Key"] for item in listing.get("Contents", [])]


# --- uploads_check_storage -------------------------------------------------------------------


def test_check_passes_on_a_working_bucket_and_leaves_nothing(
    settings: Any, s3_backend: S3Backend
) -> None:
    add_storage(settings, "s3", s3_backend.storage_config())
    ok, output = run("uploads_check_storage", "s3")
    assert ok, output
    steps = step_lines(output)
    assert list(steps) == [
        "configuration",
        "presign",
        "upload",
        "clock",
        "stat",
        "delete",
        "post-fields",
        "staging-private",
    ]
    assert all(line.split()[0] == "ok" for name, line in steps.items() if name != "post-fields"), (
        output
    )
    assert "with the sha256 it verified" in steps["stat"]
    assert "not readable without a signature" in steps["staging-private"]
    assert leftovers(s3_backend) == []
    listing = s3_backend.admin.list_objects_v2(Bucket=BUCKET, Prefix=f"staging/{CHECK_PREFIX}")
    assert listing.get("KeyCount", 0) == 0


def test_check_names_a_missing_bucket(settings: Any, s3_backend: S3Backend) -> None:
    add_storage(settings, "s3", s3_backend.storage_config(bucket_name="no-such-bucket"))
    ok, output = run("uploads_check_storage", "s3")
    assert not ok
    upload = step_lines(output)["upload"]
    assert upload.startswith("  FAIL")
    assert "bucket (or container) does not exist" in upload and "NoSuchBucket" in upload
    assert "stat" not in step_lines(output)
    assert "Storage check failed for: s3." in output
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError):  # the check created nothing
        s3_backend.admin.head_bucket(Bucket="no-such-bucket")


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"secret_key": "wrong-secret-0123456789"}, "SignatureDoesNotMatch"),
        ({"access_key": "UNKNOWNKEY"}, "InvalidAccessKeyId"),
    ],
    ids=["wrong-secret", "unknown-key"],
)
def test_check_names_refused_credentials_without_showing_them(
    settings: Any, s3_backend: S3Backend, options: dict[str, str], code: str
) -> None:
    add_storage(settings, "s3", s3_backend.storage_config(**options))
    ok, output = run("uploads_check_storage", "s3")
    assert not ok
    upload = step_lines(output)["upload"]
    assert "refused the credentials" in upload and code in upload
    assert "wrong-secret-0123456789" not in output
    assert leftovers(s3_backend) == []


def test_check_names_missing_credentials(
    settings: Any, s3_backend: S3Backend, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    without_ambient_credentials(monkeypatch, tmp_path)
    add_storage(settings, "s3", s3_backend.storage_config(access_key=None, secret_key=None))
    ok, output = run("uploads_check_storage", "s3")
    assert not ok
    steps = step_lines(output)
    assert list(steps) == ["configuration"]
    assert "no AWS credentials" in steps["configuration"]
    assert "AWS_ACCESS_KEY_ID" in steps["configuration"]


def test_check_runs_every_configured_storage_and_fails_for_the_broken_one(
    settings: Any, s3_backend: S3Backend
) -> None:
    add_storage(settings, "good", s3_backend.storage_config())
    add_storage(settings, "broken", s3_backend.storage_config(bucket_name="no-such-bucket"))
    ok, output = run("uploads_check_storage")
    assert not ok
    assert "Storage 'default': OK" in output  # the local signer, its upload step skipped
    assert "Storage 'good': OK" in output
    assert "Storage 'broken': FAILED" in output
    assert "Storage check failed for: broken." in output


def test_local_storage_skips_the_http_steps_without_a_base_url(db: Any) -> None:
    report = check_storage("default")
    assert report.ok
    assert [(s.name, s.skipped) for s in report.steps] == [
        ("configuration", False),
        ("presign", False),
        ("upload", True),
    ]


def test_check_reports_clock_skew(settings: Any, s3_backend: S3Backend) -> None:
    add_storage(settings, "s3", s3_backend.storage_config())
    with time_machine.travel(timezone.now() + timedelta(minutes=10), tick=True):
        ok, output = run("uploads_check_storage", "s3")
    assert not ok
    clock = step_lines(output)["clock"]
    assert clock.startswith("  FAIL") and "ahead of the storage's" in clock and "NTP" in clock
    assert leftovers(s3_backend) == []


# --- CORS ------------------------------------------------------------------------------------


def test_cors_fails_until_uploads_cors_allows_the_origin(
    settings: Any, s3_backend: S3Backend
) -> None:
    bucket = s3_backend.new_bucket()
    add_storage(settings, "s3", s3_backend.storage_config(bucket_name=bucket))

    ok, output = run("uploads_check_storage", "s3", "--origin", ORIGIN)
    assert not ok
    cors = step_lines(output)["cors"]
    assert cors.startswith("  FAIL") and f"Browsers on {ORIGIN} cannot upload" in cors
    assert f"manage.py uploads_cors s3 --origin {ORIGIN}" in cors

    ok, output = run("uploads_cors", "s3", "--origin", ORIGIN, "--origin", "http://localhost:5173")
    assert ok, output
    assert f"origins          {ORIGIN}, http://localhost:5173" in output

    ok, output = run("uploads_check_storage", "s3", "--origin", ORIGIN)
    assert ok, output
    assert step_lines(output)["cors"].startswith("  ok")
    ok, output = run("uploads_check_storage", "s3", "--origin", "https://elsewhere.example")
    assert not ok
    assert step_lines(output)["cors"].startswith("  FAIL")


def test_uploads_cors_keeps_rules_it_did_not_set(settings: Any, s3_backend: S3Backend) -> None:
    bucket = s3_backend.new_bucket()
    add_storage(settings, "s3", s3_backend.storage_config(bucket_name=bucket))
    theirs = {"AllowedOrigins": ["https://reports.example"], "AllowedMethods": ["GET"]}
    s3_backend.admin.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [theirs]})

    assert run("uploads_cors", "s3", "--origin", ORIGIN)[0]
    assert run("uploads_cors", "s3", "--origin", "https://new.example")[0]

    rules = s3_backend.admin.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert [r["AllowedOrigins"] for r in rules] == [
        ["https://reports.example"],
        ["https://new.example"],
    ]
    ours = rules[1]
    assert set(ours["AllowedMethods"]) == {"PUT", "POST", "GET", "HEAD"}
    assert ours["ExposeHeaders"] == ["ETag"]


@pytest.mark.parametrize(
    "value",
    ["https://app.example/upload", "app.example", "ftp://app.example", "https://a:b@app.example"],
)
def test_uploads_cors_refuses_what_is_not_an_origin(
    settings: Any, s3_backend: S3Backend, value: str
) -> None:
    bucket = s3_backend.new_bucket()
    add_storage(settings, "s3", s3_backend.storage_config(bucket_name=bucket))
    with pytest.raises(CommandError, match="is not an origin"):
        call_command("uploads_cors", "s3", "--origin", value, stdout=StringIO(), stderr=StringIO())
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="NoSuchCORSConfiguration"):
        s3_backend.admin.get_bucket_cors(Bucket=bucket)


def test_uploads_cors_on_a_storage_that_cannot_says_so(db: Any) -> None:
    ok, output = run("uploads_cors", "default", "--origin", ORIGIN)
    assert not ok
    assert "Could not set CORS on storage 'default'" in output and "cannot configure CORS" in output


def test_uploads_cors_names_a_missing_bucket(settings: Any, s3_backend: S3Backend) -> None:
    add_storage(settings, "s3", s3_backend.storage_config(bucket_name="no-such-bucket"))
    ok, output = run("uploads_cors", "s3", "--origin", ORIGIN)
    assert not ok
    assert "Bucket 'no-such-bucket' of storage 's3' does not exist" in output


# --- POST form fields that the signed policy does not name ----------------------------------


def test_check_warns_that_seaweedfs_takes_post_fields_the_policy_does_not_name(
    settings: Any, s3_backend: S3Backend
) -> None:
    add_storage(settings, "s3", s3_backend.storage_config())

    ok, output = run("uploads_check_storage", "s3")

    assert ok, output  # a warning, not a failure
    assert "Storage 's3': OK, with warnings" in output
    line = step_lines(output)["post-fields"]
    assert line.split()[0] == "WARN", line
    assert "accepts POST form fields that the signed policy does not name" in line
    assert "Only the staging object is affected" in line
    assert "use PUT for the upload types on this storage" in line
    assert leftovers(s3_backend) == []


def test_a_storage_that_refuses_unnamed_post_fields_gets_no_warning(
    settings: Any, s3_backend: S3Backend
) -> None:
    with StrictPostProxy(s3_backend.server.endpoint) as endpoint:
        add_storage(settings, "s3", s3_backend.storage_config(endpoint_url=endpoint))
        # The front takes a form with only the policy's fields...
        spec = UploadSpec(
            key=f"{CHECK_PREFIX}form.txt",
            content_type="text/plain",
            expires_at=timezone.now() + timedelta(minutes=5),
            max_size=2,
            method="POST",
        )
        signed = get_signer("s3").presign_upload(spec)
        assert signed.fields is not None
        assert post_form(signed.url, signed.fields, b"hi", "text/plain").status == 204
        s3_backend.admin.delete_object(Bucket=BUCKET, Key=spec.key)

        ok, output = run("uploads_check_storage", "s3")

    assert ok, output
    assert "Storage 's3': OK\n" in output and "WARN" not in output
    line = step_lines(output)["post-fields"]
    assert line.split()[0] == "ok", line
    assert "refuses POST form fields not in the policy (403 AccessDenied)" in line
    assert leftovers(s3_backend) == []


# --- the admin action ----------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_action_reports_each_storage_of_the_selected_types(
    settings: Any, s3_backend: S3Backend, admin_client: Any
) -> None:
    from uploads.models import UploadPolicy

    add_storage(settings, "s3", s3_backend.storage_config())
    add_storage(settings, "gone", s3_backend.storage_config(bucket_name="no-such-bucket"))
    avatar = UploadPolicy.objects.get(name="avatar")
    UploadPolicy.objects.filter(name="media").update(storage="gone")
    # Private: the bucket serves nothing anonymously (tests/test_admin_operators.py).
    UploadPolicy.objects.filter(pk=avatar.pk).update(storage="s3", is_public=False)
    selected = UploadPolicy.objects.filter(name__in=["avatar", "media"])

    response = admin_client.post(
        "/admin/uploads/uploadpolicy/",
        {"action": "check_storage", "_selected_action": [p.pk for p in selected]},
        follow=True,
    )
    shown = {html.unescape(str(m)): m.level_tag for m in response.context["messages"]}
    ok = next(text for text in shown if text.startswith("Storage 's3': OK"))
    failed = next(text for text in shown if text.startswith("Storage 'gone': FAILED"))
    # SeaweedFS takes POST fields that a policy does not name: a warning (see below).
    assert (shown[ok], shown[failed]) == ("warning", "error")
    assert "The bucket (or container) does not exist" in failed
    assert leftovers(s3_backend) == []
