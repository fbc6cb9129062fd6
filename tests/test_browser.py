"""The browser side a newcomer meets: the demo page at /demo/ and uploads.js, in a real Chromium
against the project served by runserver (local signer, files on disk)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from accounts.demo import png_bytes
from tests.backends.s3 import BUCKET, S3Backend, seaweedfs
from tests.live import free_port, manage, project_env, serve
from tests.requirements import require_binary, require_module

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Response


pytestmark = pytest.mark.live

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
GIF = (  # a real 1x1 GIF
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00"
    b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


@dataclass(frozen=True)
class Site:
    base: str
    var_dir: Path
    username: str
    password: str
    token: str  # the demo user's token, as `make run` prints it

    def api(self, path: str, **params: str) -> dict[str, Any]:
        answer = requests.get(
            f"{self.base}/api/v1/{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def uploads(self, **params: str) -> list[dict[str, Any]]:
        return self.api("uploads", pageSize="100", **params)["data"]

    def stored(self, key: str) -> Path:
        return self.var_dir / "uploads" / key


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    sync_api = require_module("playwright.sync_api", "pip install playwright")
    require_binary(str(CHROMIUM), "apt-get install chromium")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    var_dir = tmp_path_factory.mktemp("browser")
    env = project_env(var_dir)
    manage(env, "migrate", "--noinput")
    with serve(env) as base:
        printed = manage(env, "demo_user", "--base-url", base)
        password = re.search(r"^Password\s+(\S+)", printed, re.M)
        token = re.search(r"^Access token\s+(\S+)", printed, re.M)
        assert password and token, printed
        yield Site(base, var_dir, "demo", password.group(1), token.group(1))


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def open_demo(page: Page, url: str) -> None:
    answer = page.goto(url)
    assert answer is not None and answer.status == 200, f"{url}: {answer and answer.status}"
    assert answer.headers["cache-control"].startswith("max-age=0")  # it may carry a token
    assert page.url.endswith("/demo/")


def result_row(page: Page, name: str) -> str:
    """The text of one row of the result (Status, Key, Size, SHA-256...)."""
    return page.locator(f"[data-role=result] dt:text-is('{name}') + dd").inner_text()


def open_with_pasted_token(page: Page, site: Site) -> None:
    open_demo(page, f"{site.base}/demo/")
    token = page.get_by_label("Access token")
    assert token.input_value() == ""  # nobody is signed in
    token.fill(site.token)
    page.get_by_label("Upload type").select_option("avatar")


def upload_and_capture(page: Page, files: Any, url_part: str) -> Response:
    """Choose the file, press Upload, and return the API answer whose URL has ``url_part``."""
    page.get_by_label("File", exact=True).set_input_files(files)
    with page.expect_response(lambda r: url_part in r.url and r.request.method == "POST") as info:
        page.get_by_role("button", name="Upload").click()
    return info.value


def assert_error_shown(page: Page, answer: Response, code: str, status: int) -> dict[str, Any]:
    """The API answered with the contract's envelope, and the page shows its code and request id."""
    body = answer.json()
    assert answer.status == status
    assert body["success"] is False and body["error"]["code"] == code
    assert body["error"]["correlationId"] == answer.headers["x-request-id"]
    result = page.get_by_role("status")
    result.filter(has_text=code).wait_for()
    shown = result.inner_text()
    assert body["error"]["message"] in shown
    assert f"Request id {body['error']['correlationId']}" in shown
    assert page.get_by_role("button", name="Upload").is_enabled()  # ready for another try
    return body["error"]


def test_signed_in_user_uploads_a_png_and_sees_it(page: Page, site: Site, tmp_path: Path) -> None:
    png = png_bytes()
    path = tmp_path / "red square.png"
    path.write_bytes(png)

    # Sign in through the admin's login form, which sends us back to the demo page.
    login = page.goto(f"{site.base}/admin/login/?next=/demo/")
    assert login is not None and login.status == 200
    page.get_by_label("Username").fill(site.username)
    page.get_by_label("Password").fill(site.password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site.base}/demo/")
    assert page.get_by_label("Access token").input_value().count(".") == 2  # a JWT, prefilled
    select = page.get_by_label("Upload type")
    select.locator("option[value=avatar]").wait_for(state="attached")  # loaded with that token
    assert sorted(select.locator("option").evaluate_all("os => os.map(o => o.value)")) == [
        "avatar",
        "document",
        "large",  # demo_user's: in parts above 8 MiB
        "media",
    ]
    select.select_option("avatar")
    assert "image/png" in page.locator("[data-role=type-hint]").inner_text()

    page.get_by_label("File", exact=True).set_input_files(path)
    page.get_by_role("button", name="Upload").click()
    page.get_by_role("status").get_by_text("completed", exact=True).wait_for()

    key = result_row(page, "Key")
    assert key.startswith("avatars/")
    assert result_row(page, "Size").startswith(f"{len(png)} bytes")
    assert result_row(page, "SHA-256") == sha256_b64(png)
    assert page.get_by_label("Upload progress").evaluate("p => p.value") == 1
    preview = page.get_by_role("img", name="Preview of red square.png")
    assert preview.get_attribute("src") == f"{site.base}/uploads/files/{key}"
    preview.evaluate("img => img.decode()")  # rejects when the image does not load
    assert preview.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [64, 64]

    # The bytes really went to storage, and the upload is the demo user's.
    assert site.stored(key).read_bytes() == png
    completed = [u for u in site.uploads(status="completed") if u["key"] == key]
    assert [u["fileName"] for u in completed] == ["red square.png"]

    # The same file again is recognised by its sha256: no second upload, same key.
    before = len(site.uploads())
    page.get_by_role("button", name="Upload").click()
    page.get_by_role("status").get_by_text("deduplicated").wait_for()
    assert result_row(page, "Key") == key
    assert len(site.uploads()) == before


