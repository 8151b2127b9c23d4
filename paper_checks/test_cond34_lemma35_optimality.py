"""Condition 3.4 and Lemma 3.5: "for a fixed gamma, e(alpha, gamma) >= pi^2, with equality iff alpha = sin^2((pi/2) gamma)".

Independent sides: admissible perturbations alpha = sin^2((pi/2) psi(gamma)),
psi(u) = u + sum_k eps_k sin(k pi u)/(k pi) (mdm_ot.testing.strategies.PerturbedOptimal),
have the closed form e = pi^2 (1 + sum_k eps_k^2 / 2); it is compared with the reduced
energy (quadrature of Eq. 14) and with the brute-force energies over the states. The
minimum is each energy's constant times pi^2 (MATH.md section 3), checked by brute force.
Closed forms: e(sin^2(pi/2 gamma), gamma) = pi^2 for every gamma; with gamma = t and
alpha = sin^2(pi/2 I_t(a, b)), e = pi^2 B(2a-1, 2b-1)/B(a, b)^2, finite iff a, b > 1/2;
linear with gamma = t diverges (logarithmically, at both ends); linear with
gamma = I_t(1/2, 1/2) attains pi^2; sin^2 with gamma = I_t(1/2, 1/2) gives pi^4/8.

Dropped hypotheses: (i) the optimum is for *its own* gamma: sin^2 is optimal for gamma = t
but costs pi^4/8 > pi^2 for the arcsine gamma; (ii) monotonicity of alpha is not needed
for the bound (a non-monotone psi still gives pi^2 (1 + sum eps^2/2) >= pi^2), it is
needed for alpha to be a mask schedule (alpha' < 0 means negative unmasking rates).
"""

import math

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sps
from hypothesis import given, settings
from hypothesis import strategies as st

from mdm_ot import energies as E
from mdm_ot import bruteforce as P
from mdm_ot.quadrature import (
    STATUS_DIVERGENT_AT_0,
    STATUS_DIVERGENT_AT_1,
    STATUS_OK,
    endpoint_exponents,
    integrate01,
)
from mdm_ot.schedules import (
    BetaCDF,
    Identity,
    Linear,
    Optimal,
    Sine2,
    alpha_and_rate,
    beta_schedule,
    theta_and_rate,
)
from mdm_ot.testing import strategies as mst

pytestmark = pytest.mark.paper

PI2 = math.pi**2
RTOL = 1e-10


@settings(max_examples=20)
@given(gamma=mst.interp_schedules(), data=st.data())
def test_admissible_perturbations_never_lower_the_energy(gamma, data, record_deviation):
    alpha = data.draw(mst.perturbed_optimal(gamma))
    closed = float(alpha.closed_form_energy())
    assert closed > PI2  # strictly: some eps_k != 0
    r = E.reduced_energy(alpha, gamma)
    assert int(r.status) == STATUS_OK
    np.testing.assert_allclose(float(r.value), closed, rtol=RTOL, atol=0)
    record_deviation("Lem 3.5  e(perturbed) vs pi^2(1+sum eps^2/2)", abs(float(r.value) / closed - 1))
    # The brute-force geodesic energy of one token is e itself (Example 3.3).
    g = P.geodesic_energy(alpha, np.array([0.5, 0.5]), gamma)
    assert int(g.status) == STATUS_OK
    np.testing.assert_allclose(float(g.value), closed, rtol=RTOL, atol=0)
    record_deviation("Lem 3.5  E_g(brute, n=1, perturbed) vs closed form", abs(float(g.value) / closed - 1))


@settings(max_examples=12)
@given(problem=mst.problems("full"), gamma=mst.interp_schedules())
def test_the_minimum_is_the_constant_times_pi_squared(problem, gamma, record_deviation):
    n, d, q = problem
    alpha = Optimal(gamma)
    const = E.energy_constants(n, d)
    for name, energy, c in [("E_k", P.kinetic_energy, const.kinetic),
                            ("E_c", P.conditional_kinetic_energy, const.conditional),
                            ("E_g", P.geodesic_energy, const.geodesic)]:
        r = energy(alpha, q, gamma)
        assert int(r.status) == STATUS_OK
        np.testing.assert_allclose(float(r.value), c * PI2, rtol=RTOL, atol=0)
        record_deviation(f"Lem 3.5  min {name}(brute) vs const pi^2", abs(float(r.value) / (c * PI2) - 1))


def _beta_closed_form(a, b):
    return PI2 * sps.beta(2 * a - 1, 2 * b - 1) / sps.beta(a, b) ** 2


