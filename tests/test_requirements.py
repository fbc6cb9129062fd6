"""A test whose dependency is missing skips on a developer's machine and fails in CI
(UPLOADS_REQUIRE_ALL_BACKENDS=1), and no test skips any other way."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.live import ROOT
from tests.requirements import REQUIRE_ALL

TESTS = ROOT / "tests"
#: The one module allowed to skip (tests.requirements.missing).
MECHANISM = TESTS / "requirements.py"
#: What skips a test in pytest or unittest, by attribute, function or imported name.
SKIPPING_NAMES = frozenset({"skip", "skipif", "importorskip", "skipIf", "skipUnless", "SkipTest"})

NEEDY_TESTS = """
import pytest

from tests.requirements import redis_url, require_binary, require_module


def test_module():
    require_module("uploads_no_such_module", "pip install uploads-no-such-module")


def test_binary():
    require_binary("uploads-no-such-binary", "apt-get install uploads-no-such-binary")


def test_service():
    redis_url()


@pytest.fixture(scope="module")
def emulator():
    require_binary("/nonexistent/emulator", "npm install emulator")


def test_fixture(emulator):
    pass
"""
REASONS = {
    "test_module": "uploads_no_such_module is not installed (pip install uploads-no-such-module)",
    "test_binary": "uploads-no-such-binary is missing (apt-get install uploads-no-such-binary)",
    "test_service": "needs Redis (REDIS_URL)",
    "test_fixture": "/nonexistent/emulator is missing (npm install emulator)",
}


def run_pytest(tmp_path: Path, source: str, require_all: bool) -> tuple[int, str, dict[str, str]]:
    """pytest over ``source`` as a test file, without Redis, with the suite's skip plugins;
    returns its exit status, its output and, by test, how it ended (``passed``, or
    ``skipped``, ``failure`` or ``error`` with why)."""
    (tmp_path / "test_needy.py").write_text(source)
    junit = tmp_path / "junit.xml"
    env = {k: v for k, v in os.environ.items() if k not in (REQUIRE_ALL, "REDIS_URL")}
    if require_all:
        env[REQUIRE_ALL] = "1"
    plugins = ["-p", "tests.skip_summary", "-p", "tests.skip_guard", "-p", "no:cacheprovider"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *plugins, "-p", "no:django"]
        + ["--rootdir", str(tmp_path), f"--junitxml={junit}", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
    )
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        ended = next(iter(case), None)
        outcomes[case.attrib["name"]] = (
            "passed" if ended is None else f"{ended.tag}: {ended.attrib.get('message', '')}"
        )
    return result.returncode, result.stdout, outcomes


def test_without_the_flag_a_missing_dependency_skips_and_says_what_to_install(
    tmp_path: Path,
) -> None:
    status, output, outcomes = run_pytest(tmp_path, NEEDY_TESTS, require_all=False)

    assert status == 0, output
    assert outcomes == {name: f"skipped: {reason}" for name, reason in REASONS.items()}
    assert "4 tests skipped: install what they need to run them" in output
    for reason in REASONS.values():
        assert f"1  {reason}" in output


def test_under_the_flag_a_missing_dependency_fails_with_its_reason(tmp_path: Path) -> None:
    status, output, outcomes = run_pytest(tmp_path, NEEDY_TESTS, require_all=True)

    assert status == 1, output
    flag = f"({REQUIRE_ALL}=1: a missing dependency fails)"
    assert outcomes == {
        "test_module": f"failure: Failed: {REASONS['test_module']} {flag}",
        "test_binary": f"failure: Failed: {REASONS['test_binary']} {flag}",
        "test_service": f"failure: Failed: {REASONS['test_service']} {flag}",
        # A fixture that fails is an error of the test's set-up: as loud.
        "test_fixture": f'error: failed on setup with "Failed: {REASONS["test_fixture"]} {flag}"',
    }
    assert "skipped" not in output


STRAY_SKIP = """
import pytest


def test_skipped_by_someone_else():
    pytest.skip("a plugin's own reason")


def test_runs():
    pass
"""


def test_under_the_flag_a_skip_from_anywhere_else_fails_the_run(tmp_path: Path) -> None:
    status, output, outcomes = run_pytest(tmp_path, STRAY_SKIP, require_all=True)

    assert outcomes["test_skipped_by_someone_else"] == "skipped: a plugin's own reason"
    assert status == 1, output
    assert f"{REQUIRE_ALL}=1: 1 skipped, which fails the run" in output


def test_without_the_flag_a_skip_from_elsewhere_is_only_reported(tmp_path: Path) -> None:
    status, output, _ = run_pytest(tmp_path, STRAY_SKIP, require_all=False)

    assert status == 0, output
    assert "which fails the run" not in output
    assert "1  a plugin's own reason" in output


def skips_outside_the_mechanism(path: Path) -> list[str]:
    """Where ``path`` skips a test other than through tests.requirements: a use of pytest's or
    unittest's skipping functions and marks, as ``file:line name``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute):
            names = [(node.attr, node.lineno)]
        elif isinstance(node, ast.Name):
            names = [(node.id, node.lineno)]
        elif isinstance(node, ast.ImportFrom):
            names = [(alias.name, node.lineno) for alias in node.names]
        else:
            continue
        found += [f"{path}:{line} {name}" for name, line in names if name in SKIPPING_NAMES]
    return found


def test_no_test_skips_but_through_tests_requirements() -> None:
    stray = [
        use
        for path in sorted(TESTS.rglob("*.py"))
        if path != MECHANISM
        for use in skips_outside_the_mechanism(path)
    ]
    assert stray == [], "skip through tests.requirements.missing (or a require_* helper)"


@pytest.mark.parametrize(
    "source",
    [
        "import pytest\npytest.skip('no redis')\n",
        "import pytest\nboto3 = pytest.importorskip('boto3')\n",
        "import pytest\n@pytest.mark.skipif(True, reason='x')\ndef test_x(): pass\n",
        "from pytest import skip\n",
        "import unittest\n@unittest.skipUnless(False, 'x')\ndef test_x(): pass\n",
    ],
)
def test_the_guard_finds_each_way_to_skip(tmp_path: Path, source: str) -> None:
    stray = tmp_path / "test_stray.py"
    stray.write_text(source)
    assert len(skips_outside_the_mechanism(stray)) == 1
