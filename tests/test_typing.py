"""The app, the accounts and the project type-check cleanly under the [tool.mypy] config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.typing
def test_mypy_passes() -> None:
    # Uses mypy's incremental cache (.mypy_cache): a few seconds cold, about one warm.
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "uploads", "accounts", "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"mypy failed:\n{result.stdout}{result.stderr}"