@settings(max_examples=20)
@given(ab=mst.beta_params(finite=None))
def test_beta_family_closed_form_and_its_divergence(ab, record_deviation):
    a, b = (float(v) for v in ab)
    alpha = beta_schedule(*ab)
    r = E.reduced_energy(alpha)
    g = P.geodesic_energy(alpha, np.array([0.3, 0.7]))
    if a > 0.5 and b > 0.5:
        want = _beta_closed_form(a, b)
        for res, name in [(r, "e(reduced)"), (g, "E_g(brute, n=1)")]:
            assert int(res.status) == STATUS_OK
            np.testing.assert_allclose(float(res.value), want, rtol=RTOL, atol=0)
            record_deviation(f"Lem 3.5  Beta {name} vs pi^2 B(2a-1,2b-1)/B(a,b)^2", abs(float(res.value) / want - 1))
    else:
        end = STATUS_DIVERGENT_AT_0 if a <= 0.5 else STATUS_DIVERGENT_AT_1
        for res in (r, g):
            assert float(res.value) == math.inf and int(res.status) == end


def test_optimal_is_pi_squared_for_named_gammas(record_deviation):
    arcsine = BetaCDF(np.float64(0.5), np.float64(0.5))
    q = np.array([0.2, 0.3, 0.5])
    for alpha, gamma in [(Sine2(), Identity()), (Optimal(arcsine), arcsine), (Linear(), arcsine)]:
        for res in (E.reduced_energy(alpha, gamma), P.geodesic_energy(alpha, q, gamma)):
            assert int(res.status) == STATUS_OK
            np.testing.assert_allclose(float(res.value), PI2, rtol=RTOL, atol=0)
            record_deviation("Lem 3.5  sin2 / linear+arcsine gamma vs pi^2", abs(float(res.value) / PI2 - 1))


def test_linear_with_gamma_t_diverges_logarithmically_at_both_ends():
    q = np.array([0.5, 0.5])
    for res in (E.reduced_energy(Linear()), P.geodesic_energy(Linear(), q), P.kinetic_energy(Linear(), q)):
        assert float(res.value) == math.inf
        assert int(res.status) == STATUS_DIVERGENT_AT_0  # t = 0 is reported first
    # Both ends: the integrand 1/(t(1-t)) has exponent exactly -1 at t = 0 and at t = 1.
    for f in (E.reduced_integrand(Linear()), P.geodesic_integrand(Linear(), q)):
        p0, p1 = (float(v) for v in endpoint_exponents(f))
        np.testing.assert_allclose([p0, p1], [-1.0, -1.0], rtol=0, atol=1e-12)


def test_dropped_hypothesis_optimal_only_for_its_own_gamma(record_deviation):
    """sin^2 is optimal for gamma = t; with the arcsine gamma it costs
    4 int (pi/2)^2 pi sqrt(t(1-t)) dt = pi^4 / 8 > pi^2."""
    arcsine = BetaCDF(np.float64(0.5), np.float64(0.5))
    want = math.pi**4 / 8
    for res in (E.reduced_energy(Sine2(), arcsine), P.geodesic_energy(Sine2(), np.array([1.0, 0.0]), arcsine)):
        assert int(res.status) == STATUS_OK
        np.testing.assert_allclose(float(res.value), want, rtol=RTOL, atol=0)
        record_deviation("Lem 3.5  (other gamma) sin2 vs pi^4/8", abs(float(res.value) / want - 1))
    assert want > PI2


def test_dropped_hypothesis_monotonicity_is_not_needed_for_the_bound(record_deviation):
    """psi with sum |eps_k| = 1.5 is not monotone (alpha decreases somewhere: not a mask
    schedule); the reduced energy still equals pi^2 (1 + sum eps^2/2) >= pi^2."""
    gamma = Identity()
    alpha = mst.PerturbedOptimal(gamma, np.array([1.2, 0.0, 0.3]))
    t = jnp.linspace(0.0, 1.0, 2001)
    _, _, rate = alpha_and_rate(alpha, t)
    assert float(jnp.min(rate)) < 0  # alpha' < 0: the unmasking rate would be negative

    # Eq. 14 as 4 theta'^2 / gamma' with theta' by autodiff (signed: no logs, since
    # alpha is not a mask schedule the library's reduced energy need not accept it).
    def integrand(t, tc):
        return 4.0 * theta_and_rate(alpha, t, tc)[1] ** 2

    r = integrate01(integrand)
    closed = float(alpha.closed_form_energy())
    assert int(r.status) == STATUS_OK
    np.testing.assert_allclose(float(r.value), closed, rtol=RTOL, atol=0)
    record_deviation("Lem 3.5  (non-monotone) e vs closed form", abs(float(r.value) / closed - 1))
    assert closed >= PI2
