"""What a new user does first: `make run`'s set-up, then the README's curl walk-through."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.live import ROOT, manage, project_env, serve

pytestmark = pytest.mark.live


def test_readme_shows_the_walkthrough_verbatim() -> None:
    script = (ROOT / "docs" / "walkthrough.sh").read_text()
    readme = (ROOT / "README.md").read_text()
    steps = script.split("\n", 1)[1]  # all but the shebang
    assert steps.strip() in readme


def test_walkthrough_runs_end_to_end_against_a_live_server(tmp_path: Path) -> None:
    env = project_env(tmp_path)
    manage(env, "migrate", "--noinput")
    with serve(env) as base:
        printed = manage(env, "demo_user", "--base-url", base)
        exports = re.search(r"^export (BASE=\S+ TOKEN=\S+ FILE=\S+)$", printed, re.M)
        assert exports, printed
        variables = dict(item.split("=", 1) for item in exports.group(1).split())
        assert variables["BASE"] == base
        password = re.search(r"^Password\s+(\S+)", printed, re.M).group(1)

        result = subprocess.run(
            ["bash", "docs/walkthrough.sh"],
            cwd=ROOT,
            env=env | variables,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        out = result.stdout
        assert '"status":"pending"' in out
        assert '"status":"completed"' in out
        size = Path(variables["FILE"]).stat().st_size
        assert f"GET publicUrl: 200 image/png, {size} bytes" in out

        # The printed password logs in too.
        login = subprocess.run(
            [
                "curl",
                "-sS",
                "-X",
                "POST",
                f"{base}/api/v1/auth/token",
                "-H",
                "Content-Type: application/json",
                "-d",
                f'{{"username": "demo", "password": "{password}"}}',
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert '"access"' in login.stdout, login.stdout
