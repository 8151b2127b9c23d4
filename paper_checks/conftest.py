"""Shared pieces of the paper checks: a record of the worst deviation of each check.

Every check reports the deviations it measures through the session fixture
``record_deviation(name, value)``; at the end of the run pytest prints, per check, the
number of cases and the worst deviation (``pytest paper_checks -q``).
"""

import collections

import pytest

_WORST: dict[str, float] = collections.defaultdict(float)
_CASES: collections.Counter = collections.Counter()


@pytest.fixture(scope="session")
def record_deviation():
    """``record(name, value)``: keep the largest ``value`` seen under ``name``."""

    def record(name: str, value: float) -> None:
        _WORST[name] = max(_WORST[name], float(value))
        _CASES[name] += 1

    return record


def pytest_terminal_summary(terminalreporter):
    if not _WORST:
        return
    terminalreporter.section("paper checks: worst deviation per check")
    width = max(len(name) for name in _WORST)
    for name in sorted(_WORST):
        terminalreporter.write_line(f"{name:<{width}}  {_CASES[name]:4d} cases  worst {_WORST[name]:.2e}")
