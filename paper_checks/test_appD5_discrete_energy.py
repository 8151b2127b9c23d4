"""Appendix D.5: "with equal gamma increments, equal theta steps minimize the discrete energy: min e_N = 8 N^2 (1 - cos(pi/(2N))) < pi^2, approaching pi^2 as O(1/N^2)".

Independent sides: the library's discrete geodesic energy
(:func:`mdm_ot.energies.discrete_geodesic_energy`, chord form 2(1 - cos dtheta)) on
schedules and grids, against the closed form evaluated in mpmath, and a pure-numpy sum
over random angle increments. The order of convergence is a fitted log-log slope.

Dropped hypotheses: (i) equal gamma increments -- on a grid with unequal increments the
discrete energy goes below 8 N^2 (1 - cos(pi/(2N))) (N = 2, increments 0.9 and 0.1:
8.48 < 9.37); (ii) the boundary conditions alpha(0) = 0, alpha(1) = 1 -- the log-linear
schedule (alpha(0) = eps) covers less than pi/2 of angle and also goes below.
"""

import math

import jax
import jax.numpy as jnp
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


@settings(max_examples=10)
@given(gamma=mst.interp_schedules(), steps=st.sampled_from(STEPS[1:]))
def test_equal_theta_steps_attain_the_minimum(gamma, steps, record_deviation):
    """alpha = sin^2(pi/2 gamma) on the equal-gamma grid has equal theta steps."""
    grid = _equal_gamma_grid(gamma, steps)
    got = float(E.discrete_geodesic_energy(Optimal(gamma), gamma, grid))
    want = _formula(steps)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=0)  # gamma^-1 by bisection, then gamma
    record_deviation("App D.5  equal dtheta on equal dgamma vs 8N^2(1-cos(pi/2N))", abs(got / want - 1))


@settings(max_examples=20)
@given(
    alpha=mst.mask_schedules(("linear", "sin", "sin2", "poly", "cosine", "beta", "optimal")),
    gamma=mst.interp_schedules(),
    steps=st.sampled_from(STEPS),
)
def test_random_schedules_never_beat_the_minimum(alpha, gamma, steps, record_deviation):
    grid = _equal_gamma_grid(gamma, steps)
    got = float(E.discrete_geodesic_energy(alpha, gamma, grid))
    bound = _formula(steps)
    assert got >= bound * (1 - 1e-12)
    record_deviation("App D.5  random alpha: min e_N / e_N (<= 1)", bound / got)


@settings(max_examples=25)
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
        assert got < _formula(steps)


def _slope(steps, gaps):
    return float(np.polyfit(np.log(steps), np.log(gaps), 1)[0])


def test_convergence_is_order_two(record_deviation):
    """pi^2 - min e_N ~ C / N^2: fitted log-log slope over N = 4 ... 1024, from the closed
    form and from the discrete energy of sin^2 evaluated on uniform grids."""
    steps = 2 ** np.arange(2, 11)
    gap_formula = PI2 - np.asarray(E.discrete_geodesic_minimum(steps))
    energy = jax.jit(lambda grid: E.discrete_geodesic_energy(Sine2(), None, grid))  # one fused call per N
    gap_sampled = np.array([PI2 - float(energy(np.linspace(0.0, 1.0, int(k) + 1))) for k in steps])
    for gaps, label in [(gap_formula, "formula"), (gap_sampled, "sin^2 on uniform grids")]:
        assert np.all(gaps > 0)
        slope = _slope(steps, gaps)
        np.testing.assert_allclose(slope, -2.0, rtol=0, atol=0.01)
        record_deviation(f"App D.5  O(1/N^2): |slope + 2| ({label})", abs(slope + 2))
    # Leading constant: 8 N^2 (1 - cos x) = pi^2 - pi^4 / (48 N^2) + O(N^-4).
    np.testing.assert_allclose(gap_formula[-1] * steps[-1] ** 2, math.pi**4 / 48, rtol=1e-5, atol=0)
    assert jnp.isfinite(gap_sampled).all() and BetaCDF is not None
