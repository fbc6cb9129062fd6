"""The avatar and media walk-through of the README, run with curl against a live server,
with a token and then with an API key."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.live import ROOT, manage, project_env, serve

pytestmark = pytest.mark.live

SCRIPT = ROOT / "docs" / "accounts_walkthrough.sh"

NEW_KEY = """
from accounts.apikeys import create_api_key
from django.contrib.auth import get_user_model
print(create_api_key(get_user_model().objects.get(username="demo"), "walk-through", ["media:read"])[1])
"""


def run_script(env: dict[str, str]) -> list[str]:
    result = subprocess.run(
        ["bash", str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


def answer_after(lines: list[str], step: str, nth: int = 1) -> str:
    """The nth line printed after the line that starts with ``step``."""
    return lines[next(i for i, line in enumerate(lines) if line.startswith(step)) + nth]


def test_docs_show_the_accounts_walkthrough_verbatim() -> None:
    steps = SCRIPT.read_text().split("\n", 1)[1]  # all but the shebang
    assert steps.strip() in (ROOT / "README.md").read_text()


def test_accounts_walkthrough_runs_end_to_end_against_a_live_server(tmp_path: Path) -> None:
    env = project_env(tmp_path)
    manage(env, "migrate", "--noinput")
    with serve(env) as base:
        printed = manage(env, "demo_user", "--base-url", base)
        exports = re.search(r"^export (BASE=\S+ TOKEN=\S+ FILE=\S+)$", printed, re.M)
        assert exports, printed
        variables = dict(item.split("=", 1) for item in exports.group(1).split())
        size = Path(variables["FILE"]).stat().st_size

        out = run_script(env | variables)

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
        key = manage(env, "shell", "-c", NEW_KEY).split()[-1]
        assert key.startswith("upk_")
        again = run_script(env | variables | {"KEY": key})

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
