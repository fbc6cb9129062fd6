"""The avatar and media walk-through of the README, run with curl against a live server,
with a token and then with an API key."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.live import ROOT, assert_readme_shows, demo_site, manage, run_script

pytestmark = pytest.mark.live

SCRIPT = ROOT / "docs" / "accounts_walkthrough.sh"

NEW_KEY = """
from accounts.apikeys import create_api_key
from django.contrib.auth import get_user_model
demo = get_user_model().objects.get(username="demo")
print(create_api_key(demo, "walk-through", ["media:read"])[1])
"""


def answer_after(lines: list[str], step: str, nth: int = 1) -> str:
    """The nth line printed after the line that starts with ``step``."""
    return lines[next(i for i, line in enumerate(lines) if line.startswith(step)) + nth]


def test_docs_show_the_accounts_walkthrough_verbatim() -> None:
    assert_readme_shows(SCRIPT)


def test_accounts_walkthrough_runs_end_to_end_against_a_live_server(tmp_path: Path) -> None:
    with demo_site(tmp_path) as site:
        variables = site.exports
        size = Path(variables["FILE"]).stat().st_size

        out = run_script(SCRIPT, site.env | variables).splitlines()

        presigned = json.loads(answer_after(out, "1."))["data"]
        assert presigned["status"] == "pending"
        profile = json.loads(answer_after(out, "2."))["data"]
        assert profile["avatarUpload"]["id"] == presigned["id"]
        assert profile["avatarUpload"]["status"] == "completed"  # without a complete call
        assert profile["avatarUrl"] == presigned["publicUrl"]
        me = json.loads(answer_after(out, "3."))["data"]
        assert me["avatarUrl"] == presigned["publicUrl"]
        assert f"GET avatarUrl: 200 image/png, {size} bytes" in out
        assert json.loads(answer_after(out, "4."))["success"] is True  # the storage's answer
        completed = json.loads(answer_after(out, "4.", 2))
        assert completed["data"]["status"] == "completed"
        item = json.loads(answer_after(out, "5."))["data"]
        assert item["title"] == "My first photo" and item["upload"]["status"] == "completed"
        listed = json.loads(answer_after(out, "6."))
        assert [i["id"] for i in listed["data"]] == [item["id"]]

        # Again, listing with an API key: the new avatar replaces (and deletes) the first.
        key = manage(site.env, "shell", "-c", NEW_KEY).split()[-1]
        assert key.startswith("upk_")
        again = run_script(SCRIPT, site.env | variables | {"KEY": key}).splitlines()

        listed = json.loads(answer_after(again, "6."))
        assert listed["success"] is True
        assert [i["title"] for i in listed["data"]] == ["My first photo", "My first photo"]
        gone = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", presigned["publicUrl"]],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert gone.stdout == "404"
