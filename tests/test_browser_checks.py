"""What an uploader sees in the upload widget when the malware scan refuses the file: the
project (UPLOADS_CLAMD) against a real clamd, in a real Chromium (docs/checks.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from accounts.demo import png_bytes
from tests import test_browser
from tests.clamd import FOUND, MARKER, Clamd, clamd_binary
from tests.live import DemoSite, demo_site
from tests.test_browser_widget import avatar_of, open_profile, value_of

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.live

browser, page = test_browser.browser, test_browser.page


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    clamd = Clamd(clamd_binary())
    clamd.start()
    try:
        with demo_site(
            tmp_path_factory.mktemp("checks"),
            setup="from uploads.models import UploadPolicy; "
            "UploadPolicy.objects.filter(name='avatar').update(checks=['clamav'])",
            UPLOADS_CLAMD=clamd.address,
        ) as site:
            yield site
    finally:
        clamd.close()


def test_the_widget_shows_the_scanners_reason_and_keeps_no_avatar(
    page: Page, site: DemoSite
) -> None:
    widget = open_profile(page, site)
    before = value_of(widget)

    page.get_by_label("Avatar").set_input_files(
        {"name": "infected.png", "mimeType": "image/png", "buffer": png_bytes(8, 8, MARKER)}
    )

    message = widget.get_by_role("status")
    message.get_by_text("upload.verification_failed").wait_for()
    assert message.inner_text().startswith(
        f"infected.png was not uploaded: The malware scan found {FOUND}."
    )
    assert value_of(widget) == before
    assert avatar_of(site, "demo") is None

    # A clean picture passes the same scan.
    page.get_by_label("Avatar").set_input_files(
        {"name": "clean.png", "mimeType": "image/png", "buffer": png_bytes(8, 8)}
    )
    widget.get_by_text("clean.png is uploaded").wait_for()
