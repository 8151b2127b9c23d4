"""Theorem 3.6: "among all rates that generate the same path p_t, the MDM rate has the least kinetic energy" (as MATH.md states it).

Independent sides: at fixed t, the least kinetic energy min sum_e j_e^2 / (p(z) p(x))
over fluxes j on a graph subject to the continuity equation B j = dp/dt is a weighted
least-squares (KKT) problem solved with numpy (j = W B^T lambda, B W B^T lambda = dp/dt,
dp/dt by autodiff of the path); the MDM flux j = p_t(z) Q_t(z, x) comes from
:func:`mdm_ot.bruteforce.marginal_rate`. Two graphs: (a) the allowed unmasking transitions,
(b) all pairs of states.

What holds (measured here):
* n = 1: the MDM flux is the least-energy flux on both graphs.
* Graph (a) when the path is uniform within each mask level: uniform q, and every
  conditional path p_t(. | x1): the MDM flux is least-energy.
* Graph (a), general q (n >= 2): NOT least-energy. A nonnegative flux on the unmasking
  transitions with strictly lower energy generates the same path (constructed below).
* Graph (b), n >= 2: NOT least-energy. The least energy is the Fisher information
  sum_z (dp/dt)^2 / p = n alpha'^2/(alpha(1-alpha)) -- the geodesic energy's integrand --
  while the MDM flux has K(q) alpha'^2/(alpha(1-alpha)).
So the statement needs a hypothesis MATH.md does not state (n = 1, or a level-uniform
path on the unmasking graph); see paper_checks/README.md.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdm_ot import energies as E
from mdm_ot import bruteforce as P
from mdm_ot.schedules import beta_schedule
from mdm_ot.testing import strategies as mst

pytestmark = pytest.mark.paper

TIMES = (0.2, 0.5, 0.8)
ALPHA = beta_schedule(0.8, 1.4)


def _incidence(num_states, src, dst):
    b = np.zeros((num_states, len(src)))
    b[dst, np.arange(len(src))] += 1.0  # flux along an edge brings mass into dst ...
    b[src, np.arange(len(src))] -= 1.0  # ... and takes it from src
    return b


def _least_energy_flux(p, pdot, src, dst):
    """argmin sum j^2 / w subject to B j = pdot, w = p(src) p(dst): j = W B^T lambda with
    (B W B^T) lambda = pdot (a graph Laplacian; least-squares for its null space)."""
    w = p[src] * p[dst]
    b = _incidence(len(p), src, dst)
    lam = np.linalg.lstsq(b @ (w[:, None] * b.T), pdot, rcond=None)[0]
    j = w * (b.T @ lam)
    np.testing.assert_allclose(b @ j, pdot, rtol=0, atol=1e-12 * np.abs(pdot).max())
    return j


def _energy(j, p, src, dst):
    return float(np.sum(j**2 / (p[src] * p[dst])))


def _path_and_derivative(q, t):
    p = np.asarray(P.marginal_path(ALPHA, q, t))
    tt = jnp.asarray(t)
    pdot = jax.jvp(lambda u, uc: P.marginal_path(ALPHA, q, u, uc), (tt, 1.0 - tt),
                   (jnp.ones_like(tt), -jnp.ones_like(tt)))[1]
    return p, np.asarray(pdot)


def _mdm_flux(q, t, sp, p):
    rate = np.asarray(P.marginal_rate(ALPHA, q, t))
    return p[sp.src] * rate[sp.src, sp.dst]


def _e_integrand(t):
    """alpha'^2 / (alpha (1 - alpha)) from the reduced integrand (gamma = t)."""
    return float(E.reduced_integrand(ALPHA)(jnp.asarray(t), jnp.asarray(1.0 - t)))


def _all_pairs(num_states):
    src, dst = np.triu_indices(num_states, 1)
    return src, dst


def _kinetic_constant(q, d):
    n = q.ndim
    states = itertools.product(range(d + 1), repeat=n)
    total = 0
    for z in states:
        mass = sum(q[x] for x in itertools.product(range(d), repeat=n)
                   if all(zi in (xi, d) for zi, xi in zip(z, x, strict=True)))
        total += sum(zi == d for zi in z) if mass > 0 else 0
    return total


@pytest.mark.parametrize("d", [2, 3])
def test_one_token_mdm_rate_is_least_energy_on_both_graphs(d, record_deviation):
    q = np.arange(1.0, d + 1) / np.arange(1.0, d + 1).sum()
    sp = P.state_space(1, d)
    for t in TIMES:
        p, pdot = _path_and_derivative(q, t)
        jm = _mdm_flux(q, t, sp, p)
        em = _energy(jm, p, sp.src, sp.dst)
        ea = _energy(_least_energy_flux(p, pdot, sp.src, sp.dst), p, sp.src, sp.dst)
        src, dst = _all_pairs(len(p))
        eb = _energy(_least_energy_flux(p, pdot, src, dst), p, src, dst)
        np.testing.assert_allclose([ea, eb], [em, em], rtol=1e-10, atol=0)
        record_deviation("Thm 3.6  n=1: MDM vs least energy (both graphs)", max(abs(ea / em - 1), abs(eb / em - 1)))


