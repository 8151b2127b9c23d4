"""Appendix D.5: "with equal gamma increments, equal theta steps minimize the discrete energy: min e_N = 8 N^2 (1 - cos(pi/(2N))) < pi^2, approaching pi^2 as O(1/N^2)".

Independent sides: the library's discrete geodesic energy
(:func:`mdm_ot.energies.discrete_geodesic_energy`, chord form 2(1 - cos dtheta)) on
schedules and grids, against the closed form evaluated in mpmath, and a pure-numpy sum
over random angle increments. The order of convergence is the fitted log-log slope of
|E_N - pi^2| for the library's E_N on grids of N = 4 ... 1024 equal gamma steps.

Dropped hypotheses: (i) equal gamma increments -- on a grid with unequal increments the
discrete energy goes below 8 N^2 (1 - cos(pi/(2N))) (N = 2, increments 0.9 and 0.1:
8.48 < 9.37); (ii) the boundary conditions alpha(0) = 0, alpha(1) = 1 -- the log-linear
schedule (alpha(0) = eps) covers less than pi/2 of angle and also goes below.
"""

import math

import jax
import mpmath
import numpy as np
import pytest
import scipy.special as sps
from hypothesis import given, settings
from hypothesis import strategies as st

from mdm_ot import energies as E
from mdm_ot.schedules import BetaCDF, Identity, LogLinear, Optimal, Sine2
from mdm_ot.testing import strategies as mst

pytestmark = pytest.mark.paper

PI2 = math.pi**2
STEPS = (1, 2, 3, 8)  # few grid shapes: the discrete energy runs eagerly, one compile per shape


def _formula(steps):
    with mpmath.workdps(40):
        return float(8 * steps**2 * (1 - mpmath.cos(mpmath.pi / (2 * steps))))


def test_minimum_formula_is_below_pi_squared(record_deviation):
    steps = np.arange(1, 201)
    got = np.asarray(E.discrete_geodesic_minimum(steps))
    want = np.array([_formula(int(k)) for k in steps])
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)
    assert np.all(got < PI2) and np.all(np.diff(got) > 0)
    record_deviation("App D.5  min e_N (library) vs 8N^2(1-cos(pi/2N))", float(np.max(np.abs(got / want - 1))))


def _equal_gamma_grid(gamma, steps):
    """Times with gamma(t_k) = k / N (exact ends); scipy's inverse Beta CDF."""
    levels = np.linspace(0.0, 1.0, steps + 1)
    if isinstance(gamma, Identity):
        return levels
    return sps.betaincinv(float(gamma.a), float(gamma.b), levels)


def test_equal_theta_steps_attain_the_minimum(record_deviation, case_tally):
    """alpha = sin^2(pi/2 gamma) on the equal-gamma grid has equal theta steps."""
    tally = case_tally("App D.5  alpha* on equal-gamma grids")

    @settings(max_examples=mst.examples(10))
    @given(gamma=mst.interp_schedules(), steps=st.sampled_from(STEPS[1:]))
    def check(gamma, steps):
        grid = _equal_gamma_grid(gamma, steps)
        got = float(E.discrete_geodesic_energy(Optimal(gamma), gamma, grid))
        want = _formula(steps)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=0)  # scipy's gamma^-1, then the library's gamma
        tally.add("finite")
        record_deviation("App D.5  equal dtheta on equal dgamma vs 8N^2(1-cos(pi/2N))", abs(got / want - 1))

    check()
    tally.require(1.0)


def test_random_schedules_never_beat_the_minimum(record_deviation, case_tally):
    tally = case_tally("App D.5  random alpha on equal-gamma grids")

    @settings(max_examples=mst.examples(20))
    @given(
        alpha=mst.mask_schedules(("linear", "sin", "sin2", "poly", "cosine", "beta", "optimal")),
        gamma=mst.interp_schedules(),
        steps=st.sampled_from(STEPS),
    )
    def check(alpha, gamma, steps):
        grid = _equal_gamma_grid(gamma, steps)
        got = float(E.discrete_geodesic_energy(alpha, gamma, grid))
        assert math.isfinite(got)  # a finite sum: every gamma step is 1/N > 0
        tally.add("finite")
        bound = _formula(steps)
        assert got >= bound * (1 - 1e-12)
        record_deviation("App D.5  random alpha: min e_N / e_N (<= 1)", bound / got)

    check()
    tally.require(1.0)


@settings(max_examples=mst.examples(25))
@given(steps=st.integers(1, 50), data=st.data())
def test_random_angle_increments_never_beat_the_minimum(steps, data, record_deviation):
    """Pure numpy: any split of pi/2 into N angle steps on equal gamma steps 1/N."""
    w = np.array(data.draw(st.lists(st.floats(1e-3, 1.0), min_size=steps, max_size=steps)))
    dtheta = 0.5 * math.pi * w / w.sum()
    energy = float(np.sum(4 * 2 * (1 - np.cos(dtheta)) * steps))
    assert energy >= _formula(steps) * (1 - 1e-12)
    record_deviation("App D.5  random dtheta: min e_N / e_N (<= 1)", _formula(steps) / energy)


