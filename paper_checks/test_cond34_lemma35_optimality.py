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
needed for alpha to be a mask schedule (alpha' < 0 means negative unmasking rates);
(iii) alpha(0) = 0 -- with alpha(0) = eps the bound becomes 4 (pi/2 - arcsin sqrt eps)^2 < pi^2
(our restatement, by the same Cauchy-Schwarz step with theta starting at arcsin sqrt eps):
the reduced energy of theta rising linearly in gamma from arcsin sqrt eps to pi/2 equals
it, and shifted schedules eps + (1 - eps) base(t) lie between it and (1 - eps) e(base).
"""

import dataclasses
import math

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sps
from hypothesis import given, settings
from hypothesis import strategies as st

from mdm_ot import bruteforce as P
from mdm_ot import energies as E
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
    InterpSchedule,
    Linear,
    MaskSchedule,
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


def test_admissible_perturbations_never_lower_the_energy(record_deviation, case_tally):
    tally = case_tally("Lem 3.5  perturbed optimal, random gamma")

    @settings(max_examples=mst.examples(20))
    @given(gamma=mst.interp_schedules(), data=st.data())
    def check(gamma, data):
        alpha = data.draw(mst.perturbed_optimal(gamma))
        # The closed form, computed here from the drawn eps_k (not through the strategy's method).
        closed = PI2 * (1.0 + 0.5 * float(np.sum(np.asarray(alpha.eps) ** 2)))
        r = E.reduced_energy(alpha, gamma)
        assert int(r.status) == STATUS_OK
        tally.add("finite")
        np.testing.assert_allclose(float(r.value), closed, rtol=RTOL, atol=0)
        assert float(r.value) > E.minimum_reduced_energy()  # strictly above: some eps_k != 0
        record_deviation("Lem 3.5  e(perturbed) vs pi^2(1+sum eps^2/2)", abs(float(r.value) / closed - 1))
        # The brute-force geodesic energy of one token is e itself (Example 3.3).
        g = P.geodesic_energy(alpha, np.array([0.5, 0.5]), gamma)
        assert int(g.status) == STATUS_OK
        np.testing.assert_allclose(float(g.value), closed, rtol=RTOL, atol=0)
        record_deviation("Lem 3.5  E_g(brute, n=1, perturbed) vs closed form", abs(float(g.value) / closed - 1))

    check()
    tally.require(1.0)  # every admissible perturbation has a finite energy


def test_the_minimum_is_the_constant_times_pi_squared(record_deviation, case_tally):
    tally = case_tally("Lem 3.5  alpha* (random gamma, q): brute energies")

    @settings(max_examples=mst.examples(12))
    @given(problem=mst.problems("full"), gamma=mst.interp_schedules())
    def check(problem, gamma):
        n, d, q = problem
        alpha = Optimal(gamma)
        # Written out (MATH.md section 3), not E.energy_constants: full support.
        consts = [("E_k", P.kinetic_energy, n * (d + 1) ** (n - 1)),
                  ("E_c", P.conditional_kinetic_energy, n * 2 ** (n - 1)),
                  ("E_g", P.geodesic_energy, n)]
        for name, energy, c in consts:
            r = energy(alpha, q, gamma)
            assert int(r.status) == STATUS_OK
            np.testing.assert_allclose(float(r.value), c * PI2, rtol=RTOL, atol=0)
            record_deviation(f"Lem 3.5  min {name}(brute) vs const pi^2", abs(float(r.value) / (c * PI2) - 1))
        tally.add("finite")

    check()
    tally.require(1.0)  # alpha* attains c pi^2 for every gamma


def _beta_closed_form(a, b):
    return PI2 * sps.beta(2 * a - 1, 2 * b - 1) / sps.beta(a, b) ** 2


def test_beta_family_closed_form_and_its_divergence(record_deviation, case_tally):
    tally = case_tally("Lem 3.5  Beta(a, b), gamma = t")

    @settings(max_examples=mst.examples(20))
    @given(ab=st.sampled_from([True, False, True]).flatmap(lambda f: mst.beta_params(finite=f)))  # 2:1 finite
    def check(ab):
        a, b = (float(v) for v in ab)
        alpha = beta_schedule(*ab)
        r = E.reduced_energy(alpha)
        g = P.geodesic_energy(alpha, np.array([0.3, 0.7]))
        if a > 0.5 and b > 0.5:
            tally.add("finite")
            want = _beta_closed_form(a, b)
            for res, name in [(r, "e(reduced)"), (g, "E_g(brute, n=1)")]:
                assert int(res.status) == STATUS_OK
                np.testing.assert_allclose(float(res.value), want, rtol=RTOL, atol=0)
                record_deviation(f"Lem 3.5  Beta {name} vs pi^2 B(2a-1,2b-1)/B(a,b)^2",
                                 abs(float(res.value) / want - 1))
        else:
            tally.add("divergent")
            end = STATUS_DIVERGENT_AT_0 if a <= 0.5 else STATUS_DIVERGENT_AT_1
            for res in (r, g):
                assert float(res.value) == math.inf and int(res.status) == end

    check()
    tally.require(0.5, min_divergent=2)


def test_optimal_is_pi_squared_for_named_gammas(record_deviation):
    np.testing.assert_allclose(E.minimum_reduced_energy(), PI2, rtol=1e-15, atol=0)
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
    closed = PI2 * (1.0 + 0.5 * (1.2**2 + 0.3**2))  # pi^2 (1 + sum eps^2 / 2), written out
    assert int(r.status) == STATUS_OK
    np.testing.assert_allclose(float(r.value), closed, rtol=RTOL, atol=0)
    record_deviation("Lem 3.5  (non-monotone) e vs closed form", abs(float(r.value) / closed - 1))
    assert float(r.value) >= PI2  # the bound holds without monotonicity


# --------------------------------------------------------------------------------------
# Dropped hypothesis alpha(0) = 0: schedules that start at alpha(0) = eps
# --------------------------------------------------------------------------------------


def _eps_bound(eps):
    """4 (pi/2 - arcsin sqrt eps)^2 (paper_checks/README.md; our restatement): Cauchy-Schwarz
    with theta running from arcsin sqrt eps to pi/2 instead of from 0."""
    return 4.0 * (0.5 * math.pi - math.asin(math.sqrt(eps))) ** 2


@dataclasses.dataclass(frozen=True, eq=False)
class _ShiftedStart(MaskSchedule):
    """Test-only schedule alpha = eps + (1 - eps) base(t): starts at eps, ends at 1.

    theta = atan2(sqrt(alpha), sqrt(1 - alpha)) with sqrt(1 - alpha) from the base's log
    form, so 1 - alpha underflowing near t = 1 does not turn theta' into NaN."""

    base: MaskSchedule
    eps: float

    def pair(self, t, tc=None):
        al, om = self.base.pair(t, tc)
        return self.eps + (1.0 - self.eps) * al, (1.0 - self.eps) * om

    def theta(self, t, tc=None):
        la, l1a = self.base.log_pair(t, tc)
        return jnp.arctan2(jnp.sqrt(self.eps + (1.0 - self.eps) * jnp.exp(la)),
                           jnp.exp(0.5 * (math.log1p(-self.eps) + l1a)))

    def inverse(self, alpha):
        return self.base.inverse((jnp.asarray(alpha) - self.eps) / (1.0 - self.eps))

    @property
    def spec(self) -> str:
        return f"shifted:{self.eps:g}:{self.base.spec}"


@dataclasses.dataclass(frozen=True, eq=False)
class _OptimalFromEps(MaskSchedule):
    """Test-only equality case: theta = theta0 + (pi/2 - theta0) gamma(t), theta0 = arcsin sqrt eps
    (theta rises linearly in gamma from its start to pi/2)."""

    gamma: InterpSchedule
    eps: float

    @property
    def _theta0(self):
        return math.asin(math.sqrt(self.eps))

    def theta(self, t, tc=None):
        return self._theta0 + (0.5 * math.pi - self._theta0) * self.gamma.pair(t, tc)[0]

    def pair(self, t, tc=None):
        g, gc = self.gamma.pair(t, tc)
        return jnp.sin(self._theta0 + (0.5 * math.pi - self._theta0) * g) ** 2, \
            jnp.sin((0.5 * math.pi - self._theta0) * gc) ** 2

    def inverse(self, alpha):
        theta = jnp.arcsin(jnp.sqrt(jnp.asarray(alpha)))
        return self.gamma.inverse((theta - self._theta0) / (0.5 * math.pi - self._theta0))

    @property
    def spec(self) -> str:
        return f"optimal-from:{self.eps:g}:{self.gamma.spec}"


_EPS = st.one_of(st.sampled_from([1e-6, 1e-3, 0.1, 0.5]), st.floats(1e-4, 0.9))


def test_dropped_hypothesis_alpha_of_zero_optimum_from_eps(record_deviation, case_tally):
    """With alpha(0) = eps the minimum over schedules is 4 (pi/2 - arcsin sqrt eps)^2 < pi^2
    (our restatement, paper_checks/README.md), attained by theta linear in gamma from
    arcsin sqrt eps to pi/2; the pi^2 of Lemma 3.5 needs alpha(0) = 0."""
    tally = case_tally("Lem 3.5  (alpha(0)=eps) optimum, random gamma")

    @settings(max_examples=mst.examples(15))
    @given(gamma=mst.interp_schedules(), eps=_EPS)
    def check(gamma, eps):
        alpha = _OptimalFromEps(gamma, float(eps))
        np.testing.assert_allclose(float(alpha(np.float64(0.0))), eps, rtol=1e-12, atol=0)
        bound = _eps_bound(eps)
        r = E.reduced_energy(alpha, gamma)
        assert int(r.status) == STATUS_OK
        tally.add("finite")
        np.testing.assert_allclose(float(r.value), bound, rtol=RTOL, atol=0)
        assert float(r.value) < PI2 * (1 - 1e-7)  # below the alpha(0) = 0 minimum
        record_deviation("Lem 3.5  (alpha(0)=eps) e(theta linear in gamma) vs 4(pi/2-asin sqrt eps)^2",
                         abs(float(r.value) / bound - 1))

    check()
    tally.require(1.0)


def test_dropped_hypothesis_alpha_of_zero_shifted_schedules_obey_the_eps_bound(record_deviation, case_tally):
    """alpha = eps + (1 - eps) base(t) starts at eps: 4 (pi/2 - arcsin sqrt eps)^2 <= e(alpha, gamma)
    <= (1 - eps) e(base, gamma) (both ours: the lower bound is Cauchy-Schwarz from theta(0) =
    arcsin sqrt eps; the upper one holds pointwise since alpha >= max(eps, base) and
    1 - alpha = (1 - eps)(1 - base)). Base: an admissible perturbation of the optimal schedule
    (closed-form e, finite), or the linear schedule with gamma = t, whose divergence at t = 0
    the shift removes while the one at t = 1 stays."""
    tally = case_tally("Lem 3.5  (alpha(0)=eps) shifted schedules")

    @settings(max_examples=mst.examples(20))
    @given(gamma=mst.interp_schedules(), eps=_EPS, data=st.data())
    def check(gamma, eps, data):
        bound = _eps_bound(eps)
        base = data.draw(mst.perturbed_optimal(gamma))
        base_energy = PI2 * (1.0 + 0.5 * float(np.sum(np.asarray(base.eps) ** 2)))
        alpha = _ShiftedStart(base, float(eps))
        r = E.reduced_energy(alpha, gamma)
        value = float(r.value)
        assert int(r.status) == STATUS_OK
        tally.add("finite")
        assert value >= bound * (1 - 1e-12)
        assert value <= (1 - eps) * base_energy * (1 + 1e-12)
        record_deviation("Lem 3.5  (alpha(0)=eps) shifted: bound / e (<= 1)", bound / value)

    check()
    for eps in (1e-6, 0.1, 0.9):
        r = E.reduced_energy(_ShiftedStart(Linear(), eps))
        assert float(r.value) == math.inf and int(r.status) == STATUS_DIVERGENT_AT_1
        tally.add("divergent")
    tally.require(0.8, min_divergent=3)
