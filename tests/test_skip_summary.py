"""`make test` ends by naming what it skipped and what to install to run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.live import ROOT


def run_pytest(directory: Path) -> str:
    """pytest over ``directory`` with the suite's skip summary, as `make test` ends."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-ra",
            "-p",
            "tests.skip_summary",
            "-p",
            "no:cacheprovider",
        ]
        + ["-p", "no:django", "--rootdir", str(directory), str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=directory,
    )
    return result.stdout


def test_the_last_lines_name_each_reason_once_with_its_count(tmp_path: Path) -> None:
    (tmp_path / "test_needs.py").write_text(
        "import pytest\n"
        "@pytest.mark.parametrize('n', range(3))\n"
        "def test_browser(n):\n"
        "    pytest.skip('/usr/bin/chromium is missing (apt-get install chromium)')\n"
        "def test_azure():\n"
        "    pytest.skip('Azurite is missing: run npm install')\n"
        "def test_runs():\n"
        "    pass\n"
    )
    tail = run_pytest(tmp_path).splitlines()[-4:]
    assert "4 tests skipped: install what they need to run them" in tail[0]
    assert tail[1].split() == [
        "3",
        *"/usr/bin/chromium is missing (apt-get install chromium)".split(),
    ]
    assert tail[2].split() == ["1", *"Azurite is missing: run npm install".split()]
    assert "1 passed, 4 skipped" in tail[3]


def test_nothing_skipped_adds_nothing(tmp_path: Path) -> None:
    (tmp_path / "test_all.py").write_text("def test_runs():\n    pass\n")
    output = run_pytest(tmp_path)
    assert "tests skipped" not in output
    assert "1 passed" in output
