"""Example 3.3: "for n = 1 the kinetic, conditional kinetic and geodesic energies all equal e(alpha, gamma)".

Independent sides: the three energies by brute force over the d + 1 states of one token
(:mod:`mdm_ot.bruteforce`) against the reduced energy e (:mod:`mdm_ot.energies`, Eq. 14).

Hypotheses: none on q (for n = 1 the kinetic constant K(q) is 1 whatever the support,
since only the masked state has a masked position) nor on d. Dropped hypothesis n = 1:
at n = 2 the three constants are 2(d+1), 4 and 2, all different.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdm_ot import energies as E
from mdm_ot import bruteforce as P
from mdm_ot.quadrature import STATUS_OK
from mdm_ot.schedules import beta_schedule
from mdm_ot.testing import assert_same_energy
from mdm_ot.testing import strategies as mst

pytestmark = pytest.mark.paper

RTOL = 1e-10


@settings(max_examples=20)
@given(
    d=st.integers(2, 4),
    support=st.sampled_from(["full", "partial"]),
    alpha=mst.mask_schedules(),
    gamma=mst.interp_schedules(),
    data=st.data(),
)
def test_all_three_energies_equal_e_for_one_token(d, support, alpha, gamma, data, record_deviation):
    q = data.draw(mst.distributions(1, d, support))
    e = E.reduced_energy(alpha, gamma)
    for name, energy in [("E_k", P.kinetic_energy), ("E_c", P.conditional_kinetic_energy),
                         ("E_g", P.geodesic_energy)]:
        dev = assert_same_energy(energy(alpha, q, gamma), e, 1.0, rtol=RTOL)
        record_deviation(f"Ex 3.3   n=1 {name}(brute) vs e", dev)


@pytest.mark.parametrize("d", [2, 3])
def test_dropped_hypothesis_two_tokens_separates_the_energies(d, record_deviation):
    """n = 2: E_k : E_c : E_g = 2(d+1) : 4 : 2, no longer equal."""
    rng = np.random.default_rng(d)
    q = rng.uniform(0.1, 1.0, (d, d))
    q /= q.sum()
    alpha = beta_schedule(0.9, 1.4)
    e = E.reduced_energy(alpha)
    assert int(e.status) == STATUS_OK
    values = [P.kinetic_energy(alpha, q), P.conditional_kinetic_energy(alpha, q), P.geodesic_energy(alpha, q)]
    for r, const in zip(values, (2 * (d + 1), 4, 2), strict=True):
        record_deviation("Ex 3.3   (n=2) energies vs 2(d+1) e, 4 e, 2 e", assert_same_energy(r, e, const, rtol=RTOL))
    ek, ec, eg = (float(r.value) for r in values)
    assert ek > ec > eg
    np.testing.assert_allclose([ek / eg, ec / eg], [d + 1, 2.0], rtol=RTOL, atol=0)
