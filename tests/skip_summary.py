"""A pytest plugin: the last lines of a run name what was skipped and what to install to run
it, since `-ra`'s short summary scrolls away among the rest."""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator

import pytest


def skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr)
    return reason.removeprefix("Skipped: ")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter,
) -> Generator[None, None, None]:
    # Outermost, and after the yield: below -ra's short summary, just above the totals.
    yield
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if not hasattr(report, "wasxfail")
    ]
    if not skipped:
        return
    reasons = Counter(skip_reason(report) for report in skipped)
    tests = "test" if len(skipped) == 1 else "tests"
    terminalreporter.section(f"{len(skipped)} {tests} skipped: install what they need to run them")
    for reason, count in reasons.most_common():
        terminalreporter.line(f"{count:5d}  {reason}")
