"""A real round trip through one upload storage, for operators: does the signer load, can
it sign, does the storage take a signed upload, can we read it back and delete it, do
browsers on a given origin get through CORS, and is this server's clock right?

Works with any signer through the Signer interface alone; the HTTP requests use the
standard library, so the app needs no HTTP client package.
"""

from __future__ import annotations

import base64
import hashlib
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parsedate_to_datetime

from django.utils import timezone
from django.utils.encoding import filepath_to_uri

from uploads.app_settings import app_settings
from uploads.keys import staging_key
from uploads.signers import (
    ObjectHeaders,
    PresignedUpload,
    Signer,
    SignerError,
    SignerNotConfigured,
    UploadSpec,
    get_signer,
)

CHECK_PREFIX = "_uploads_check/"
CHECK_BODY = b"django-upload-policies storage check\n"
CHECK_TYPE = "text/plain"
MAX_SKEW = 60  # seconds
HTTP_TIMEOUT = 15
# Headers a browser sets itself and never lists in a CORS preflight.
BROWSER_SET = {"content-length", "host"}


@dataclass(frozen=True)
class Step:
    name: str
    ok: bool
    detail: str
    skipped: bool = False
    # Passed, but the storage does something the operator should know and change.
    warning: bool = False


@dataclass
class StorageReport:
    alias: str
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    @property
    def warned(self) -> bool:
        return any(step.warning for step in self.steps)

    def add(
        self, name: str, ok: bool, detail: str, skipped: bool = False, warning: bool = False
    ) -> bool:
        self.steps.append(Step(name, ok, detail, skipped, warning))
        return ok


@dataclass
class HttpAnswer:
    status: int  # 0 when nothing answered
    headers: dict[str, str]
    body: bytes
    error: str = ""

    @property
    def code(self) -> str:
        """The provider's error code from an XML error body (S3, GCS and Azure all send
        one as <Code>...</Code>)."""
        start, end = self.body.find(b"<Code>"), self.body.find(b"</Code>")
        return self.body[start + 6 : end].decode(errors="replace") if 0 <= start < end else ""

    @property
    def message(self) -> str:
        start, end = self.body.find(b"<Message>"), self.body.find(b"</Message>")
        return self.body[start + 9 : end].decode(errors="replace") if 0 <= start < end else ""


# Provider error codes -> what is wrong, in plain words.
BUCKET_MISSING = {"NoSuchBucket", "ContainerNotFound", "BucketNotFound"}
BAD_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AuthenticationFailed",
    "InvalidToken",
    "ExpiredToken",
    "InvalidSecurity",
    "InvalidAuthenticationInfo",
}
DENIED = {
    "AccessDenied",
    "AuthorizationPermissionMismatch",
    "AuthorizationFailure",
    "AllAccessDisabled",
    "AccountProblem",
    "UserProjectAccountProblem",
}
WRONG_REGION = {
    "AuthorizationHeaderMalformed",
    "PermanentRedirect",
    "IllegalLocationConstraintException",
}
SKEWED = {"RequestTimeTooSkewed"}


SHELL_HINT = "Pass --base-url of a running server to send it."
WEB_HINT = (
    "This page does not call its own site back; try an upload on the demo page (/demo/) instead."
)


def public_prefixes(alias: str) -> list[str]:
    """The key prefixes of the active public upload types stored in ``alias``."""
    from uploads.models import UploadPolicy

    return sorted(
        set(
            UploadPolicy.objects.filter(storage=alias, is_active=True, is_public=True).values_list(
                "key_prefix", flat=True
            )
        )
    )


