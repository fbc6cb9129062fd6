"""uploads.js with a large file, in Chromium against the project (local signer): the file goes
in parts, a part lost to the network is sent again, and after a pause and a page reload the
same file resumes from the parts the server holds."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests import test_browser
from tests.live import demo_site, media_in_parts

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

pytestmark = pytest.mark.live

browser, page = test_browser.browser, test_browser.page

MiB = 1024 * 1024
PART = 5 * MiB
SIZE = 11 * MiB + 24  # three parts, the last short

# In the page: an MP4 of SIZE bytes (its magic bytes, then zeros), the same File each time
# (name, size and modification time are what a resume recognises), and upload() on it.
UPLOAD = """async ({token, size, pauseAfter}) => {
  const { upload } = await import("/static/uploads/uploads.js");
  const head = new Uint8Array([0, 0, 0, 24, 102, 116, 121, 112, 109, 112, 52, 50, 0, 0, 0, 0,
    109, 112, 52, 50, 105, 115, 111, 109]);
  const file = new File([head, new Uint8Array(size - head.length)], "big.mp4",
    { type: "video/mp4", lastModified: 1 });
  const controller = new AbortController();
  let last = null;
  try {
    const done = await upload(file, {
      type: "media", token, concurrency: 1, signal: controller.signal,
      onProgress: (loaded, total) => {
        last = [loaded, total];
        if (pauseAfter && loaded >= pauseAfter) controller.abort();
      },
    });
    return { status: done.status, size: done.size, sha256: done.sha256, last };
  } catch (err) {
    return { error: err.code, last };
  }
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with demo_site(tmp_path_factory.mktemp("multipart"), setup=media_in_parts(PART)) as site:
        yield site.base, site.shown("Access token")


def count_parts(page: Page, fail_first: int | None = None) -> list[str]:
    """Record each part sent to the local storage; drop part ``fail_first``'s first try as
    a broken connection would."""
    sent: list[str] = []

    def handle(route: Route) -> None:
        number = len(sent) + 1
        sent.append(route.request.url)
        if fail_first is not None and number == fail_first:
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(re.compile(r".*/uploads/local/put/.*"), handle)
    return sent


def test_a_part_lost_to_the_network_is_sent_again(page: Page, site: tuple[str, str]) -> None:
    base, token = site
    page.goto(f"{base}/demo/")
    sent = count_parts(page, fail_first=2)

    result: Any = page.evaluate(UPLOAD, {"token": token, "size": SIZE, "pauseAfter": 0})

    assert result["status"] == "completed" and result["size"] == SIZE
    assert result["last"] == [SIZE, SIZE]
    assert len(sent) == 4  # three parts, one of them twice


def test_after_a_pause_and_a_reload_only_the_missing_parts_are_sent(
    page: Page, site: tuple[str, str]
) -> None:
    base, token = site
    page.goto(f"{base}/demo/")
    first = count_parts(page)
    paused: Any = page.evaluate(UPLOAD, {"token": token, "size": SIZE + 1, "pauseAfter": PART})
    assert paused["error"] == "upload.aborted" and len(first) == 1

    page.reload()
    again = count_parts(page)
    result: Any = page.evaluate(UPLOAD, {"token": token, "size": SIZE + 1, "pauseAfter": 0})

    assert result["status"] == "completed" and result["size"] == SIZE + 1
    assert len(again) == 2  # parts 2 and 3: part 1 was already stored
