"""The /demo/uppy/ page as the server renders it: Uppy's bundle where npm installed it, and
where it did not, what to install (the page in use is tests/test_browser_uppy.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.test import Client


def test_the_page_imports_uppy_and_the_adapter_where_uppy_is_installed(
    client: Client, settings: Any, tmp_path: Path
) -> None:
    (tmp_path / "uppy.min.mjs").write_text("export {};")
    settings.UPPY_DIST = tmp_path

    answer = client.get("/demo/uppy/")

    assert answer.status_code == 200
    assert answer["Cache-Control"].startswith("max-age=0")  # a signed-in user's page has a token
    page = answer.content.decode()
    assert 'from "/static/uppy/uppy.min.mjs"' in page
    assert 'from "/static/uploads/uppy.js"' in page
    assert "Uppy is not installed" not in page


def test_without_uppy_the_page_says_what_to_install(
    client: Client, settings: Any, tmp_path: Path
) -> None:
    settings.UPPY_DIST = tmp_path  # empty: npm install was not run

    answer = client.get("/demo/uppy/")

    assert answer.status_code == 200
    page = answer.content.decode()
    assert "Uppy is not installed here: run <code>npm install</code>" in page
    assert "uppy.min.mjs" not in page


def test_the_upload_demo_links_to_the_uppy_page(client: Client) -> None:
    assert 'href="/demo/uppy/"' in client.get("/demo/").content.decode()
