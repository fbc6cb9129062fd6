"""A pytest plugin: under UPLOADS_REQUIRE_ALL_BACKENDS=1 a run in which any test skipped
fails. tests.requirements.missing fails there already; this catches a skip from anywhere else
(a plugin's, pytest-django's without settings, a stray one), which CI would otherwise miss."""

from __future__ import annotations

import os

import pytest

from tests.requirements import REQUIRE_ALL


def skipped_reports(config: pytest.Config) -> list[pytest.TestReport]:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    reports = reporter.stats.get("skipped", []) if reporter is not None else []
    return [report for report in reports if not hasattr(report, "wasxfail")]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    if os.environ.get(REQUIRE_ALL) != "1" or session.exitstatus != pytest.ExitCode.OK:
        return
    if skipped_reports(session.config):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if os.environ.get(REQUIRE_ALL) != "1":
        return
    skipped = skipped_reports(terminalreporter.config)
    if skipped:
        terminalreporter.write_line(
            f"{REQUIRE_ALL}=1: {len(skipped)} skipped, which fails the run "
            "(skip only through tests.requirements.missing, which fails here)",
            red=True,
        )
