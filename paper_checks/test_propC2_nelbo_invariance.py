"""Proposition C.2: "the continuous-time NELBO is unchanged by any reparameterization of alpha; with the exact denoiser it equals H(q) for every schedule".

Independent sides: the NELBO by brute force (:func:`mdm_ot.bruteforce.nelbo`: expectation over
x ~ q and the mask patterns z ~ p_t(. | x) summed exactly, integrated over t) against the
entropy -sum q log q computed with numpy; and, pointwise, the integrand of a schedule
divided by alpha' against the integrand of the linear schedule at u = alpha(t) (the
substitution u = alpha(t) of the proof).

Hypotheses, measured:
* exactness of the denoiser is needed only for "= H(q)": any time-independent denoiser
  gives a schedule-independent NELBO (here the uniform one, n log d, and a perturbed
  exact one, > H(q));
* time independence of the denoiser is needed for invariance: a denoiser that depends on
  t gives different NELBOs under different schedules;
* the boundary conditions alpha(0) = 0, alpha(1) = 1 are needed: the log-linear schedule
  (alpha(0) = eps) misses the part u in [0, eps] and its NELBO is below H(q).
"""

import math

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from mdm_ot import bruteforce as P
from mdm_ot.quadrature import STATUS_OK, integrate01, num_nodes
from mdm_ot.schedules import Cosine, Linear, LogLinear, Poly, Sine2, alpha_and_rate, beta_schedule
from mdm_ot.testing import strategies as mst

pytestmark = pytest.mark.paper

RTOL = 1e-10
SCHEDULES = ("linear", "sin", "sin2", "poly", "cosine", "beta", "optimal")  # alpha(0)=0, alpha(1)=1


def _entropy(q):
    q = np.asarray(q).reshape(-1)
    q = q[q > 0]
    return float(-np.sum(q * np.log(q)))


def test_nelbo_with_the_exact_denoiser_is_the_entropy(record_deviation, case_tally):
    tally = case_tally("Prop C.2 NELBO(exact denoiser), random alpha and q")

    @settings(max_examples=mst.examples(15))
    @given(
        support=st.sampled_from(["full", "partial"]),
        sizes=mst.sizes(),
        alpha=mst.mask_schedules(SCHEDULES, finite=None),
        data=st.data(),
    )
    def check(support, sizes, alpha, data):
        n, d = sizes
        q = data.draw(mst.distributions(n, d, support))
        r = P.nelbo(alpha, q)
        h = _entropy(q)
        assert int(r.status) == STATUS_OK  # finite for every schedule, even where the energy diverges
        tally.add("finite")
        np.testing.assert_allclose(float(r.value), h, rtol=RTOL, atol=1e-13)
        record_deviation("Prop C.2 NELBO(exact denoiser) vs H(q)", abs(float(r.value) - h) / max(h, 1e-300))

    check()
    tally.require(1.0)


def _at(f, t, tc):
    """f at one point, evaluated on an array of the quadrature's node count (the shape the
    integrals already compiled for, so nothing recompiles)."""
    size = num_nodes()
    return float(f(jnp.full(size, float(t)), jnp.full(size, float(tc)))[0])


@settings(max_examples=mst.examples(10))
@given(alpha=mst.mask_schedules(("sin", "sin2", "poly", "beta", "cosine")), tt=mst.times(extreme=False))
def test_integrand_is_the_linear_one_after_substituting_u_equals_alpha(alpha, tt, record_deviation):
    """f_alpha(t) / alpha'(t) = f_linear(alpha(t)): the proof's change of variables."""
    q = np.array([[0.1, 0.25], [0.4, 0.25]])
    t, tc = tt
    al, om, dal = (float(v) for v in alpha_and_rate(alpha, t, tc))
    lhs = _at(P.nelbo_integrand(alpha, q), t, tc) / dal
    rhs = _at(P.nelbo_integrand(Linear(), q), al, om)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-11, atol=0)
    record_deviation("Prop C.2 integrand/alpha' vs linear integrand at u = alpha(t)", abs(lhs / rhs - 1))


def _perturbed_exact(q, scale):
    """A time-independent, inexact denoiser: exact logits plus a fixed perturbation."""
    exact = np.asarray(P.exact_denoiser(q))
    rng = np.random.default_rng(0)
    logits = np.log(exact + 0.05) + scale * rng.normal(size=exact.shape)  # smoothed: no log 0
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return probs / probs.sum(axis=-1, keepdims=True)


