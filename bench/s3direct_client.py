"""What a browser sends django-s3direct (2.0.3) for one upload, for bench/wrk_bench.py.

s3direct's widget (``src/index.js``) first POSTs ``get_upload_params/`` (destination, name,
type, size); then EvaporateJS uploads the file to S3 as a multipart upload, and asks
``get_aws_v4_signature/`` to sign each of its requests: the initiate, every part (20 MiB
each) and the complete. A small file is one part: one upload's signing is therefore one
``get_upload_params`` and three ``get_aws_v4_signature`` calls, each a ``multipart/form-data``
POST (the widget's ``FormData``) with the Django session cookie and the CSRF token (cookie and
``X-CSRFToken`` header; both views are ``csrf_protect``).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from urllib3 import encode_multipart_formdata

PARAMS_PATH = "/s3direct/get_upload_params/"
SIGN_PATH = "/s3direct/get_aws_v4_signature/"
DESTINATION = "bench"  # bench.settings.S3DIRECT_DESTINATIONS
#: What the widget reads from get_upload_params' answer, and from each signature's.
PARAMS_FIELDS = ("object_key", "access_key_id", "region", "bucket", "endpoint")
SIGN_FIELDS = ("s3ObjKey",)
#: Requests per small upload: the upload's parameters, then Evaporate's three signatures.
EVAPORATE_STEPS = ("initiate", "part 1", "complete")
REQUESTS_PER_UPLOAD = 1 + len(EVAPORATE_STEPS)


@dataclass(frozen=True)
class FormPost:
    path: str
    body: bytes
    content_type: str


@dataclass(frozen=True)
class Browser:
    """A logged-in browser's cookies and CSRF header."""

    cookies: dict[str, str]
    csrf_header: str
    csrf_token: str

    def headers(self, *, csrf: bool = True, session: bool = True) -> dict[str, str]:
        cookies = {
            name: value
            for name, value in self.cookies.items()
            if session or name != session_cookie_name()
        }
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
        if csrf:
            headers[self.csrf_header] = self.csrf_token
        return headers


def session_cookie_name() -> str:
    from django.conf import settings

    return str(settings.SESSION_COOKIE_NAME)


def logged_in_browser(username: str) -> Browser:
    """A Django session for ``username`` as login() leaves it (in the configured session
    store: the database by default), and a CSRF token as the CSRF middleware sets it."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.utils.crypto import get_random_string

    user = get_user_model().objects.get(username=username)
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = user._meta.pk.value_to_string(user)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    csrf = get_random_string(32)  # the cookie's secret; the header may carry it unmasked
    header = settings.CSRF_HEADER_NAME.removeprefix("HTTP_").replace("_", "-")
    cookies = {settings.SESSION_COOKIE_NAME: session.session_key, settings.CSRF_COOKIE_NAME: csrf}
    return Browser(
        cookies=cookies,
        csrf_header=header,
        csrf_token=csrf,
    )


def form(path: str, fields: dict[str, str]) -> FormPost:
    body, content_type = encode_multipart_formdata(fields)
    return FormPost(path, body, content_type)


def signing_date() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def string_to_sign(step: str, when: str, region: str) -> str:
    """Evaporate's SigV4 string to sign for one of its requests (the canonical request's
    hash differs per step; what it holds does not change the cost of signing it)."""
    canonical = f"{step}\n/bench/s3direct-bench/bench.png\nhost:s3\n\nhost\nUNSIGNED-PAYLOAD"
    scope = f"{when[:8]}/{region}/s3/aws4_request"
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"AWS4-HMAC-SHA256\n{when}\n{scope}\n{digest}"


def setting(name: str) -> str:
    """One of bench.settings' S3 settings, which s3direct reads."""
    from django.conf import settings

    return str(getattr(settings, name))


def one_upload(name: str, size: int, content_type: str) -> list[FormPost]:
    """The four POSTs of one small upload, in the widget's order."""
    when, region = signing_date(), setting("AWS_S3_REGION_NAME")
    params = {"dest": DESTINATION, "name": name, "type": content_type, "size": str(size)}
    return [form(PARAMS_PATH, params)] + [
        form(
            SIGN_PATH,
            {"to_sign": string_to_sign(step, when, region), "datetime": when, "dest": DESTINATION},
        )
        for step in EVAPORATE_STEPS
    ]


def expected_signature(secret: str, to_sign: str, when: str, region: str) -> str:
    """SigV4's signature of ``to_sign`` (AWS's documented key derivation)."""
    key = ("AWS4" + secret).encode()
    for part in (when[:8], region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class S3DirectRefused(Exception):
    """An answer other than what s3direct's widget needs."""


def check_once(base_url: str, browser: Browser, posts: list[FormPost]) -> None:
    """One upload's four POSTs answered as the widget needs (the parameters it reads, each
    signature the SigV4 signature of what was sent), and both endpoints refusing a browser
    without the session (``auth``) and one without the CSRF header."""

    def send(post: FormPost, **kinds: bool) -> requests.Response:
        headers = browser.headers(**kinds) | {"Content-Type": post.content_type}
        return requests.post(base_url + post.path, data=post.body, headers=headers, timeout=30)

    params, *signs = posts
    answer = send(params)
    if answer.status_code != 200 or not all(f in answer.json() for f in PARAMS_FIELDS):
        raise S3DirectRefused(f"get_upload_params: {answer.status_code} {answer.text[:200]}")
    data = answer.json()
    wanted = {
        "object_key": "s3direct-bench/bench.png",
        "bucket": setting("AWS_STORAGE_BUCKET_NAME"),
    }
    if {k: data[k] for k in wanted} != wanted:
        raise S3DirectRefused(f"get_upload_params answered {data}")
    region = setting("AWS_S3_REGION_NAME")
    when = signing_date()
    for step in EVAPORATE_STEPS:
        to_sign = string_to_sign(step, when, region)
        fields = {"to_sign": to_sign, "datetime": when, "dest": DESTINATION}
        answer = send(form(SIGN_PATH, fields))
        expected = expected_signature(setting("AWS_SECRET_ACCESS_KEY"), to_sign, when, region)
        if answer.status_code != 200 or answer.json().get("s3ObjKey") != expected:
            raise S3DirectRefused(f"signature ({step}): {answer.status_code} {answer.text[:200]}")
    for post in (params, signs[0]):
        for kinds, why in (({"session": False}, "no session"), ({"csrf": False}, "no CSRF")):
            refused = send(post, **kinds)
            if refused.status_code != 403:
                raise S3DirectRefused(f"{post.path} with {why}: {refused.status_code}")