def test_a_type_the_policy_does_not_allow_is_refused_before_sending(page: Page, site: Site) -> None:
    open_with_pasted_token(page, site)
    before = [u["id"] for u in site.uploads()]
    answer = upload_and_capture(
        page, {"name": "anim.gif", "mimeType": "image/gif", "buffer": GIF}, "/uploads/presign"
    )
    error = assert_error_shown(page, answer, "upload.invalid_content_type", 400)
    assert error["i18nVars"]["contentType"] == "image/gif"
    assert [u["id"] for u in site.uploads()] == before  # no upload row was made


def test_bytes_that_lie_about_their_type_are_rejected_and_removed(page: Page, site: Site) -> None:
    open_with_pasted_token(page, site)
    answer = upload_and_capture(
        page, {"name": "x.png", "mimeType": "image/png", "buffer": HTML}, "/complete"
    )
    assert_error_shown(page, answer, "upload.verification_failed", 422)
    upload_id = answer.url.rsplit("/", 2)[-2]
    upload = site.api(f"uploads/{upload_id}")["data"]
    assert upload["status"] == "rejected"
    assert not site.stored(upload["key"]).exists()
    assert requests.get(f"{site.base}/uploads/files/{upload['key']}", timeout=10).status_code == 404


def test_a_bad_token_is_reported_where_the_types_should_be(page: Page, site: Site) -> None:
    open_demo(page, f"{site.base}/demo/")
    page.get_by_label("Access token").fill("not-a-token")
    page.locator("[data-role=type-hint]").get_by_text("auth.unauthorized").wait_for()
    assert page.get_by_label("Upload type").is_disabled()


def test_a_post_policy_uploads_from_the_page_straight_to_s3(page: Page, tmp_path: Path) -> None:
    """The S3 POST-policy branch of uploads.js, for real: the project on SeaweedFS (which
    checks the policy's signature, fields and content-length-range) with the avatar type
    switched to POST, the demo page in Chromium sending the form straight to the bucket.

    SeaweedFS (4.48) answers the preflight of a POST to the bucket's own URL (``/bucket``, the
    URL a presigned POST names) from its server-wide -s3.allowedOrigins only, never from the
    bucket's CORS rules (and, refusing, drops the connection): so `manage.py uploads_cors` cannot
    open it, and this SeaweedFS is the test's own, started with the page's origin allowed
    server-wide (the session one allows none), the runserver port chosen before either."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    png = png_bytes()
    path = tmp_path / "me.png"
    path.write_bytes(png)
    with seaweedfs(allowed_origins=origin) as server:
        s3 = S3Backend(server)
        env = project_env(tmp_path, **s3.project_env(tmp_path))
        manage(env, "migrate", "--noinput")
        manage(
            env,
            "shell",
            "-c",
            "from uploads.models import UploadPolicy; "
            "assert UploadPolicy.objects.filter(name='avatar', require_size=True)"
            ".update(method='POST') == 1",
        )  # before runserver starts, so its policy snapshot has it
        with serve(env, port):
            printed = manage(env, "demo_user", "--base-url", origin)
            token = re.search(r"^Access token\s+(\S+)", printed, re.M)
            assert token, printed
            site = Site(origin, tmp_path, "demo", "", token.group(1))

            open_with_pasted_token(page, site)
            page.get_by_label("File", exact=True).set_input_files(path)
            with page.expect_request(
                lambda r: r.url.startswith(server.endpoint) and r.method == "POST"
            ) as sent:
                page.get_by_role("button", name="Upload").click()
            page.get_by_role("status").get_by_text("completed", exact=True).wait_for()

            key = result_row(page, "Key")
            assert key.startswith("avatars/")
            assert result_row(page, "Size").startswith(f"{len(png)} bytes")
            assert result_row(page, "SHA-256") == sha256_b64(png)
            assert sent.value.url == f"{server.endpoint}/{BUCKET}"  # the form, to the bucket
            assert sent.value.headers["content-type"].startswith("multipart/form-data")
            assert s3.read(key) == png  # the bytes SeaweedFS accepted
            completed = [u for u in site.uploads(status="completed") if u["key"] == key]
            assert [u["fileName"] for u in completed] == ["me.png"]
