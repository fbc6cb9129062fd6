"""A release as it is made: `python -m build` (an sdist, and the wheel built from it) from the
checkout's files, accepted by `twine check --strict`, with README-pypi.md as what package
users read."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from email import message_from_string
from pathlib import Path

import pytest

from tests.live import ROOT
from tests.requirements import require_module
from tests.wheel import copy_sources

pytestmark = pytest.mark.live


@dataclass(frozen=True)
class Release:
    sdist: Path
    wheel: Path


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    require_module("build", "pip install -e '.[lint]'")
    work = tmp_path_factory.mktemp("release")
    sources = copy_sources(work / "src")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(work / "dist"), str(sources)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (sdist,) = (work / "dist").glob("django_upload_policies-*.tar.gz")
    (wheel,) = (work / "dist").glob("django_upload_policies-*.whl")
    return Release(sdist, wheel)


def test_twine_accepts_the_sdist_and_the_wheel(release: Release) -> None:
    require_module("twine", "pip install -e '.[lint]'")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "twine",
            "check",
            "--strict",
            str(release.sdist),
            str(release.wheel),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASSED") == 2, done.stdout


def test_package_users_read_readme_pypi(release: Release) -> None:
    archive = zipfile.ZipFile(release.wheel)
    (name,) = (n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    metadata = message_from_string(archive.read(name).decode())

    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata.get_payload().strip() == (ROOT / "README-pypi.md").read_text().strip()


def test_the_sdist_holds_the_app_and_not_the_projects_suite(release: Release) -> None:
    with tarfile.open(release.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}

    assert {"pyproject.toml", "LICENSE", "README-pypi.md", "CHANGELOG.md"} <= names
    assert "uploads/static/uploads/uploads.js" in names
    assert "uploads/templates/uploads/widgets/upload.html" in names
    assert not {name.split("/")[0] for name in names} & {"tests", "config", "accounts", "docs"}


def test_the_wheel_built_from_the_sdist_ships_the_widget(release: Release) -> None:
    names = zipfile.ZipFile(release.wheel).namelist()

    assert "uploads/static/uploads/upload_widget.js" in names
    assert "uploads/templates/uploads/widgets/upload.html" in names
    assert "uploads/api/unavailable.py" in names
