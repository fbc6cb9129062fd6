"""What ships, and that models and migrations agree."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.live import ROOT


@pytest.mark.django_db
def test_no_missing_migrations() -> None:
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)


def test_wheel_holds_the_app_and_nothing_of_the_project(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("django_upload_policies-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "uploads/py.typed" in names
    assert "uploads/migrations/0001_initial.py" in names
    assert "uploads/migrations/0002_default_policies.py" in names
    assert "uploads/signers/base.py" in names
    assert "uploads/static/uploads/uploads.js" in names
    assert "uploads/templates/uploads/upload_demo.html" in names
    top_level = {name.split("/")[0] for name in names}
    assert not top_level & {"config", "accounts", "tests", "bench", "docs"}