def check_storage(
    alias: str,
    origin: str | None = None,
    base_url: str | None = None,
    *,
    relative_hint: str = SHELL_HINT,
) -> StorageReport:
    """Run every step against storage ``alias``; ``origin`` adds the CORS preflight;
    ``base_url`` resolves a relative upload URL (the local signer's) against a running
    server, without which the HTTP steps are skipped (saying ``relative_hint``). For each
    public upload type stored there, whether its files' publicUrl answers anonymously."""
    report = StorageReport(alias)
    try:
        signer = get_signer(alias)
    except SignerNotConfigured as err:
        report.add("configuration", False, str(err))
        return report
    report.add("configuration", True, f"{type(signer).__name__} loaded for storage '{alias}'.")

    key = f"{CHECK_PREFIX}{uuid.uuid4().hex}.txt"
    method = "PUT" if "PUT" in signer.methods else min(signer.methods)
    spec = _check_spec(key, method, sha256=True)
    try:
        presigned = signer.presign_upload(spec)
    except SignerError as err:
        report.add("presign", False, f"Could not sign an upload: {err}")
        return report
    report.add("presign", True, f"Signed a {presigned.method} of {len(CHECK_BODY)} bytes to {key}.")

    url = _absolute(presigned.url, base_url)
    if url is None:
        report.add(
            "upload",
            True,
            "Skipped: the upload URL is relative to this site (local signer). " + relative_hint,
            skipped=True,
        )
        if origin:
            report.add(
                "cors", True, "Skipped: the upload URL is relative to this site.", skipped=True
            )
        return report

    answer = _send(presigned, url)
    skew = _skew(answer)
    uploaded = 200 <= answer.status < 300
    if uploaded:
        report.add(
            "upload", True, f"The storage took the signed {presigned.method} ({answer.status})."
        )
    else:
        report.add("upload", False, _diagnose(answer, alias, skew))
    _clock(report, skew)
    if uploaded:
        deleted = False
        try:
            deleted = _verify_and_delete(report, signer, key)
        finally:
            if not deleted:
                _cleanup(signer, key)
    if uploaded:
        _unsigned_post_fields(report, signer, base_url)
        _staging_private(report, alias, signer, base_url)
    if uploaded:
        for prefix in public_prefixes(alias):
            _public_read(report, alias, signer, prefix, base_url)
    if origin and uploaded:
        _cors(report, alias, url, presigned, origin)
    elif origin:
        report.add("cors", True, "Skipped until the upload itself works.", skipped=True)
    return report


def _check_spec(key: str, method: str, *, sha256: bool) -> UploadSpec:
    """An upload of CHECK_BODY to ``key``, for five minutes."""
    digest = base64.b64encode(hashlib.sha256(CHECK_BODY).digest()).decode()
    return UploadSpec(
        key=key,
        content_type=CHECK_TYPE,
        expires_at=timezone.now() + timedelta(minutes=5),
        max_size=len(CHECK_BODY),
        size=len(CHECK_BODY),
        sha256=digest if sha256 else None,
        metadata={"owner": "uploads_check_storage"},
        method=method,
    )


def _absolute(url: str, base_url: str | None) -> str | None:
    if urllib.parse.urlsplit(url).scheme in ("http", "https"):
        return url
    if not base_url:
        return None
    return urllib.parse.urljoin(base_url.rstrip("/") + "/", url)


def _request(method: str, url: str, body: bytes | None, headers: dict[str, str]) -> HttpAnswer:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return HttpAnswer(response.status, dict(response.headers.items()), response.read(65536))
    except urllib.error.HTTPError as error:
        return HttpAnswer(error.code, dict(error.headers.items()), error.read(65536))
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return HttpAnswer(0, {}, b"", error=str(reason))


def _send(
    presigned: PresignedUpload, url: str, extra_fields: dict[str, str] | None = None
) -> HttpAnswer:
    """Exactly what a client is told to send: the method, the headers, the form fields
    (and ``extra_fields`` after them, to see whether the storage takes more)."""
    if presigned.fields is not None:
        boundary = uuid.uuid4().hex
        parts = [
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            ).encode()
            for name, value in {**presigned.fields, **(extra_fields or {})}.items()
        ]
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="check.txt"\r\n'
            f"Content-Type: {CHECK_TYPE}\r\n\r\n".encode()
            + CHECK_BODY
            + b"\r\n"
            + f"--{boundary}--\r\n".encode()
        )
        headers = {**presigned.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}
        return _request(presigned.method, url, b"".join(parts), headers)
    return _request(presigned.method, url, CHECK_BODY, dict(presigned.headers))


# Sent with a signed POST form although its policy does not name it.
UNSIGNED_FIELD = ("Cache-Control", "no-store")


