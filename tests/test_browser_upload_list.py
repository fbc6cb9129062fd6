"""The UploadsField widget in a real Chromium, in the admin of a host model (tests.hostapp's
Exhibition, registered with no admin code): several files by the picker and by drag-and-drop,
each with its progress, a cancel of one in flight, and the whole of it from the keyboard;
against runserver with the local signer."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from accounts.demo import png_bytes
from tests import test_browser
from tests.live import DemoSite, demo_site
from tests.test_browser_widget import query, sign_in, upload_id

if TYPE_CHECKING:
    from playwright.sync_api import FileChooser, Locator, Page

pytestmark = pytest.mark.live

# The browser tests' fixtures: one Chromium per module, a fresh context per test.
browser, page = test_browser.browser, test_browser.page

ADD = "/admin/hostapp/exhibition/add/"
PUT = "**/uploads/local/put/**"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    # The test settings: the project's, with tests.hostapp installed.
    with demo_site(
        tmp_path_factory.mktemp("upload-list"), DJANGO_SETTINGS_MODULE="tests.settings"
    ) as site:
        yield site


def open_add_page(page: Page, site: DemoSite) -> Locator:
    """Sign in to the admin on the add page of an exhibition; returns the pictures widget."""
    sign_in(page, site, f"/admin/login/?next={ADD}")
    page.wait_for_url(f"{site.base}{ADD}")
    page.get_by_label("Curator").select_option(label="demo")
    return page.locator(".field-pictures [data-uploads-list-widget]")


def wait_until(page: Page, done: Callable[[], bool], timeout: float = 10) -> None:
    """Poll ``done`` until it holds, letting Playwright deliver events meanwhile."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(20)


def pngs(tmp_path: Path, *names: str) -> list[Path]:
    paths = []
    for n, name in enumerate(names):
        path = tmp_path / name
        # Bytes of their own: an identical file would be the same (deduplicated) upload.
        path.write_bytes(png_bytes(4 + n, 4, uuid.uuid4().hex.encode()))
        paths.append(path)
    return paths


def attached(widget: Locator) -> list[str]:
    """The names of the attached files, in order."""
    return [
        text.strip()
        for text in widget.locator("[data-role=item] [data-role=link]").all_inner_texts()
    ]


def save(page: Page, site: DemoSite, title: str) -> list[str]:
    """Save the exhibition; returns the ids of its pictures in order, as the database has
    them (SQLite's form, no dashes)."""
    page.get_by_label("Title").fill(title)
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(f"{site.base}/admin/hostapp/exhibition/")
    row = query(site, "SELECT id FROM hostapp_exhibition WHERE title = ?", title)
    ids = query(
        site,
        "SELECT group_concat(upload_id, ' ') FROM (SELECT upload_id FROM "
        "hostapp_exhibition_pictures WHERE exhibition_id = ? ORDER BY position)",
        row,
    )
    return str(ids or "").replace("-", "").split()


def test_several_files_chosen_at_once_each_show_progress_and_save_in_order(
    page: Page, site: DemoSite, tmp_path: Path
) -> None:
    widget = open_add_page(page, site)
    held: list[Any] = []
    page.route(PUT, lambda route: held.append(route))  # held till we say

    widget.locator("input[type=file]").set_input_files(pngs(tmp_path, "a.png", "b.png"))

    sending = widget.locator("[data-role=sending]")
    sending.nth(1).wait_for()
    assert sending.locator("[data-role=name]").all_inner_texts() == ["a.png", "b.png"]
    assert sending.locator("[data-role=percent]").all_inner_texts() == ["0%", "0%"]
    assert widget.get_by_label("Upload progress of a.png").evaluate("p => p.max") == 100
    assert widget.get_attribute("aria-busy") == "true"
    wait_until(page, lambda: len(held) == 2)  # both PUTs are on their way, held
    for route in held:
        route.continue_()

    widget.locator("[data-role=item]").nth(1).wait_for()
    assert attached(widget) == ["a.png", "b.png"]
    assert sending.count() == 0 and widget.get_attribute("aria-busy") is None
    chosen = [
        upload_id(v)
        for v in widget.locator("input[type=hidden]").evaluate_all(
            "inputs => inputs.map(i => i.value)"
        )
    ]
    widget.get_by_role("button", name="Move b.png up").click()
    assert attached(widget) == ["b.png", "a.png"]

    assert save(page, site, "Picked") == [chosen[1], chosen[0]]


