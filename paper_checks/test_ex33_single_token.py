"""Example 3.3: "for n = 1 the kinetic, conditional kinetic and geodesic energies all equal e(alpha, gamma)".

Independent sides: the three energies by brute force over the d + 1 states of one token
(:mod:`mdm_ot.bruteforce`) against the reduced energy e (:mod:`mdm_ot.energies`, Eq. 14).

Shared machinery: the brute-force energies go through the library's quadrature, so each
check also compares them with an energy computed without it (closed forms of MATH.md
section 3 via scipy, or scipy's QUADPACK on a numpy integrand:
strategies.SchedulePair.reference_energy).

Hypotheses: none on q (for n = 1 the kinetic constant K(q) is 1 whatever the support,
since only the masked state has a masked position) nor on d. Dropped hypothesis n = 1:
at n = 2 the three constants are 2(d+1), 4 and 2, all different.
"""

import math

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st

from mdm_ot import bruteforce as P
from mdm_ot import energies as E
from mdm_ot.quadrature import STATUS_OK
from mdm_ot.schedules import beta_schedule
from mdm_ot.testing import assert_same_energy
from mdm_ot.testing import strategies as mst

pytestmark = pytest.mark.paper

RTOL = 1e-10  # brute force vs library reduced energy (same quadrature rule)
# Brute force vs an energy computed without the library's quadrature (closed form or
# scipy's QUADPACK on a numpy integrand, ~1e-13): a bias of the quadrature is seen.
RTOL_INDEPENDENT = 1e-10

# Random (alpha, gamma) cases: 16 finite and 4 divergent draws (times the profile's factor);
# the tally asserts the share, so a strategy that drifts toward divergence fails.
FINITE_DRAWS, DIVERGENT_DRAWS = 16, 4
MIN_FINITE_FRACTION = 0.75


def _beta_closed_form(a, b):
    """e(sin^2(pi/2 I_t(a,b)), t) = pi^2 B(2a-1, 2b-1) / B(a,b)^2 (MATH.md section 3), by scipy."""
    return math.pi**2 * math.exp(scipy.special.betaln(2 * a - 1, 2 * b - 1) - 2 * scipy.special.betaln(a, b))


def test_all_three_energies_equal_e_for_one_token(record_deviation, case_tally):
    tally = case_tally("Ex 3.3   n=1, random (alpha, gamma)")

    def check(d, support, pair, data):
        alpha, gamma = pair.alpha, pair.gamma
        q = data.draw(mst.distributions(1, d, support))
        e = E.reduced_energy(alpha, gamma)
        e_ref = pair.reference_energy()  # without the library's quadrature; +inf if divergent
        tally.add("finite" if pair.finite else "divergent")
        for name, energy in [("E_k", P.kinetic_energy), ("E_c", P.conditional_kinetic_energy),
                             ("E_g", P.geodesic_energy)]:
            r = energy(alpha, q, gamma)
            assert (int(r.status) == STATUS_OK) == pair.finite, (pair, name, r)
            dev = assert_same_energy(r, e, 1.0, rtol=RTOL)
            record_deviation(f"Ex 3.3   n=1 {name}(brute) vs e", dev)
            if pair.finite:
                np.testing.assert_allclose(float(r.value), e_ref, rtol=RTOL_INDEPENDENT, atol=0)
                record_deviation(f"Ex 3.3   n=1 {name}(brute) vs e(scipy/closed form)",
                                 abs(float(r.value) / e_ref - 1))

    for finite, count in ((True, FINITE_DRAWS), (False, DIVERGENT_DRAWS)):
        run = given(d=st.integers(2, 4), support=st.sampled_from(["full", "partial"]),
                    pair=mst.schedule_pairs(finite=finite), data=st.data())(check)
        settings(max_examples=mst.examples(count))(run)()
    tally.require(MIN_FINITE_FRACTION, min_divergent=1)


@pytest.mark.parametrize("d", [2, 3])
def test_dropped_hypothesis_two_tokens_separates_the_energies(d, record_deviation):
    """n = 2: E_k : E_c : E_g = 2(d+1) : 4 : 2, no longer equal."""
    rng = np.random.default_rng(d)
    q = rng.uniform(0.1, 1.0, (d, d))
    q /= q.sum()
    alpha = beta_schedule(0.9, 1.4)
    e = E.reduced_energy(alpha)
    assert int(e.status) == STATUS_OK
    closed = _beta_closed_form(0.9, 1.4)  # not through the quadrature
    values = [P.kinetic_energy(alpha, q), P.conditional_kinetic_energy(alpha, q), P.geodesic_energy(alpha, q)]
    for r, const in zip(values, (2 * (d + 1), 4, 2), strict=True):
        record_deviation("Ex 3.3   (n=2) energies vs 2(d+1) e, 4 e, 2 e", assert_same_energy(r, e, const, rtol=RTOL))
        np.testing.assert_allclose(float(r.value), const * closed, rtol=RTOL_INDEPENDENT, atol=0)
    ek, ec, eg = (float(r.value) for r in values)
    assert ek > ec > eg
    np.testing.assert_allclose([ek / eg, ec / eg], [d + 1, 2.0], rtol=RTOL, atol=0)
