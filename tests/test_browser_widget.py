"""The upload widget of an UploadField in a real Chromium: on the project's profile page (a
plain Django form, signed in with a session) and in the admin, against runserver with the
local signer."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.core import signing

from accounts.demo import png_bytes
from tests import test_browser
from tests.live import DemoSite, demo_site, manage

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.live

# The browser tests' fixtures: one Chromium per module, a fresh context per test.
browser, page = test_browser.browser, test_browser.page

TARGET = "target"  # a user whose avatar the operator sets in the admin
PASSWORD = "widget-test-pw-1"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    with demo_site(tmp_path_factory.mktemp("widget")) as site:
        manage(
            site.env,
            "shell",
            "-c",
            "from accounts.models import User; "
            f"User.objects.create_user({TARGET!r}, password={PASSWORD!r})",
        )
        yield site


def query(site: DemoSite, sql: str, *params: Any) -> Any:
    """One value from the site's database (SQLite in its VAR_DIR)."""
    with sqlite3.connect(Path(site.env["VAR_DIR"]) / "db.sqlite3") as db:
        row = db.execute(sql, params).fetchone()
    return row[0] if row else None


def avatar_of(site: DemoSite, username: str) -> str | None:
    found = query(site, "SELECT avatar_id FROM accounts_user WHERE username = ?", username)
    return str(found).replace("-", "") if found else None


def upload_id(field_value: str) -> str:
    """The upload id in a signed field value (base64 JSON, then the time and the signature),
    as SQLite stores it; read without the demo site's key."""
    payload = json.loads(signing.b64_decode(field_value.split(":", 1)[0].encode()))
    return str(payload["upload"]).replace("-", "")


def sign_in(page: Page, site: DemoSite, path: str = "/login/?next=/profile/") -> None:
    page.goto(f"{site.base}{path}")
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill(site.shown("Password"))
    page.get_by_role("button", name="Sign in").or_(
        page.get_by_role("button", name="Log in")
    ).click()


def open_profile(page: Page, site: DemoSite) -> Locator:
    """Sign in on the login page and land on the profile page; returns the avatar widget."""
    sign_in(page, site)
    page.wait_for_url(f"{site.base}/profile/")
    return page.locator("[data-uploads-widget]")


def value_of(widget: Locator) -> str:
    return widget.locator("input[type=hidden]").input_value()


def save_profile(page: Page) -> None:
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Your profile is saved.").wait_for()


def test_a_png_chosen_on_the_profile_page_becomes_the_avatar(
    page: Page,
    site: DemoSite,
    tmp_path: Path,
) -> None:
    png = png_bytes()
    path = tmp_path / "red square.png"
    path.write_bytes(png)
    widget = open_profile(page, site)
    held: list[Any] = []
    page.route("**/uploads/local/put/**", lambda route: held.append(route))  # held till we say

    with page.expect_request("**/uploads/local/put/**"):
        page.get_by_label("Avatar").set_input_files(path)
    # Saving now would save no avatar: the page says to wait instead.
    page.get_by_role("button", name="Save").click()
    widget.get_by_text("still uploading").wait_for()
    assert page.url == f"{site.base}/profile/" and avatar_of(site, "demo") is None
    held[0].continue_()

    widget.get_by_text("red square.png is uploaded").wait_for()
    assert widget.get_by_label("Upload progress").evaluate("p => [p.hidden, p.value]") == [
        False,
        1,
    ]
    preview = widget.get_by_role("img", name="Preview of red square.png")
    preview.evaluate("img => img.decode()")  # rejects when the image does not load
    assert preview.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [64, 64]
    assert widget.get_by_role("link", name="red square.png").get_attribute("href")
    chosen = value_of(widget)
    assert chosen

    save_profile(page)

    assert avatar_of(site, "demo") == upload_id(chosen)
    # The saved page shows the stored avatar, served from storage.
    shown = widget.get_by_role("img", name="Preview of red square.png")
    assert "/uploads/files/avatars/" in (shown.get_attribute("src") or "")
    shown.evaluate("img => img.decode()")
    assert widget.get_by_role("button", name="Remove").is_visible()


def test_a_text_file_is_refused_and_the_avatar_stays(
    page: Page,
    site: DemoSite,
    tmp_path: Path,
) -> None:
    widget = open_profile(page, site)
    before_value = value_of(widget)
    before = avatar_of(site, "demo")

    page.get_by_label("Avatar").set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a picture\n"}
    )

    message = widget.get_by_role("status")
    message.get_by_text("upload.invalid_content_type").wait_for()
    assert message.inner_text().startswith("notes.txt was not uploaded:")
    assert "text/plain" in message.inner_text()
    assert value_of(widget) == before_value
    save_profile(page)
    assert avatar_of(site, "demo") == before


def test_an_operator_uploads_a_users_avatar_in_the_admin(
    page: Page,
    site: DemoSite,
    tmp_path: Path,
) -> None:
    path = tmp_path / "for them.png"
    path.write_bytes(png_bytes(8, 8))
    target = query(site, "SELECT id FROM accounts_user WHERE username = ?", TARGET)
    change = f"/admin/accounts/user/{target}/change/"
    sign_in(page, site, f"/admin/login/?next={change}")
    page.wait_for_url(f"{site.base}{change}")
    widget = page.locator(".field-avatar [data-uploads-widget]")

    widget.locator("input[type=file]").set_input_files(path)
    widget.get_by_text("for them.png is uploaded").wait_for()
    chosen = upload_id(value_of(widget))
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(f"{site.base}/admin/accounts/user/")

    assert avatar_of(site, TARGET) == chosen
    owner = query(
        site, "SELECT owner_id FROM uploads_upload WHERE replace(id, '-', '') = ?", chosen
    )
    assert owner == target  # uploaded by the operator, now the user's
