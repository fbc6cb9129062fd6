"""Uppy from npm (its Dashboard and AwsS3 plugin) on the /demo/uppy/ page, uploading through
the API with uploads/uppy.js, in Chromium, against the project on every storage the suite
runs: the local signer, S3 (SeaweedFS), Azure (Azurite) and GCS (fake-gcs-server, with GCS's
signature checked on each request the page sends it). A small file goes in one request, a
large one in parts; a multipart upload is paused and resumed, a part lost to the network is
sent again, and a file the server rejects shows why in the Dashboard."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from accounts.demo import png_bytes
from tests import test_browser
from tests.backends import Backend
from tests.backends.s3 import S3Backend, seaweedfs
from tests.live import ROOT, free_port, manage, media_in_parts, project_env, serve
from tests.requirements import missing

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

pytestmark = pytest.mark.live

browser = test_browser.browser

MiB = 1024 * 1024
PART = 5 * MiB  # the media type's part size and threshold here (Uppy's smallest part)
BIG = PART + 64 * 1024  # two parts, the second short
PROVIDERS = ["local", "s3", "azure", "gcs"]
MP4_HEAD = bytes(
    [0, 0, 0, 24, 102, 116, 121, 112, 109, 112, 52, 50, 0, 0, 0, 0]
    + [109, 112, 52, 50, 105, 115, 111, 109]
)
POST_AVATARS = (
    "from uploads.models import UploadPolicy; "
    "assert UploadPolicy.objects.filter(name='avatar').update(method='POST') == 1; "
)
UPPY_BUNDLE = ROOT / "node_modules" / "uppy" / "dist" / "uppy.min.mjs"
UPLOAD_BUTTON = re.compile(r"^Upload \d+ files?$")


def mp4(size: int, fill: int = 0) -> bytes:
    """An MP4 of ``size`` bytes as the server's checks see one: its magic bytes, then filler."""
    return MP4_HEAD + bytes([fill]) * (size - len(MP4_HEAD))


@dataclass(frozen=True)
class Prepared:
    var_dir: Path
    password: str  # the demo user's, as `make run` prints them
    token: str