def _unsigned_post_fields(report: StorageReport, signer: Signer, base_url: str | None) -> None:
    """For a signer that offers POST forms: does the storage refuse a form field that the
    signed policy does not name, as AWS does? A storage that takes it lets a client set the
    headers (or metadata) of what it uploads."""
    if "POST" not in signer.methods:
        return
    name = "post-fields"
    key = f"{CHECK_PREFIX}{uuid.uuid4().hex}.txt"
    spec = _check_spec(key, "POST", sha256=False)
    try:
        presigned = signer.presign_upload(spec)
        url = _absolute(presigned.url, base_url)
        if url is None:
            report.add(name, True, "Skipped: the POST URL is relative to this site.", skipped=True)
            return
        field_name, value = UNSIGNED_FIELD
        answer = _send(presigned, url, {field_name: value})
    except SignerError as err:
        report.add(name, False, f"Could not sign a POST upload: {err}")
        return
    finally:
        _cleanup(signer, key)
    if 200 <= answer.status < 300 or answer.status == 303:
        report.add(
            name,
            True,
            f"The storage accepts POST form fields that the signed policy does not name (it "
            f"took '{field_name}' with {answer.status}): a client can set headers such as "
            "Content-Disposition or Cache-Control on what it uploads. Only the staging object "
            "is affected, since complete copies it to its key with the server's own headers. "
            "To close it, use PUT for the upload types on this storage, or a storage that "
            "enforces POST policies as AWS S3 does.",
            warning=True,
        )
    elif 400 <= answer.status < 500:
        said = f"{answer.status} {answer.code}".strip()
        report.add(name, True, f"The storage refuses POST form fields not in the policy ({said}).")
    else:
        report.add(name, False, f"A POST upload failed: {_diagnose(answer, report.alias, None)}")


def _skew(answer: HttpAnswer) -> float | None:
    """Local time minus the storage's (from its Date header), in seconds."""
    date = next((v for k, v in answer.headers.items() if k.lower() == "date"), None)
    if not date:
        return None
    try:
        server = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None
    if server.tzinfo is None:
        return None
    return (timezone.now() - server).total_seconds()


def _clock(report: StorageReport, skew: float | None) -> None:
    if skew is None:
        report.add("clock", True, "Skipped: the storage sent no Date header.", skipped=True)
    elif abs(skew) > MAX_SKEW:
        report.add(
            "clock",
            False,
            f"This server's clock is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} "
            "the storage's. Signed URLs start and expire at the wrong time, and providers "
            "refuse requests beyond a few minutes of skew. Sync the clock (NTP).",
        )
    else:
        report.add("clock", True, f"Within {MAX_SKEW} s of the storage's ({skew:+.0f} s).")


def _diagnose(answer: HttpAnswer, alias: str, skew: float | None) -> str:
    """What went wrong with the upload, in plain words, with the fix."""
    if answer.status == 0:
        return (
            f"The storage did not answer ({answer.error}). Check the endpoint address, "
            "that the storage is running and that this server can reach it."
        )
    code = answer.code
    said = f"{answer.status} {code}".strip() + (f": {answer.message}" if answer.message else "")
    if skew is not None and abs(skew) > MAX_SKEW and (code in SKEWED or answer.status == 403):
        return (
            f"The storage refused the upload ({said}), "
            "most likely because of clock skew (see clock)."
        )
    if code in BUCKET_MISSING:
        return (
            f"The bucket (or container) does not exist ({said}). Create it, or fix the bucket "
            f"name of storage '{alias}'."
        )
    if code in BAD_CREDENTIALS:
        return (
            f"The storage refused the credentials ({said}). Check the access key and secret "
            f"(or account key) of storage '{alias}', and that they belong to this endpoint."
        )
    if code in WRONG_REGION:
        return (
            f"The bucket is in another region than the one signed for ({said}). "
            f"Set the region of storage '{alias}'."
        )
    if code in SKEWED:
        return f"The storage says this server's clock is off ({said}). Sync it (NTP)."
    if code in DENIED or answer.status == 403:
        return (
            f"Access denied ({said}). The credentials are valid but may not write here: grant "
            f"them write, read and delete on the bucket, or check the clock."
        )
    if answer.status == 404:
        return f"Not found ({said}): the bucket or the endpoint path is probably wrong."
    if answer.status >= 500:
        return (
            f"The storage failed ({said}). "
            "Try again later; if it persists, check the provider's status."
        )
    return f"The storage refused the upload ({said})."


def _verify_and_delete(report: StorageReport, signer: Signer, key: str) -> bool:
    """Stat the test object, delete it, and check it is gone; True when it is."""
    try:
        stored = signer.stat(key)
    except SignerError as err:
        report.add("stat", False, f"Could not read the object back: {err}")
        return False
    if stored is None:
        report.add("stat", False, "The storage accepted the upload but has no object at the key.")
        return False
    problems = []
    if stored.size != len(CHECK_BODY):
        problems.append(f"its size is {stored.size}, not {len(CHECK_BODY)}")
    if stored.content_type and stored.content_type.split(";")[0].strip() != CHECK_TYPE:
        problems.append(f"it is stored as {stored.content_type}, not {CHECK_TYPE}")
    if problems:
        report.add("stat", False, "The object arrived changed: " + "; ".join(problems) + ".")
    else:
        kept = (
            "with the sha256 it verified"
            if stored.sha256
            else "(no sha256 kept; complete hashes it)"
        )
        report.add("stat", True, f"The object is there, {stored.size} bytes, {kept}.")
    try:
        signer.delete(key)
        gone = signer.stat(key) is None
    except SignerError as err:
        report.add("delete", False, f"Could not delete the test object {key}: {err}")
        return False
    return report.add(
        "delete",
        gone,
        "Deleted the test object." if gone else f"{key} is still there after delete.",
    )


