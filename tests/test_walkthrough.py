"""What a new user does first: `make run`'s set-up, then the README's curl walk-through."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.backends import Backend
from tests.live import ROOT, assert_readme_shows, demo_site, run_script

pytestmark = pytest.mark.live

SCRIPT = ROOT / "docs" / "walkthrough.sh"


def test_readme_shows_the_walkthrough_verbatim() -> None:
    assert_readme_shows(SCRIPT)


def test_walkthrough_runs_end_to_end_against_a_live_server(tmp_path: Path) -> None:
    with demo_site(tmp_path) as site:
        base, variables = site.base, site.exports
        assert variables["BASE"] == base
        password = site.shown("Password")

        out = run_script(SCRIPT, site.env | variables)
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


@pytest.mark.parametrize("provider", ["s3", "azure", "gcs"])
def test_walkthrough_runs_with_each_cloud_storage(
    provider: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """`UPLOADS_STORAGE=<provider>` with the provider's variables: the same walk-through,
    the file sent by curl straight to the provider's server with the answer's headers."""
    backend: Backend = request.getfixturevalue(f"{provider}_backend")
    with demo_site(tmp_path, **backend.project_env(tmp_path)) as site:
        out = run_script(SCRIPT, site.env | site.exports)
    assert '"status":"pending"' in out
    assert '"status":"completed"' in out
    key = re.search(r'"key":"([^"]+)"', out).group(1)  # type: ignore[union-attr]
    assert backend.read(key) == Path(site.exports["FILE"]).read_bytes()
