"""The package as pip builds it, from the checkout's files as git would commit them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.live import ROOT

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


def build_wheel(workdir: Path) -> Path:
    """Build the wheel from a clean copy of the sources in ``workdir``; returns its path."""
    sources = copy_sources(workdir / "src")
    wheels = workdir / "wheels"
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
    return wheel
