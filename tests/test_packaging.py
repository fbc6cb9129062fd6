"""What ships, and that models and migrations agree."""

from __future__ import annotations

import shutil
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


#: Left out of the copy when git cannot list the checkout's files.
NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    ".venv",
    "node_modules",
    "var",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "*.pyc",
    ".*_cache",
)


def copy_sources(destination: Path) -> Path:
    """The checkout's files as git would commit them (tracked and new, not ignored), copied
    to ``destination``: a build there sees no build/, *.egg-info or caches of the checkout,
    and leaves none in it."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=30,
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        shutil.copytree(ROOT, destination, ignore=NOT_SOURCES)
        return destination
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the checkout is not shipped
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def test_wheel_holds_the_app_and_nothing_of_the_project(tmp_path: Path) -> None:
    sources = copy_sources(tmp_path / "src")
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(wheels),
            str(sources),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    (wheel,) = wheels.glob("django_upload_policies-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "uploads/py.typed" in names
    assert "uploads/migrations/0001_initial.py" in names
    assert "uploads/migrations/0002_default_policies.py" in names
    assert "uploads/signers/base.py" in names
    assert "uploads/static/uploads/uploads.js" in names
    assert "uploads/templates/uploads/upload_demo.html" in names
    top_level = {name.split("/")[0] for name in names}
    assert not top_level & {"config", "accounts", "tests", "bench", "docs"}
