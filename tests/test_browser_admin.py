"""The admin in a real Chromium at 1280 x 800, as operators see it: the lists fit without a
horizontal scrollbar, and the pages are saved as screenshots (var/admin-screenshots/ of the
test's project) for a person to look at."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.live import demo_site
from tests.test_browser import browser, page  # noqa: F401  (fixtures)

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.live

SETUP = """
from accounts.models import ApiKey, MediaItem, User
from accounts.demo import png_bytes
from tests.helpers import avatar_row, make_upload
ana = User.objects.create(username="ana.long-name-of-an-operator", email="ana@example.com")
ana.avatar = make_upload(ana, body=png_bytes(640, 480), file_name="portrait-of-ana.png")
ana.save()
for n in range(3):
    item = make_upload(ana, "media", png_bytes(800, 600, bytes([n]) * 16),
                       file_name=f"a-rather-long-holiday-photo-name-{n}.png")
    MediaItem.objects.create(owner=ana, upload=item, title=f"Holiday {n}")
from accounts.scopes import SCOPES
from django.utils import timezone
for n, name in enumerate(["nightly backup of the media library", "thumbnail worker", "old"]):
    ApiKey.objects.create(user=ana, name=name, prefix=f"upk_{n}abcdefgh", key_hash=str(n) * 64,
                          scopes=list(SCOPES), expires_at=timezone.now(),
                          last_used_at=timezone.now())
avatar_row(ana, "rejected", rejection_reason="The file is not a readable PNG image: it "
           "stops after 512 of its 4096 bytes (truncated or corrupt).", file_name="broken.png")
"""


def shoot(tab: Page, path: Path) -> None:
    """A screenshot once every image has loaded."""
    tab.wait_for_function("() => [...document.images].every(i => i.complete)")
    tab.screenshot(path=str(path), full_page=True)


def fits(tab: Page) -> None:
    """No horizontal scrollbar: neither on the page nor on the list's own scroll box."""
    widths = tab.evaluate(
        """() => {
            const root = document.documentElement;
            const box = document.querySelector('#changelist .results');
            return [root.scrollWidth, root.clientWidth,
                    box ? box.scrollWidth : 0, box ? box.clientWidth : 0];
        }"""
    )
    assert widths[0] <= widths[1] and widths[2] <= widths[3], f"{tab.url}: {widths}"


def test_admin_pages_at_1280_by_800(page: Page, tmp_path: Path) -> None:  # noqa: F811
    with demo_site(tmp_path, SETUP) as site:
        shots = tmp_path / "admin-screenshots"
        shots.mkdir()
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(f"{site.base}/admin/login/")
        page.fill("#id_username", "demo")
        page.fill("#id_password", site.shown("Password"))
        page.click("input[type=submit]")
        page.wait_for_url(f"{site.base}/admin/")

        for name, path in (
            ("uploads", "uploads/upload/"),
            ("upload-types", "uploads/uploadpolicy/"),
            ("api-keys", "accounts/apikey/"),
            ("users", "accounts/user/"),
        ):
            page.goto(f"{site.base}/admin/{path}")
            shoot(page, shots / f"{name}.png")
            fits(page)

        page.goto(f"{site.base}/admin/uploads/upload/")
        thumbnails = page.locator("td.field-preview img")
        assert thumbnails.count() == 4
        for n in range(thumbnails.count()):  # each made, decoded, and small
            size = thumbnails.nth(n).evaluate("i => [i.complete, i.naturalWidth]")
            assert size[0] and 0 < size[1] <= 160
        page.get_by_role("link", name="portrait-of-ana.png").click()
        page.get_by_role("button", name="Delete with its file").wait_for()
        page.get_by_role("button", name="Re-verify against storage").wait_for()
        shoot(page, shots / "upload.png")

        page.goto(f"{site.base}/admin/accounts/user/")
        page.get_by_role("link", name="ana.long-name-of-an-operator").click()
        page.locator(".inline-group img").nth(2).wait_for()
        shoot(page, shots / "user.png")

        assert sorted(p.name for p in shots.iterdir()) == [
            "api-keys.png",
            "upload-types.png",
            "upload.png",
            "uploads.png",
            "user.png",
            "users.png",
        ]
