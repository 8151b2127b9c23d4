"""Theorem 3.1: "E_k = C_1 E_c, where C_1 depends only on (n, d)" (kinetic vs conditional kinetic energy).

Independent sides: both energies summed by brute force over the (d+1)^n states
(:mod:`mdm_ot.bruteforce`, Definitions 2.1-2.2) against the reduced energy e(alpha, gamma)
(:mod:`mdm_ot.energies`, Eq. 14) times the constants of MATH.md section 3:
E_k = K(q) e with K(q) = n (d+1)^(n-1) for full support, E_c = n 2^(n-1) e, hence
C_1 = ((d+1)/2)^(n-1).

Dropped hypothesis (full support of q): the constant K(q) counts the states whose
unmasked tokens have positive probability, so C_1 depends on q exactly when a *proper*
marginal of q vanishes (a token missing at a position). A zero entry of q alone (n >= 2)
changes nothing: full support is sufficient, not necessary.
"""

import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mdm_ot import energies as E
from mdm_ot import bruteforce as P
from mdm_ot.quadrature import STATUS_OK
from mdm_ot.schedules import Sine2, beta_schedule
from mdm_ot.testing import assert_same_energy
from mdm_ot.testing import strategies as mst

pytestmark = pytest.mark.paper

RTOL = 1e-10  # same quadrature rule on both sides; integrands agree to ~1e-15 pointwise


def _c1(n, d):
    return ((d + 1) / 2) ** (n - 1)


@settings(max_examples=20)
@given(problem=mst.problems("full"), alpha=mst.mask_schedules(), gamma=mst.interp_schedules())
def test_kinetic_is_c1_times_conditional_for_full_support(problem, alpha, gamma, record_deviation):
    n, d, q = problem
    e = E.reduced_energy(alpha, gamma)
    const = E.energy_constants(n, d)
    ek = P.kinetic_energy(alpha, q, gamma)
    ec = P.conditional_kinetic_energy(alpha, q, gamma)
    record_deviation("Thm 3.1  E_k(brute) vs n(d+1)^(n-1) e", assert_same_energy(ek, e, const.kinetic, rtol=RTOL))
    record_deviation("Thm 3.1  E_c(brute) vs n 2^(n-1) e", assert_same_energy(ec, e, const.conditional, rtol=RTOL))
    if int(ek.status) == STATUS_OK:
        ratio = float(ek.value) / float(ec.value)
        np.testing.assert_allclose(ratio, _c1(n, d), rtol=RTOL, atol=0)
        record_deviation("Thm 3.1  E_k/E_c vs ((d+1)/2)^(n-1)", abs(ratio / _c1(n, d) - 1))


@settings(max_examples=10)
@given(
    problem=mst.problems("full"),
    ab=mst.beta_params(finite=True),
    data=st.data(),
)
def test_c1_does_not_depend_on_q(problem, ab, data, record_deviation):
    """Two different full-support q of the same size: the same ratio E_k/E_c."""
    n, d, q1 = problem
    q2 = data.draw(mst.distributions(n, d, "full"))
    alpha = beta_schedule(*ab)
    r1 = float(P.kinetic_energy(alpha, q1).value) / float(P.conditional_kinetic_energy(alpha, q1).value)
    r2 = float(P.kinetic_energy(alpha, q2).value) / float(P.conditional_kinetic_energy(alpha, q2).value)
    np.testing.assert_allclose(r1, r2, rtol=RTOL, atol=0)
    record_deviation("Thm 3.1  E_k/E_c same for two full-support q", abs(r1 / r2 - 1))


def _enumerated_k(q, d):
    """K(q) = sum of m(z) over states z with q(z_UM) > 0, by loops (independent of
    mdm_ot.energies.kinetic_constant)."""
    n = q.ndim
    total = 0
    for z in itertools.product(range(d + 1), repeat=n):
        mass = sum(q[x] for x in itertools.product(range(d), repeat=n)
                   if all(zi in (xi, d) for zi, xi in zip(z, x, strict=True)))
        total += sum(zi == d for zi in z) if mass > 0 else 0
    return total


@settings(max_examples=10)
@given(problem=mst.problems("missing_token", max_n=3), ab=mst.beta_params(finite=True))
def test_dropped_hypothesis_vanishing_marginal_makes_c1_depend_on_q(problem, ab, record_deviation):
    """Without full support the ratio is K(q) / (n 2^(n-1)) < C_1: it depends on q."""
    n, d, q = problem
    assume(n >= 2)  # for n = 1, K(q) = 1 whatever q is (Example 3.3)
    alpha = beta_schedule(*ab)
    e = E.reduced_energy(alpha)
    kq = _enumerated_k(q, d)
    assert kq < n * (d + 1) ** (n - 1)
    assert E.kinetic_constant(q, n, d) == kq
    ek = P.kinetic_energy(alpha, q)
    ec = P.conditional_kinetic_energy(alpha, q)
    record_deviation("Thm 3.1  (partial q) E_k(brute) vs K(q) e", assert_same_energy(ek, e, kq, rtol=RTOL))
    ratio = float(ek.value) / float(ec.value)
    np.testing.assert_allclose(ratio, kq / (n * 2 ** (n - 1)), rtol=RTOL, atol=0)
    # The deviation from the full-support constant is at least one state's worth.
    assert _c1(n, d) - ratio >= 1 / (n * 2 ** (n - 1)) - 1e-12


@pytest.mark.parametrize("n,d", [(2, 2), (2, 3), (3, 2)])
def test_a_zero_entry_alone_keeps_c1(n, d, record_deviation):
    """Full support is more than Theorem 3.1 needs: one zero entry of q (all proper
    marginals still positive) leaves K(q) = n (d+1)^(n-1)."""
    rng = np.random.default_rng(n * 10 + d)
    q = rng.uniform(0.1, 1.0, (d,) * n)
    q[(0,) * n] = 0.0
    q /= q.sum()
    assert _enumerated_k(q, d) == n * (d + 1) ** (n - 1)
    ek = float(P.kinetic_energy(Sine2(), q).value)
    ec = float(P.conditional_kinetic_energy(Sine2(), q).value)
    np.testing.assert_allclose(ek / ec, _c1(n, d), rtol=RTOL, atol=0)
    np.testing.assert_allclose(ek, n * (d + 1) ** (n - 1) * math.pi**2, rtol=RTOL, atol=0)
    record_deviation("Thm 3.1  one zero entry: E_k/E_c vs C_1", abs(ek / ec / _c1(n, d) - 1))
