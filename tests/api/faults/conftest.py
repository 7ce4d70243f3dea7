"""Fixtures of the fault-injection suite: the per-fault numbers, printed at the end of the run."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.api.faults._harness import FaultReport

_REPORTS: list[FaultReport] = []


@pytest.fixture
def fault_report() -> Iterator[Callable[[str], FaultReport]]:
    """Make a :class:`FaultReport`; its line is printed now and in the terminal summary."""
    made: list[FaultReport] = []

    def make(name: str) -> FaultReport:
        report = FaultReport(name)
        made.append(report)
        return report

    yield make
    for report in made:
        if report.acknowledged:
            print(report.line())
            _REPORTS.append(report)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per fault: bookings acknowledged, survived, recovery time."""
    if _REPORTS:
        terminalreporter.section("fault injection")
        for report in _REPORTS:
            terminalreporter.write_line(report.line())
