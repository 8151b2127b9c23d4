"""Shared pieces of the paper checks: a record of the worst deviation of each check, and
a tally of its random cases (finite, divergent, skipped).

Every check reports the deviations it measures through the session fixture
``record_deviation(name, value)``; checks over random schedule pairs also count their
cases with ``case_tally(name)`` and require a minimum share of finite ones
(:meth:`CaseTally.require`), so that a change of strategy cannot silently turn most cases
into divergent ones, where only "both diverge at the same end" is compared. At the end of
the run pytest prints, per check, the number of cases and the worst deviation, then the
tallies (``pytest paper_checks -q``).

The records travel as the test's ``user_properties`` and are summed from the test reports,
so the summary is the same whether the tests run in this process or in pytest-xdist workers
(``-n 2``), whose reports reach the controlling process.
"""

import collections

import pytest

_WORST: dict[str, float] = collections.defaultdict(float)
_CASES: collections.Counter = collections.Counter()
_TALLIES: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
_CURRENT: list = [None]  # the test item running in this process (records go to it)
_DEVIATION, _CASE = "paper_check_deviation", "paper_check_case"

KINDS = ("finite", "divergent", "skipped")


@pytest.fixture(scope="session")
def record_deviation():
    """``record(name, value)``: keep the largest ``value`` seen under ``name``."""

    def record(name: str, value: float) -> None:
        _CURRENT[0].user_properties.append((_DEVIATION, (name, float(value))))

    return record


class CaseTally:
    """Counts of one check's cases by kind: ``finite``, ``divergent`` or ``skipped``."""

    def __init__(self, name: str):
        self.name = name
        self.counts: collections.Counter = collections.Counter()

    def add(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.counts[kind] += 1
        _CURRENT[0].user_properties.append((_CASE, (self.name, kind)))

    def require(self, min_finite_fraction: float, min_divergent: int = 0) -> None:
        """Assert that at least ``min_finite_fraction`` of the cases that ran (not skipped)
        were finite and that at least ``min_divergent`` diverged."""
        ran = self.counts["finite"] + self.counts["divergent"]
        assert ran > 0, f"{self.name}: no case ran ({dict(self.counts)})"
        share = self.counts["finite"] / ran
        assert share >= min_finite_fraction, (
            f"{self.name}: only {self.counts['finite']} of {ran} cases finite "
            f"({share:.0%} < {min_finite_fraction:.0%}); the strategy degraded"
        )
        assert self.counts["divergent"] >= min_divergent, (
            f"{self.name}: {self.counts['divergent']} divergent cases, need >= {min_divergent} "
            "(the 'same divergent end' branch must be exercised)"
        )


@pytest.fixture
def case_tally():
    """``case_tally(name)``: a fresh :class:`CaseTally` for this test (also summed into the
    end-of-run summary under ``name``)."""
    return CaseTally


def pytest_runtest_setup(item):
    _CURRENT[0] = item


def pytest_runtest_logreport(report):
    # The teardown report carries every record of the test (setup and call included).
    if report.when != "teardown":
        return
    for key, value in report.user_properties:
        if key == _DEVIATION:
            name, dev = value
            _WORST[name] = max(_WORST[name], float(dev))
            _CASES[name] += 1
        elif key == _CASE:
            name, kind = value
            _TALLIES[name][kind] += 1


def pytest_terminal_summary(terminalreporter):
    if _WORST:
        terminalreporter.section("paper checks: worst deviation per check")
        width = max(len(name) for name in _WORST)
        for name in sorted(_WORST):
            terminalreporter.write_line(f"{name:<{width}}  {_CASES[name]:4d} cases  worst {_WORST[name]:.2e}")
    if _TALLIES:
        terminalreporter.section("paper checks: random cases per check")
        width = max(len(name) for name in _TALLIES)
        for name in sorted(_TALLIES):
            c = _TALLIES[name]
            terminalreporter.write_line(
                f"{name:<{width}}  finite {c['finite']:4d}  divergent {c['divergent']:4d}  "
                f"skipped {c['skipped']:4d}"
            )