@dataclass
class UppySite:
    provider: str
    base: str
    demo_user: Prepared
    var_dir: Path
    backend: Backend | None

    @property
    def token(self) -> str:
        return self.demo_user.token

    def uploads(self, **params: str) -> list[dict[str, Any]]:
        answer = requests.get(
            f"{self.base}/api/v1/uploads",
            params={"pageSize": "100", **params},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return list(answer.json()["data"])

    def upload_named(self, name: str) -> dict[str, Any]:
        found = [u for u in self.uploads() if u["fileName"] == name]
        assert len(found) == 1, found
        return found[0]

    @property
    def storage_url(self) -> str:
        """Where the page sends bytes on this storage."""
        from tests.backends.azure import AzureBackend
        from tests.backends.gcs import GCSBackend

        if self.backend is None:
            return f"{self.base}/uploads/local/put/"
        if isinstance(self.backend, S3Backend):
            return self.backend.server.endpoint
        if isinstance(self.backend, AzureBackend):
            return f"http://127.0.0.1:{self.backend.port}/"
        assert isinstance(self.backend, GCSBackend)
        return self.backend.server.url

    def stored(self, key: str) -> bytes | None:
        if self.backend is None:
            path = self.var_dir / "uploads" / key
            return path.read_bytes() if path.exists() else None
        return self.backend.read(key)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    """A project directory as `make run` leaves it (database, secrets, demo user and its
    token), its media type in parts of PART above PART: made once, copied for each storage."""
    if not UPPY_BUNDLE.is_file():
        missing(f"Uppy is not installed ({UPPY_BUNDLE}): run npm ci --no-audit --no-fund in {ROOT}")
    var_dir = tmp_path_factory.mktemp("uppy-prepared")
    env = project_env(var_dir)
    printed = manage(  # one process for the three steps
        env,
        "shell",
        "-c",
        "from django.core.management import call_command; "
        "call_command('migrate', interactive=False, verbosity=0); "
        f"{media_in_parts(PART)}; "
        "call_command('demo_user', base_url='http://127.0.0.1')",
    )
    password = re.search(r"^Password\s+(\S+)", printed, re.M)
    token = re.search(r"^Access token\s+(\S+)", printed, re.M)
    assert password and token, printed
    return Prepared(var_dir, password=password.group(1), token=token.group(1))


@pytest.fixture(scope="module", params=PROVIDERS)
def site(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    prepared: Prepared,
) -> Iterator[UppySite]:
    """The project on one storage, the bucket's CORS rules allowing the page's origin (its
    port chosen before the server starts)."""
    provider = request.param
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    with ExitStack() as stack:
        backend: Backend | None = None
        setup = ""
        if provider == "s3":
            # Avatars by POST policy. SeaweedFS answers the preflight of a POST to the bucket
            # from its server-wide allowed origins only (see test_browser.py's POST test): a
            # SeaweedFS of this module's own, allowing the page's origin.
            backend = S3Backend(stack.enter_context(seaweedfs(allowed_origins=origin)))
            setup = POST_AVATARS
        elif provider != "local":
            backend = request.getfixturevalue(f"{provider}_backend")
        var_dir = tmp_path_factory.mktemp(f"uppy-{provider}")
        shutil.copytree(prepared.var_dir, var_dir, dirs_exist_ok=True)
        env = project_env(var_dir, **(backend.project_env(var_dir) if backend else {}))
        if backend is not None:  # before the server starts, so that its policies have it
            cors = f"call_command('uploads_cors', '--origin', '{origin}')"
            manage(
                env,
                "shell",
                "-c",
                f"from django.core.management import call_command; {setup}{cors}",
            )
        yield UppySite(provider, stack.enter_context(serve(env, port)), prepared, var_dir, backend)


@dataclass
class Parts:
    """The part requests the page sends storage, known by the URLs the API signed for them."""

    numbers: dict[str, int] = field(default_factory=dict)  # signed URL -> part number
    sent: list[int] = field(default_factory=list)  # part numbers let through, in order
    held: list[Route] = field(default_factory=list)
    hold_after_first: bool = False
    fail_once: int | None = None
    listed: int = 0  # GET /uploads/{id}/parts: the server asked which parts it holds
    signings: int = 0  # POST /uploads/{id}/parts: part URLs asked for


@pytest.fixture
def page(browser: Browser, site: UppySite) -> Iterator[Page]:
    context = browser.new_context()
    context.set_default_timeout(20_000)
    page = context.new_page()
    checked = check_gcs_signatures(page, site) if site.provider == "gcs" else None
    yield page
    context.close()
    assert checked is None or checked, "no request reached GCS"


def check_gcs_signatures(page: Page, site: UppySite) -> list[str]:
    """fake-gcs-server checks no signature: check each request the page sends it as GCS
    would (the signature, its expiry, every signed header sent) before it goes on. Returns
    the URLs that passed."""
    from tests.backends.gcs import GCSBackend, Refused, verify_v4

    backend = site.backend
    assert isinstance(backend, GCSBackend)
    keys = {backend.account.email: backend.account.public_key}

    def check(route: Route) -> None:
        request = route.request
        if request.method == "OPTIONS":
            route.continue_()
            return
        try:
            verify_v4(request.method, request.url, request.all_headers(), keys)
        except Refused as refusal:
            route.fulfill(status=refusal.status, body=refusal.reason)
            return
        checked.append(request.url)
        route.fallback()

    checked: list[str] = []
    page.route(lambda url: url.startswith(backend.server.url), check)
    return checked


def watch_parts(page: Page, parts: Parts) -> None:
    """Learn each part's signed URL from the API's answers, then follow (and, as ``parts``
    says, hold or break) the requests to those URLs."""

    def signed(route: Route) -> None:
        request = route.request
        if request.method == "GET":
            parts.listed += 1
            route.continue_()
            return
        parts.signings += 1
        answer = route.fetch()
        for part in json.loads(answer.body())["data"]["parts"]:
            parts.numbers[part["url"]] = part["partNumber"]
        route.fulfill(response=answer)

    def to_storage(route: Route) -> None:
        number = parts.numbers[route.request.url]
        if parts.hold_after_first and number > 1:
            parts.held.append(route)
            return
        if parts.fail_once == number:
            parts.fail_once = None
            parts.sent.append(-number)
            route.abort("connectionreset")
            return
        parts.sent.append(number)
        route.fallback()

    page.route(re.compile(r".*/api/v1/uploads/[^/]+/parts$"), signed)
    page.route(lambda url: url in parts.numbers, to_storage)


def open_uppy(page: Page, site: UppySite, upload_type: str) -> None:
    answer = page.goto(f"{site.base}/demo/uppy/")
    assert answer is not None and answer.status == 200
    assert answer.headers["cache-control"].startswith("max-age=0")  # it may carry a token
    page.get_by_label("Access token").fill(site.token)
    page.get_by_label("Access token").blur()  # a change: the page loads the types
    select = page.get_by_label("Upload type")
    select.locator(f"option[value={upload_type}]").wait_for(state="attached")
    select.select_option(upload_type)
    page.locator(f"#uppy[data-type={upload_type}] .uppy-Dashboard").wait_for()


def add_file(page: Page, folder: Path, name: str, data: bytes) -> None:
    """Choose a file in the Dashboard (from disk: Chromium reads it there, nothing is copied
    through Playwright); its type comes from its extension, as from a user's disk."""
    path = folder / name
    path.write_bytes(data)
    page.locator(".uppy-Dashboard-input").first.set_input_files(path)
    page.locator(".uppy-Dashboard-Item", has_text=name).wait_for()


def uploaded_row(page: Page, name: str) -> list[str]:
    row = page.get_by_role("table", name="Uploaded files").locator(f"tr[data-file-name='{name}']")
    row.wait_for()
    return row.locator("td").all_inner_texts()


def test_a_small_file_and_a_large_one_upload_to_completion(
    page: Page, site: UppySite, tmp_path: Path
) -> None:
    png = png_bytes()
    big = mp4(BIG, fill=1)
    parts = Parts()
    watch_parts(page, parts)

    open_uppy(page, site, "avatar")
    add_file(page, tmp_path, "red.png", png)
    with page.expect_request(
        lambda r: r.url.startswith(site.storage_url) and r.method != "OPTIONS"
    ) as sent:
        page.get_by_role("button", name=UPLOAD_BUTTON).click()
    name, status, size, key = uploaded_row(page, "red.png")
    assert (status, size) == ("completed", str(len(png)))
    assert key.startswith("avatars/") and site.stored(key) == png
    assert parts.sent == []  # one request, no parts
    if site.provider == "s3":  # a POST policy: a form with the policy's fields, to the bucket
        assert sent.value.method == "POST"
        assert sent.value.headers["content-type"].startswith("multipart/form-data")
    else:
        assert sent.value.method == "PUT"

    open_uppy(page, site, "media")
    add_file(page, tmp_path, "big.mp4", big)
    page.get_by_role("button", name=UPLOAD_BUTTON).click()
    name, status, size, key = uploaded_row(page, "big.mp4")
    assert (status, size) == ("completed", str(len(big)))
    assert site.stored(key) == big
    assert sorted(parts.sent) == [1, 2]
    assert parts.signings == 1  # both parts signed in one request, though Uppy asks twice at once
    upload = site.upload_named("big.mp4")
    assert (upload["status"], upload["key"], upload["sha256"]) == (
        "completed",
        key,
        test_browser.sha256_b64(big),
    )


def wait_until(page: Page, done: Any, what: str, timeout: float = 20.0) -> None:
    """Let the page run (and the route handlers with it) until ``done()``, for ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        page.wait_for_timeout(50)


def test_a_paused_upload_resumes_with_only_the_parts_storage_lacks(
    page: Page, site: UppySite, tmp_path: Path
) -> None:
    big = mp4(BIG, fill=2)
    parts = Parts(hold_after_first=True)
    watch_parts(page, parts)
    open_uppy(page, site, "media")
    add_file(page, tmp_path, "paused.mp4", big)
    page.evaluate(
        "() => { window.partsDone = []; window.uppy.on('s3-multipart:part-uploaded',"
        " (file, part) => window.partsDone.push(part.PartNumber)); }"
    )
    page.get_by_role("button", name=UPLOAD_BUTTON).click()
    page.wait_for_function("() => window.partsDone.includes(1)")
    wait_until(page, lambda: len(parts.held) == 1, "the request of part 2")

    page.get_by_role("button", name="Pause upload").click()
    page.get_by_role("button", name="Resume upload").wait_for()
    for held in parts.held:  # the browser has dropped them: what Uppy sent never arrived
        held.abort()
    parts.hold_after_first, listed = False, parts.listed
    page.get_by_role("button", name="Resume upload").click()

    name, status, size, key = uploaded_row(page, "paused.mp4")
    assert (status, size) == ("completed", str(len(big)))
    assert site.stored(key) == big
    assert parts.listed == listed + 1  # resuming asked the server which parts it holds
    assert sorted(parts.sent) == [1, 2]  # part 1 once: not again after the pause


@pytest.mark.parametrize("site", ["local"], indirect=True)
def test_a_part_lost_to_the_network_is_sent_again(
    page: Page, site: UppySite, tmp_path: Path
) -> None:
    big = mp4(BIG, fill=3)
    parts = Parts(fail_once=2)
    watch_parts(page, parts)
    open_uppy(page, site, "media")
    add_file(page, tmp_path, "retried.mp4", big)
    page.get_by_role("button", name=UPLOAD_BUTTON).click()

    name, status, size, key = uploaded_row(page, "retried.mp4")
    assert (status, size) == ("completed", str(len(big)))
    assert site.stored(key) == big
    assert sorted(parts.sent) == [-2, 1, 2]  # part 2 broken once, then sent again


@pytest.mark.parametrize("site", ["local"], indirect=True)
def test_a_rejected_file_shows_the_servers_reason(
    page: Page, site: UppySite, tmp_path: Path
) -> None:
    not_an_mp4 = bytes(BIG)
    parts = Parts()
    watch_parts(page, parts)
    open_uppy(page, site, "media")
    add_file(page, tmp_path, "fake.mp4", not_an_mp4)
    page.get_by_role("button", name=UPLOAD_BUTTON).click()

    item = page.locator(".uppy-Dashboard-Item", has_text="fake.mp4")
    shown = item.locator(".uppy-Dashboard-Item-errorDetails")
    shown.wait_for()
    upload = site.upload_named("fake.mp4")
    assert upload["status"] == "rejected" and upload["rejectionReason"]
    error = shown.get_attribute("aria-label") or ""
    assert upload["rejectionReason"] in error and "upload.verification_failed" in error
    assert sorted(parts.sent) == [1, 2]  # sent whole: the server's check refused it
    assert site.stored(upload["key"]) is None
    assert not page.get_by_role("table", name="Uploaded files").locator("tr").count() > 1


@pytest.mark.parametrize("site", ["local"], indirect=True)
def test_a_file_the_server_has_already_is_not_sent_again(
    page: Page, site: UppySite, tmp_path: Path
) -> None:
    png = png_bytes(8, 8)
    for name in ("first.png", "again.png"):
        open_uppy(page, site, "avatar")
        with page.expect_response(lambda r: r.url.endswith("/uploads/presign")) as presigned:
            add_file(page, tmp_path, name, png)
            page.get_by_role("button", name=UPLOAD_BUTTON).click()
        uploaded_row(page, name)
    first, again = site.upload_named("first.png"), presigned.value.json()["data"]
    assert presigned.value.status == 200 and again["deduplicated"] is True
    assert again["id"] == first["id"] and first["status"] == "completed"
    assert uploaded_row(page, "again.png")[1:] == ["completed", str(len(png)), first["key"]]
    assert not [u for u in site.uploads() if u["fileName"] == "again.png"]  # no second upload


def file_error(page: Page, name: str) -> str:
    """What the Dashboard shows of a file's failure (its error button's label)."""
    item = page.locator(".uppy-Dashboard-Item", has_text=name)
    shown = item.locator(".uppy-Dashboard-Item-errorDetails")
    shown.wait_for()
    return shown.get_attribute("aria-label") or ""


@pytest.mark.parametrize("site", ["local"], indirect=True)
def test_a_type_the_policy_refuses_shows_which_check_refused(
    page: Page, site: UppySite, tmp_path: Path
) -> None:
    open_uppy(page, site, "avatar")
    add_file(page, tmp_path, "anim.gif", test_browser.GIF)
    page.get_by_role("button", name=UPLOAD_BUTTON).click()

    error = file_error(page, "anim.gif")
    assert "'image/gif' is not allowed for avatar uploads." in error
    assert "upload.invalid_content_type" in error
    assert not [u for u in site.uploads() if u["fileName"] == "anim.gif"]  # no row made


@pytest.mark.parametrize("site", ["local"], indirect=True)
def test_a_file_storage_never_got_leaves_no_pending_upload(
    page: Page, site: UppySite, tmp_path: Path
) -> None:
    page.route(re.compile(r".*/uploads/local/put/.*"), lambda route: route.abort("failed"))
    open_uppy(page, site, "avatar")
    with page.expect_response(lambda r: r.url.endswith("/uploads/presign")) as presigned:
        add_file(page, tmp_path, "lost.png", png_bytes(9, 9))
        page.get_by_role("button", name=UPLOAD_BUTTON).click()

    assert "network.error" in file_error(page, "lost.png")
    upload_id = presigned.value.json()["data"]["id"]
    answer = requests.get(
        f"{site.base}/api/v1/uploads/{upload_id}",
        headers={"Authorization": f"Bearer {site.token}"},
        timeout=10,
    )
    # Deleted, not left pending until it expires: the API knows it no more.
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "upload.not_found"


@pytest.mark.parametrize("site", ["local"], indirect=True)
def test_a_plan_otherwise_than_uppys_cut_is_refused_before_sending(
    page: Page, site: UppySite
) -> None:
    """Parts the server plans otherwise than Uppy cuts the file are refused, and the upload
    presigned for it deleted: document's 16 MB parts, which Uppy was not told of (the adapter
    learns a type's part size when Uppy asks whether to cut the file), and a media file over
    the threshold that Uppy was to send whole (as after an operator lowered the threshold)."""
    open_uppy(page, site, "document")
    refused: Any = page.evaluate(
        """async ({ token, size }) => {
          const { awsS3Options } = await import("/static/uploads/uppy.js");
          const uppyFile = (name, type) => {
            const data = new File([new Uint8Array(size)], name, { type });
            return { name, type, size, data };
          };
          const refusal = async (step) => {
            try {
              await step();
              return null;
            } catch (err) {
              return { code: err.code, message: err.message };
            }
          };
          const signal = new AbortController().signal;
          const documents = await awsS3Options({ type: "document", token });
          const media = await awsS3Options({ type: "media", token });
          return [
            await refusal(() => documents.createMultipartUpload(
              uppyFile("cut.pdf", "application/pdf"), signal)),
            await refusal(() => media.getUploadParameters(
              uppyFile("whole.mp4", "video/mp4"), { signal })),
          ];
        }""",
        {"token": site.token, "size": PART + 1},
    )
    cut, whole = refused
    assert cut["code"] == whole["code"] == "client.part_plan_mismatch"
    assert "parts of 16777216 bytes, Uppy cuts it in parts of 5242880 bytes" in cut["message"]
    assert f"parts of {PART} bytes, Uppy cuts it in parts of {PART + 1} bytes" in whole["message"]
    names = {u["fileName"] for u in site.uploads()}
    assert not names & {"cut.pdf", "whole.mp4"}  # presigned, then deleted


@pytest.mark.parametrize("site", ["local"], indirect=True)
def test_a_signed_in_page_uploads_with_its_session_and_csrf_token(
    page: Page, site: UppySite, tmp_path: Path
) -> None:
    page.goto(f"{site.base}/admin/login/?next=/demo/uppy/")
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill(site.demo_user.password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site.base}/demo/uppy/")
    token = page.get_by_label("Access token")
    assert token.input_value().count(".") == 2  # a fresh JWT, prefilled for the signed-in user
    token.fill("")
    token.blur()  # no token: the session cookie authenticates
    page.get_by_label("Upload type").select_option("avatar")
    page.locator("#uppy[data-type=avatar] .uppy-Dashboard").wait_for()

    png = png_bytes(7, 7)
    add_file(page, tmp_path, "session.png", png)
    with page.expect_request(lambda r: r.url.endswith("/uploads/presign")) as presign:
        page.get_by_role("button", name=UPLOAD_BUTTON).click()
    assert uploaded_row(page, "session.png")[1:3] == ["completed", str(len(png))]
    headers = presign.value.headers
    assert "authorization" not in headers and headers["x-csrftoken"]