def test_inexact_time_independent_denoisers_are_still_schedule_invariant(record_deviation):
    n, d = 2, 3
    rng = np.random.default_rng(1)
    q = rng.uniform(0.1, 1.0, (d,) * n)
    q /= q.sum()
    schedules = [Sine2(), Linear(), Poly(np.float64(2.5)), Cosine(), beta_schedule(0.7, 1.9)]
    uniform = np.full(((d + 1) ** n, n, d), 1.0 / d)
    perturbed = _perturbed_exact(q, 0.5)
    for denoiser, want in [(uniform, n * math.log(d)), (perturbed, None)]:
        values = np.array([float(P.nelbo(a, q, denoiser).value) for a in schedules])
        want = values[0] if want is None else want
        np.testing.assert_allclose(values, want, rtol=RTOL, atol=0)
        assert np.all(values > _entropy(q) + 1e-3)
        record_deviation("Prop C.2 (inexact, time-independent) spread over schedules",
                         float(np.ptp(values) / values[0]))


def _time_dependent(t, tc):
    """p(x_i = v | z) proportional to exp((v + 1) t): depends on t, not on z."""
    del tc
    n_states, n, d = 9, 2, 2
    logits = (jnp.arange(d) + 1.0) * t
    probs = jnp.exp(logits - jnp.max(logits))
    return jnp.broadcast_to(probs / jnp.sum(probs), (n_states, n, d))


def test_dropped_hypothesis_time_dependent_denoiser_breaks_invariance(record_deviation):
    """The denoiser ignores z, so the expected masked count (1 - alpha) n cancels the rate's
    1/(1 - alpha): NELBO = int_0^1 alpha'(t) g(t) dt, g(t) = sum_i E_q[-log p_t(x_i)] =
    0.7 log(1 + e^t) + 1.3 log(1 + e^-t) (marginals P(x_i = 0): 0.3 and 0.4), by scipy's quad."""
    q = np.array([[0.1, 0.2], [0.3, 0.4]])
    values = np.array([float(P.nelbo(a, q, _time_dependent).value)
                       for a in (Sine2(), Linear(), Poly(np.float64(3.0)))])

    def g(t):
        return 0.7 * math.log1p(math.exp(t)) + 1.3 * math.log1p(math.exp(-t))

    rates = (lambda t: 0.5 * math.pi * math.sin(math.pi * t), lambda t: 1.0, lambda t: 3.0 * t**2)
    want = np.array([integrate.quad(lambda t, r=r: r(t) * g(t), 0.0, 1.0, epsabs=0, epsrel=1e-13)[0] for r in rates])
    np.testing.assert_allclose(values, want, rtol=1e-10, atol=0)
    record_deviation("Prop C.2 (time-dependent denoiser) NELBO vs int alpha' g (scipy quad)",
                     float(np.max(np.abs(values / want - 1))))
    assert np.ptp(values) > 1e-3 * values.mean()
    record_deviation("Prop C.2 (time-dependent denoiser) relative spread over schedules (> 1e-3)",
                     float(np.ptp(values) / values.mean()))


@pytest.mark.parametrize("eps", [1e-3, 0.1])
def test_dropped_hypothesis_alpha_of_zero_must_be_zero(eps, record_deviation):
    """Log-linear: NELBO = H(q) - int_0^eps f_linear(u) du (the substitution u = alpha(t)
    covers only [eps, 1])."""
    q = np.array([[0.1, 0.2], [0.3, 0.4]])
    h = _entropy(q)
    got = float(P.nelbo(LogLinear(np.float64(eps)), q).value)
    f_lin = P.nelbo_integrand(Linear(), q)
    missing = integrate01(lambda s, sc: eps * f_lin(eps * s, 1.0 - eps * s))
    assert int(missing.status) == STATUS_OK
    np.testing.assert_allclose(got, h - float(missing.value), rtol=RTOL, atol=1e-13)
    assert got < h
    record_deviation("Prop C.2 (alpha(0)=eps) NELBO vs H(q) - missing part", abs(got / (h - float(missing.value)) - 1))