def _public_read(
    report: StorageReport, alias: str, signer: Signer, prefix: str, base_url: str | None
) -> None:
    """Write a test object where a public type's files go and GET its publicUrl with no
    credentials, as every browser showing it will."""
    key = f"{prefix.strip('/')}/{CHECK_PREFIX}{uuid.uuid4().hex}.txt"
    name = "public-read"
    try:
        signer.write(key, CHECK_BODY, ObjectHeaders(CHECK_TYPE, cache_control="public, max-age=0"))
    except SignerError as err:
        report.add(name, False, f"Could not write a test object at {key}: {err}")
        return
    try:
        url = _absolute(signer.public_url(key), base_url)
        if url is None:
            report.add(name, True, "Skipped: the publicUrl is relative to this site.", skipped=True)
            return
        answer = _request("GET", url, None, {})
        if 200 <= answer.status < 300 and answer.body == CHECK_BODY:
            report.add(name, True, f"Files of the public types under {prefix}/ read anonymously.")
        else:
            said = f"{answer.status} {answer.code}".strip() if answer.status else answer.error
            report.add(
                name,
                False,
                f"Files of the public types under {prefix}/ are not readable anonymously "
                f"({said} for {url}): every browser showing their publicUrl gets an error. "
                + public_read_fix(signer, alias, prefix),
            )
    finally:
        _cleanup(signer, key)


def _staging_private(
    report: StorageReport, alias: str, signer: Signer, base_url: str | None
) -> None:
    """Write a test object at a staging key and GET it with no credentials where anyone
    would try: the storage's own URL for it, and the CDN's when PUBLIC_BASE_URL is set.
    Staging objects are unverified bytes (an HTML page declared as a PNG): none may read."""
    key = staging_key(f"{CHECK_PREFIX}{uuid.uuid4().hex}.txt")
    name = "staging-private"
    try:
        signer.write(key, CHECK_BODY, ObjectHeaders(CHECK_TYPE))
    except SignerError as err:
        report.add(name, False, f"Could not write a test object at {key}: {err}")
        return
    try:
        urls = [_absolute(signer.anonymous_url(key), base_url)]
        cdn = app_settings.PUBLIC_BASE_URL
        if cdn:
            urls.append(f"{cdn.rstrip('/')}/{filepath_to_uri(signer.object_name(key))}")
        tried = [url for url in urls if url is not None]
        if not tried:
            report.add(
                name, True, "Skipped: the storage's URL is relative to this site.", skipped=True
            )
            return
        for url in tried:
            answer = _request("GET", url, None, {})
            if 200 <= answer.status < 300 and answer.body == CHECK_BODY:
                report.add(
                    name,
                    False,
                    f"Staging objects are readable anonymously ({answer.status} for {url}): "
                    "anyone can fetch uploads before they are verified and after they are "
                    "rejected. " + staging_fix(signer, alias, from_cdn=url != urls[0]),
                )
                return
        report.add(name, True, "Staging objects are not readable without a signature.")
    finally:
        _cleanup(signer, key)


def staging_fix(signer: Signer, alias: str, *, from_cdn: bool) -> str:
    """What to change so that nobody reads staging objects anonymously, per provider."""
    staging = app_settings.STAGING_PREFIX.strip("/")
    if from_cdn:
        return (
            f"The CDN of UPLOADS['PUBLIC_BASE_URL'] serves {staging}/: limit its origin to "
            f"the public types' prefixes, or refuse {staging}/* at the CDN."
        )
    kind = type(signer).__name__.lower()
    if "azure" in kind:
        return (
            "Create a private container in the same account and name it in "
            f"UPLOADS['STAGING_BUCKETS'] = {{'{alias}': '<container>'}} "
            "(AZURE_STAGING_CONTAINER in this project's environment), or keep the container "
            "private and serve public files through a CDN (UPLOADS['PUBLIC_BASE_URL'])."
        )
    if "gcs" in kind:
        return (
            "Create a private bucket for staging objects and name it in "
            f"UPLOADS['STAGING_BUCKETS'] = {{'{alias}': '<bucket>'}} "
            "(GS_STAGING_BUCKET_NAME in this project's environment); grant allUsers "
            "roles/storage.objectViewer on the upload bucket only."
        )
    if "s3" in kind:
        bucket = getattr(signer, "bucket", "BUCKET")
        return (
            "Grant s3:GetObject to everyone only on the public types' prefixes "
            f"(arn:aws:s3:::{bucket}/<prefix>/*), never on arn:aws:s3:::{bucket}/* or "
            f"{staging}/."
        )
    return f"Make {staging}/ of the storage unreadable without a signature."