def test_files_dropped_on_the_widget_are_uploaded(
    page: Page, site: DemoSite, tmp_path: Path
) -> None:
    widget = open_add_page(page, site)
    files = [
        {
            "name": name,
            "type": "image/png",
            "data": base64.b64encode(png_bytes(5, 5, name.encode())).decode(),
        }
        for name in ("dropped 1.png", "dropped 2.png")
    ]
    # A real DataTransfer holding real Files, dropped as a drag-and-drop from the desktop
    # delivers it.
    transfer = page.evaluate_handle(
        """files => {
            const transfer = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
                transfer.items.add(new File([bytes], f.name, { type: f.type }));
            }
            return transfer;
        }""",
        files,
    )
    drop = widget.locator("[data-role=drop]")

    drop.dispatch_event("dragenter", {"dataTransfer": transfer})
    assert "uploads-widget-drop--over" in (drop.get_attribute("class") or "")
    drop.dispatch_event("drop", {"dataTransfer": transfer})

    widget.locator("[data-role=item]").nth(1).wait_for()
    assert attached(widget) == ["dropped 1.png", "dropped 2.png"]
    assert len(save(page, site, "Dropped")) == 2


def test_a_file_cancelled_in_flight_is_not_attached(
    page: Page, site: DemoSite, tmp_path: Path
) -> None:
    widget = open_add_page(page, site)
    held: list[Any] = []
    page.route(PUT, lambda route: held.append(route))

    widget.locator("input[type=file]").set_input_files(pngs(tmp_path, "keep.png", "slow.png"))
    widget.get_by_role("button", name="Cancel slow.png").wait_for()
    wait_until(page, lambda: len(held) == 2)
    widget.get_by_role("button", name="Cancel slow.png").click()

    status = widget.get_by_role("status")
    assert status.inner_text() == "slow.png was cancelled: it is not attached."
    for route in held:
        try:
            route.continue_()
        except Exception:  # noqa: BLE001 - the cancelled request is gone: nothing to continue
            pass
    widget.get_by_text("keep.png is uploaded").wait_for()
    assert attached(widget) == ["keep.png"]
    assert widget.locator("[data-role=sending]").count() == 0
    kept = upload_id(widget.locator("input[type=hidden]").input_value())

    assert save(page, site, "Cancelled") == [kept]
    slow = query(site, "SELECT status FROM uploads_upload WHERE file_name = 'slow.png'")
    assert slow == "pending"  # presigned (its PUT was held), never completed nor attached


def test_the_widget_is_usable_from_the_keyboard_alone(
    page: Page, site: DemoSite, tmp_path: Path
) -> None:
    # Intercepting file choosers from the start: set up only as the key is pressed
    # (expect_file_chooser), the interception raced the key on a busy machine and the
    # chooser opened unseen.
    choosers: list[FileChooser] = []
    page.on("filechooser", lambda chooser: choosers.append(chooser))
    widget = open_add_page(page, site)
    page.get_by_label("Title").focus()

    page.keyboard.press("Tab")  # the title, then the file input: no item yet
    file_input = widget.locator("input[type=file]")
    assert file_input.evaluate("i => i === document.activeElement")
    page.keyboard.press("Space")
    wait_until(page, lambda: bool(choosers))
    choosers[0].set_files(pngs(tmp_path, "one.png", "two.png", "three.png"))
    widget.locator("[data-role=item]").nth(2).wait_for()

    def focused() -> str:
        active = "document.activeElement"
        return str(page.evaluate(f"() => {active}.ariaLabel || {active}.textContent.trim()"))

    # Focus order: each item's link, Up, Down and Remove, then the file input.
    page.get_by_label("Title").focus()
    page.keyboard.press("Tab")
    order = [focused()]
    for _ in range(3):
        page.keyboard.press("Tab")
        order.append(focused())
    page.keyboard.press("Shift+Tab")  # back on "Move one.png down"
    assert order == ["one.png", "Move one.png up", "Move one.png down", "Remove one.png"]

    page.keyboard.press("Enter")
    assert attached(widget) == ["two.png", "one.png", "three.png"]
    assert focused() == "Move one.png down"  # focus stays on the button pressed
    assert widget.get_by_role("status").inner_text() == "one.png moved to position 2 of 3."

    page.keyboard.press("Tab")  # Remove one.png
    page.keyboard.press("Enter")
    assert attached(widget) == ["two.png", "three.png"]
    assert focused() == "Remove three.png"  # the next item's Remove
    assert widget.get_by_role("status").inner_text() == "one.png will be removed when you save."

    page.get_by_label("Title").focus()
    page.keyboard.type("By keyboard")
    page.keyboard.press("Enter")  # submits the form
    page.wait_for_url(f"{site.base}/admin/hostapp/exhibition/")
    row = query(site, "SELECT id FROM hostapp_exhibition WHERE title = 'By keyboard'")
    names = query(
        site,
        "SELECT group_concat(file_name, ' ') FROM (SELECT u.file_name FROM "
        "hostapp_exhibition_pictures p JOIN uploads_upload u ON u.id = p.upload_id "
        "WHERE p.exhibition_id = ? ORDER BY p.position)",
        row,
    )
    assert names == "two.png three.png"
