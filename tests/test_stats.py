"""Tests of mdm_ot.stats: Kendall's tau-b (against scipy, and the committed tables' values)
and the mean with its standard error."""

import json
import math
import statistics
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from mdm_ot.stats import kendall_tau, mean_and_se

RTOL, ATOL = 1e-12, 1e-12
RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"


# ----------------------------------------------------------------------------- Kendall's tau


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=3, max_size=40))
def test_kendall_tau_matches_scipy_with_ties(pairs):
    x, y = (np.array(v, float) for v in zip(*pairs, strict=True))
    ours = kendall_tau(x, y)
    ref = scipy.stats.kendalltau(x, y).statistic  # tau-b, scipy's default
    if np.isnan(ref):
        assert np.isnan(ours)
    else:
        np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL)


def test_kendall_tau_extremes_and_infinities():
    x = np.arange(10.0)
    np.testing.assert_allclose(kendall_tau(x, 2 * x + 1), 1.0, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(kendall_tau(x, -x), -1.0, rtol=RTOL, atol=ATOL)
    # inf ranks last and equal infinities tie: same as replacing inf by a large number
    xi = np.array([0.3, np.inf, 0.1, np.inf, 2.0])
    yi = np.array([1.0, 5.0, 0.0, 4.0, 3.0])
    ref = scipy.stats.kendalltau(np.where(np.isinf(xi), 1e300, xi), yi).statistic
    np.testing.assert_allclose(kendall_tau(xi, yi), ref, rtol=RTOL, atol=ATOL)
    assert np.isnan(kendall_tau(np.ones(4), x[:4]))


@pytest.mark.parametrize("x, y, match", [
    ([1, 2], [1, 2, 3], "same length"),
    ([1], [1], "at least 2"),
    ([1, np.nan], [1, 2], "NaN"),
])
def test_kendall_tau_bad_input(x, y, match):
    with pytest.raises(ValueError, match=match):
        kendall_tau(x, y)


@pytest.mark.parametrize("seed", range(5))
def test_kendall_tau_b_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, 9).astype(float)  # with ties
    y = x + rng.integers(-2, 3, 9)
    want = scipy.stats.kendalltau(x, y).statistic
    assert kendall_tau(x, y) == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0, rel=1e-12, abs=1e-12)
    with pytest.raises(ValueError):
        kendall_tau([1], [1])


@pytest.mark.parametrize("path", sorted((RESULTS / "code").glob("*.json")), ids=lambda p: p.name)
def test_kendall_tau_reproduces_the_committed_code_tables(path):
    """Bit for bit: the tables' tune-vs-test rank agreement (scipy's tau-b differs in the
    last bit, it divides by two square roots in turn)."""
    for tu in json.loads(path.read_text())["tuning"].values():
        cand = list(tu["stage2"])
        got = kendall_tau([tu["stage2"][s] for s in cand], [tu["test"][s] for s in cand])
        assert got == tu["kendall_tau_tune_vs_test"]


# ----------------------------------------------------------------------------- mean and SE


def test_mean_and_se():
    x = [0.0, 1.0, 1.0, 0.5, 2.0]
    m, se = mean_and_se(x)
    assert m == pytest.approx(statistics.mean(x), rel=1e-12, abs=1e-12)
    assert se == pytest.approx(statistics.stdev(x) / math.sqrt(5), rel=1e-12, abs=1e-12)
    assert math.isnan(mean_and_se([1.0])[1])
    assert all(math.isnan(v) for v in mean_and_se([]))


def test_mean_and_se_by_row_takes_the_row_as_the_unit():
    v = np.array([[2 / 3, 2 / 3], [0.5, 1.0]])
    m, se = mean_and_se(v, by_row=True)
    per = np.array([2 / 3, 0.75])
    np.testing.assert_allclose(m, per.mean(), rtol=1e-15, atol=0)
    np.testing.assert_allclose(se, np.std(per, ddof=1) / math.sqrt(2), rtol=1e-14, atol=0)
    assert mean_and_se(np.array([[0.3, 0.5]]), by_row=True, se_of_one=0.0) == (0.4, 0.0)
    assert mean_and_se(np.array([0.1, 0.3]), by_row=True) == mean_and_se([0.1, 0.3])