def public_read_fix(signer: Signer, alias: str, prefix: str) -> str:
    """What to set so that anyone may read ``prefix``/ of this storage, per provider."""
    kind = type(signer).__name__.lower()
    if "s3" in kind:
        bucket = getattr(signer, "bucket", "BUCKET")
        return (
            f"Allow it with a bucket policy granting s3:GetObject on "
            f'arn:aws:s3:::{bucket}/{prefix.strip("/")}/* to everyone ("Principal": "*"; '
            "turn off the account's Block Public Access for that bucket first), or serve it "
            "through a CDN allowed to read the bucket and set UPLOADS['PUBLIC_BASE_URL']."
        )
    if "azure" in kind:
        return (
            "Set the container's public access level to 'Blob' (anonymous read of blobs, "
            "not of the listing) once staging blobs live in a private container "
            "(UPLOADS['STAGING_BUCKETS']), or serve it through a CDN with access and set "
            "UPLOADS['PUBLIC_BASE_URL']."
        )
    if "gcs" in kind:
        return (
            "Grant allUsers the role roles/storage.objectViewer on the bucket (uniform "
            "bucket-level access) once staging objects live in a private bucket "
            "(UPLOADS['STAGING_BUCKETS']), or serve it through a CDN with access and set "
            "UPLOADS['PUBLIC_BASE_URL']."
        )
    return "Make that path readable by anyone, or set UPLOADS['PUBLIC_BASE_URL'] to a CDN."


def _cleanup(signer: Signer, key: str) -> None:
    try:
        signer.delete(key)
    except SignerError:
        pass  # what went wrong is in the report already


def _cors(
    report: StorageReport, alias: str, url: str, presigned: PresignedUpload, origin: str
) -> None:
    requested = sorted(h.lower() for h in presigned.headers if h.lower() not in BROWSER_SET)
    headers = {"Origin": origin, "Access-Control-Request-Method": presigned.method}
    if requested:
        headers["Access-Control-Request-Headers"] = ",".join(requested)
    answer = _request("OPTIONS", url, None, headers)
    got = {k.lower(): v for k, v in answer.headers.items()}
    fix = f"Run: manage.py uploads_cors {alias} --origin {origin}"
    if answer.status == 0:
        report.add("cors", False, f"The preflight got no answer ({answer.error}).")
        return
    allowed_origin = got.get("access-control-allow-origin", "")
    if not 200 <= answer.status < 300 or allowed_origin not in (origin, "*"):
        report.add(
            "cors",
            False,
            f"Browsers on {origin} cannot upload: the storage refused the CORS preflight "
            f"({answer.status}{', allows ' + allowed_origin if allowed_origin else ''}). {fix}",
        )
        return
    methods = _tokens(got.get("access-control-allow-methods", presigned.method))
    allowed = _tokens(got.get("access-control-allow-headers", ""))
    missing = [h for h in requested if "*" not in allowed and h not in allowed]
    if presigned.method.lower() not in methods and "*" not in methods:
        report.add("cors", False, f"Browsers on {origin} may not send {presigned.method}. {fix}")
    elif missing:
        report.add(
            "cors",
            False,
            f"Browsers on {origin} may not send the headers {', '.join(missing)}. {fix}",
        )
    else:
        report.add(
            "cors", True, f"Browsers on {origin} may send the {presigned.method} with its headers."
        )


def _tokens(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",") if token.strip()}


def describe(report: StorageReport) -> list[str]:
    """The report as lines of text."""
    verdict = "FAILED" if not report.ok else "OK, with warnings" if report.warned else "OK"
    lines = [f"Storage '{report.alias}': {verdict}"]
    for step in report.steps:
        mark = "skip" if step.skipped else "WARN" if step.warning else "ok" if step.ok else "FAIL"
        lines.append(f"  {mark:<4}  {step.name:<13} {step.detail}")
    return lines


__all__ = ["CHECK_PREFIX", "Step", "StorageReport", "check_storage", "describe"]