def test_dropped_hypothesis_unequal_gamma_steps_beat_the_bound(record_deviation):
    """N = 2 with gamma steps 0.9, 0.1 (gamma = t, grid [0, 0.9, 1]) and theta steps
    proportional to them (sin^2): 8 (1 - cos(0.45 pi))/0.9 + 8 (1 - cos(0.05 pi))/0.1."""
    got = float(E.discrete_geodesic_energy(Sine2(), Identity(), np.array([0.0, 0.9, 1.0])))
    want = 8 * (1 - math.cos(0.45 * math.pi)) / 0.9 + 8 * (1 - math.cos(0.05 * math.pi)) / 0.1
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    assert got < _formula(2) - 0.5  # 8.48 < 9.37
    record_deviation("App D.5  (unequal dgamma) e_2 vs closed form", abs(got / want - 1))


def test_dropped_hypothesis_alpha_of_zero_must_be_zero():
    """Log-linear, alpha(0) = 0.1: the angle covered is pi/2 - arcsin(sqrt 0.1) < pi/2."""
    alpha = LogLinear(np.float64(0.1))
    for steps in (2, 8):
        got = float(E.discrete_geodesic_energy(alpha, Identity(), steps))
        # Written out in numpy: theta_k = arcsin sqrt(0.1 + 0.9 k/N), gamma steps 1/N.
        theta = np.arcsin(np.sqrt(0.1 + 0.9 * np.arange(steps + 1) / steps))
        want = float(np.sum(8 * (1 - np.cos(np.diff(theta))) * steps))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
        assert got < _formula(steps) - 0.5


def _slope(steps, gaps):
    return float(np.polyfit(np.log(steps), np.log(gaps), 1)[0])


CONVERGENCE_STEPS = 2 ** np.arange(2, 11)  # N = 4 ... 1024


@pytest.mark.parametrize(
    "gamma,steps",
    [(Identity(), CONVERGENCE_STEPS),
     (BetaCDF(np.float64(0.7), np.float64(1.6)), CONVERGENCE_STEPS[::2])],  # fewer compiles of the Beta CDF
    ids=["t", "beta"],
)
def test_convergence_is_order_two(gamma, steps, record_deviation):
    """|pi^2 - E_N| ~ C / N^2, E_N the library's discrete energy (discrete_geodesic_energy) of
    the optimal schedule sin^2(pi/2 gamma) on actual grids with equal gamma steps (uniform for
    gamma = t; for the Beta gamma the grid is scipy's inverse CDF, not uniform): each E_N
    against the closed form 8 N^2 (1 - cos(pi/(2N))) in mpmath, the fitted log-log slope of
    |E_N - pi^2| over N = 4 ... 1024, and the leading constant pi^4/48."""
    alpha = Optimal(gamma)
    energy = jax.jit(lambda grid: E.discrete_geodesic_energy(alpha, gamma, grid))  # one fused call per N
    got = np.array([float(energy(_equal_gamma_grid(gamma, int(k)))) for k in steps])
    want = np.array([_formula(int(k)) for k in steps])
    # rtol: N terms of size ~1/N, each 1 - cos(dtheta) with relative error ~1e-16 / dtheta^2.
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=0)
    record_deviation("App D.5  E_N (library, grids N=4..1024) vs 8N^2(1-cos(pi/2N))", float(np.max(np.abs(got / want - 1))))
    gaps = np.abs(got - PI2)
    slope = _slope(steps, gaps)
    np.testing.assert_allclose(slope, -2.0, rtol=0, atol=0.01)
    record_deviation("App D.5  O(1/N^2): |slope + 2| of |E_N - pi^2|", abs(slope + 2))
    _check_constants(steps, PI2 - got)
    assert np.all(got < PI2)


def _check_constants(steps, gaps, k=64):
    """N^2 (pi^2 - E_N) = pi^4/48 - pi^6/(5760 N^2) + O(N^-4), at N = 64, where the O(N^-4)
    term (~2e-10 relative) and rounding (~2e-9) are small (at N = 1024 rounding in E_N,
    ~1e-11 relative, is ~1e-4 of the gap)."""
    (i,) = np.flatnonzero(steps == k)
    np.testing.assert_allclose(gaps[i] * k**2, math.pi**4 / 48 - math.pi**6 / (5760 * k**2), rtol=1e-7, atol=0)


def test_minimum_formula_converges_at_order_two(record_deviation):
    """The library's closed form min e_N: fitted slope of pi^2 - min e_N over N = 4 ... 1024."""
    gaps = PI2 - np.asarray(E.discrete_geodesic_minimum(CONVERGENCE_STEPS))
    slope = _slope(CONVERGENCE_STEPS, gaps)
    np.testing.assert_allclose(slope, -2.0, rtol=0, atol=0.01)
    _check_constants(CONVERGENCE_STEPS, gaps)
    record_deviation("App D.5  O(1/N^2): |slope + 2| (library formula)", abs(slope + 2))
