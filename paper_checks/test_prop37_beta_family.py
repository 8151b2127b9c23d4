"""Proposition 3.7: "I_t(1/2, 1/2) = (2/pi) arcsin sqrt(t)", so Beta(1/2, 1/2) gives the linear schedule and Beta(1, 1) gives sin^2(pi t / 2).

Independent sides: the library's Beta CDF (continued fraction with a custom JVP,
:func:`mdm_ot.schedules.betainc`) against the closed form (2/pi) arcsin sqrt(t) and its complement
(2/pi) arcsin sqrt(1-t) computed from tc, and against scipy.special.betainc; the Beta
schedules against the linear and sin^2 schedules, values and derivatives, at random
times including within 1e-200 of either end.

Dropped hypothesis: the closed form is special to (1/2, 1/2): for other (a, b) the Beta
schedule is not linear (the deviation from t is measured), and only (1, 1) gives sin^2
among the symmetric Beta(a, a).
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
from mdm_ot.quadrature import STATUS_DIVERGENT_AT_0, STATUS_OK
from mdm_ot.schedules import BetaCDF, Linear, Sine2, beta_schedule
from mdm_ot.testing import strategies as mst

pytestmark = pytest.mark.paper

HALF = BetaCDF(np.float64(0.5), np.float64(0.5))
LINEAR_BETA = beta_schedule(0.5, 0.5)
SIN2_BETA = beta_schedule(1.0, 1.0)


@settings(max_examples=mst.examples(25))
@given(tt=mst.times())
def test_arcsine_cdf_closed_form(tt, record_deviation):
    t, tc = tt
    g, gc = (float(v) for v in HALF.pair(t, tc))
    # 40-digit reference from the float inputs t and tc (1 - I_t = I_{1-t}(1/2, 1/2)).
    with mpmath.workdps(40):
        want, want_c = (float(2 / mpmath.pi * mpmath.asin(mpmath.sqrt(mpmath.mpf(float(x))))) for x in (t, tc))
    np.testing.assert_allclose([g, gc], [want, want_c], rtol=1e-13, atol=0)
    np.testing.assert_allclose(g, sps.betainc(0.5, 0.5, float(t)), rtol=1e-13, atol=1e-300)
    record_deviation("Prop 3.7 I_t(1/2,1/2) vs (2/pi) arcsin sqrt t", max(abs(g / want - 1), abs(gc / want_c - 1)))


def _triple(schedule, t, tc):
    """(alpha, 1 - alpha, alpha'), alpha' by autodiff of the pair map in the direction
    (dt, dtc) = (1, -1), from whichever of alpha, 1 - alpha is smaller (the derivative of
    the other branch has only absolute accuracy: mdm_ot.schedules.alpha_and_rate takes the
    alpha branch and is off near t = 1, see tests/bruteforce/test_paths.py)."""
    t, tc = jnp.asarray(t), jnp.asarray(tc)
    (al, om), (dal, dom) = jax.jvp(schedule.pair, (t, tc), (jnp.ones_like(t), -jnp.ones_like(tc)))
    return np.array([float(al), float(om), float(dal if al <= om else -dom)])


@settings(max_examples=mst.examples(25))
@given(tt=mst.times())
def test_beta_half_half_is_linear_and_beta_one_one_is_sin2(tt, record_deviation):
    t, tc = tt
    for beta, named, label in [(LINEAR_BETA, Linear(), "Beta(1/2,1/2) vs linear"),
                               (SIN2_BETA, Sine2(), "Beta(1,1) vs sin^2")]:
        got, want = _triple(beta, t, tc), _triple(named, t, tc)
        # (alpha, 1 - alpha, alpha'): each accurate where it is small.
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
        nonzero = want != 0  # alpha underflows to 0 at t ~ 1e-155 for sin^2 (both sides)
        np.testing.assert_array_equal(got[~nonzero], 0.0)
        record_deviation(f"Prop 3.7 {label} (alpha, 1-alpha, alpha')",
                         float(np.max(np.abs(got[nonzero] / want[nonzero] - 1))))


def test_energies_of_the_two_special_cases():
    """Beta(1, 1) = sin^2 attains pi^2 with gamma = t; Beta(1/2, 1/2) = linear diverges."""
    r = E.reduced_energy(SIN2_BETA)
    assert int(r.status) == STATUS_OK
    np.testing.assert_allclose(float(r.value), math.pi**2, rtol=1e-12, atol=0)
    r = E.reduced_energy(LINEAR_BETA)  # 1/(t(1-t)): divergent at both ends, t = 0 reported first
    assert float(r.value) == math.inf and int(r.status) == STATUS_DIVERGENT_AT_0


@settings(max_examples=mst.examples(15))
@given(ab=st.tuples(st.floats(0.2, 3.0), st.floats(0.2, 3.0)).filter(
    lambda ab: abs(ab[0] - 0.5) + abs(ab[1] - 0.5) > 0.05))
def test_dropped_hypothesis_other_parameters_are_not_linear(ab, record_deviation):
    alpha = beta_schedule(np.float64(ab[0]), np.float64(ab[1]))
    t = np.linspace(0.01, 0.99, 99)
    got = np.asarray(alpha(t))
    # The library's Beta schedule is sin^2(pi/2 I_t(a, b)) (scipy's I_t) ...
    np.testing.assert_allclose(got, np.sin(0.5 * np.pi * sps.betainc(ab[0], ab[1], t)) ** 2, rtol=1e-12, atol=1e-15)
    # ... and that is not the linear schedule.
    gap = float(np.max(np.abs(got - t)))
    assert gap > 1e-3
    record_deviation("Prop 3.7 (other a,b) 1e-3 / max|alpha - t| (< 1: not linear)", 1e-3 / gap)


@pytest.mark.parametrize("a", [0.5, 0.8, 1.3, 2.0])
def test_dropped_hypothesis_only_beta_one_one_is_sin2(a):
    """Among the symmetric Beta(a, a), only a = 1 gives sin^2(pi t / 2): the library's
    schedule matches scipy's sin^2(pi/2 I_t(a, a)) and differs from sin^2 by more than 1e-3."""
    t = np.linspace(0.01, 0.99, 99)
    got = np.asarray(beta_schedule(np.float64(a), np.float64(a))(t))
    np.testing.assert_allclose(got, np.sin(0.5 * np.pi * sps.betainc(a, a, t)) ** 2, rtol=1e-12, atol=1e-15)
    assert float(np.max(np.abs(got - np.sin(0.5 * np.pi * t) ** 2))) > 1e-3