@pytest.mark.parametrize("n,d", [(2, 2), (2, 3), (3, 2)])
def test_allowed_graph_uniform_q_mdm_is_least_energy(n, d, record_deviation):
    q = np.full((d,) * n, 1.0 / d**n)
    sp = P.state_space(n, d)
    for t in TIMES:
        p, pdot = _path_and_derivative(q, t)
        jm = _mdm_flux(q, t, sp, p)
        np.testing.assert_allclose(_incidence(len(p), sp.src, sp.dst) @ jm, pdot, rtol=0,
                                   atol=1e-12 * np.abs(pdot).max())
        em = _energy(jm, p, sp.src, sp.dst)
        j_opt = _least_energy_flux(p, pdot, sp.src, sp.dst)
        np.testing.assert_allclose(_energy(j_opt, p, sp.src, sp.dst), em, rtol=1e-10, atol=0)
        np.testing.assert_allclose(j_opt, jm, rtol=1e-8, atol=1e-12 * np.abs(jm).max())
        record_deviation("Thm 3.6  (a) uniform q: MDM vs least energy", abs(_energy(j_opt, p, sp.src, sp.dst) / em - 1))


@pytest.mark.parametrize("n,d", [(2, 2), (3, 2)])
def test_allowed_graph_conditional_paths_mdm_is_least_energy(n, d, record_deviation):
    """Each conditional path p_t(. | x1) on the states compatible with x1."""
    sp = P.state_space(n, d)
    for t in TIMES:
        cond = np.asarray(P.conditional_path(ALPHA, t, n=n, d=d))
        tt = jnp.asarray(t)
        cdot = np.asarray(jax.jvp(lambda u, uc: P.conditional_path(ALPHA, u, uc, n=n, d=d), (tt, 1.0 - tt),
                                  (jnp.ones_like(tt), -jnp.ones_like(tt)))[1])
        rates = np.asarray(P.conditional_rate(ALPHA, t, n=n, d=d))
        for x in range(0, d**n, max(1, d**n // 3)):
            keep = sp.cond_edge[x]
            src, dst = sp.src[keep], sp.dst[keep]
            live = np.flatnonzero(cond[:, x] > 0)
            index = -np.ones(len(cond), int)
            index[live] = np.arange(len(live))
            p, pdot = cond[live, x], cdot[live, x]
            jm = cond[src, x] * rates[x][src, dst]
            em = _energy(jm, p, index[src], index[dst])
            ea = _energy(_least_energy_flux(p, pdot, index[src], index[dst]), p, index[src], index[dst])
            np.testing.assert_allclose(ea, em, rtol=1e-10, atol=0)
            record_deviation("Thm 3.6  (a) conditional paths: MDM vs least energy", abs(ea / em - 1))


@settings(max_examples=6)
@given(nd=st.sampled_from([(2, 2), (2, 3), (3, 2)]), data=st.data())
def test_allowed_graph_general_q_mdm_is_not_least_energy(nd, data, record_deviation):
    """A nonnegative flux on the unmasking transitions with lower energy exists: the
    segment from the MDM flux (all entries > 0) towards the least-squares optimum stays
    nonnegative for a while and the energy, convex along it, decreases."""
    n, d = nd
    q = data.draw(mst.distributions(n, d, "full"))
    sp = P.state_space(n, d)
    b = _incidence(len(sp.states), sp.src, sp.dst)
    t = 0.5
    p, pdot = _path_and_derivative(q, t)
    jm = _mdm_flux(q, t, sp, p)
    em = _energy(jm, p, sp.src, sp.dst)
    j_opt = _least_energy_flux(p, pdot, sp.src, sp.dst)
    ea = _energy(j_opt, p, sp.src, sp.dst)
    assert ea <= em * (1 + 1e-12)
    if np.allclose(j_opt, jm, rtol=1e-9, atol=0):  # happens only for level-uniform q
        return
    assert ea < em * (1 - 1e-9)
    neg = j_opt < 0
    s = 1.0 if not neg.any() else min(1.0, 0.5 * float(np.min(jm[neg] / (jm[neg] - j_opt[neg]))))
    j_s = (1 - s) * jm + s * j_opt
    assert np.all(j_s >= 0)
    np.testing.assert_allclose(b @ j_s, pdot, rtol=0, atol=1e-12 * np.abs(pdot).max())
    assert _energy(j_s, p, sp.src, sp.dst) < em
    record_deviation("Thm 3.6  (a) general q: least/MDM energy, max (< 1 refutes)", ea / em)
    record_deviation("Thm 3.6  (a) general q: 1 - least/MDM energy, max saving", 1 - ea / em)


@settings(max_examples=6)
@given(nd=st.sampled_from([(1, 2), (2, 2), (2, 3), (3, 2)]), data=st.data())
def test_full_graph_least_energy_is_the_fisher_information(nd, data, record_deviation):
    """min over all pairs = sum (dp/dt)^2/p = n alpha'^2/(alpha(1-alpha)); the MDM flux
    has K(q) alpha'^2/(alpha(1-alpha)), K(q) = n (d+1)^(n-1) > n for n >= 2."""
    n, d = nd
    q = data.draw(mst.distributions(n, d, "full"))
    sp = P.state_space(n, d)
    src, dst = _all_pairs(len(sp.states))
    for t in TIMES:
        p, pdot = _path_and_derivative(q, t)
        eb = _energy(_least_energy_flux(p, pdot, src, dst), p, src, dst)
        fisher = float(np.sum(pdot**2 / p))
        e_t = _e_integrand(t)
        np.testing.assert_allclose([eb, fisher], [n * e_t, n * e_t], rtol=1e-9, atol=0)
        em = _energy(_mdm_flux(q, t, sp, p), p, sp.src, sp.dst)
        np.testing.assert_allclose(em, _kinetic_constant(q, d) * e_t, rtol=1e-10, atol=0)
        record_deviation("Thm 3.6  (b) least energy vs n e(t) (Fisher)", abs(eb / (n * e_t) - 1))
        if n >= 2:
            assert eb < em * (1 - 1e-3)
