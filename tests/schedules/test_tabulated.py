"""TabulatedSchedule: any schedule on a grid of knots (from a schedule, from alpha, from
logits), exact at the knots, linear between them; a pytree that vmaps and differentiates.

Evaluations run eagerly and under ``jax.jit`` (the ``variant`` fixture).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from mdm_ot.schedules import TabulatedSchedule, beta_schedule, check_knots, parse_alpha

SPECS = ["linear", "sin", "sin2", "poly:3", "cosine", "loglinear", "beta:0.9,0.3", "beta:1,0.2"]


def _pair(s, t, tc):
    return s.pair(t, tc)


def _call(s, t):
    return s(t)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("k", [1, 3, 8, 64])
def test_from_schedule_is_exact_at_the_knots(spec, k, variant):
    """At its knots the table returns the schedule's own pair, bit for bit (the samplers
    evaluate a schedule only there), and is linear in between."""
    s = parse_alpha(spec)
    knots = jnp.arange(k + 1, dtype=jnp.float64) / k
    tab = TabulatedSchedule.from_schedule(s, knots)
    a, om = variant(_pair)(tab, knots, 1 - knots)
    want_a, want_om = s.pair(knots, 1 - knots)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(want_a))
    np.testing.assert_array_equal(np.asarray(om) + 0.0, np.asarray(want_om) + 0.0)  # -0 == 0
    mid = 0.5 * (knots[1:] + knots[:-1])
    np.testing.assert_allclose(np.asarray(variant(_call)(tab, mid)), 0.5 * np.asarray(want_a[1:] + want_a[:-1]),
                               rtol=1e-12, atol=1e-15)


def test_from_alphas_and_from_logits(variant):
    al = jnp.array([0.0, 0.1, 0.25, 0.9, 1.0])
    s = TabulatedSchedule.from_alphas(al)
    knots = jnp.linspace(0.0, 1.0, 5)
    np.testing.assert_allclose(np.asarray(s.knots), np.asarray(knots), rtol=0, atol=1e-16)
    a, om = variant(_pair)(s, knots, 1 - knots)
    np.testing.assert_allclose(np.asarray(a), np.asarray(al), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.asarray(om), 1 - np.asarray(al), rtol=1e-12, atol=1e-15)
    # omega is summed from the right (accurate where it is small)
    inc = np.diff(np.asarray(al))
    np.testing.assert_array_equal(np.asarray(s.omega), np.append(np.cumsum(inc[::-1])[::-1], 0.0))
    np.testing.assert_allclose(np.asarray(variant(_call)(s, jnp.array([0.125, 0.625]))), [0.05, 0.575],
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.asarray(variant(lambda s, a: s.inverse(a))(s, al)), np.asarray(knots),
                               rtol=1e-12, atol=1e-15)
    assert s.spec == "free:0,0.1,0.25,0.9,1"
    np.testing.assert_array_equal(np.asarray(s.alphas()), np.asarray(s.alpha))
    lin = TabulatedSchedule.from_logits(jnp.zeros(4))  # equal increments: linear on the grid
    np.testing.assert_allclose(np.asarray(lin.alpha), np.asarray(knots), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.asarray(lin.omega), 1 - np.asarray(knots), rtol=1e-12, atol=1e-15)


def test_theta_and_energy_methods_from_the_base_class(variant):
    """theta, log_pair and log_rate come from MaskSchedule's defaults."""
    s = TabulatedSchedule.from_alphas(jnp.array([0.0, 0.1, 0.25, 0.9, 1.0]))
    t = jnp.array([0.0, 0.1, 0.3, 0.6, 1.0])
    th = variant(lambda s, t: s.theta(t))(s, t)
    a = np.asarray(s(t))
    np.testing.assert_allclose(np.sin(np.asarray(th)) ** 2, a, rtol=1e-12, atol=1e-15)
    la, l1a = variant(lambda s, t: s.log_pair(t))(s, t)
    assert float(la[0]) == -np.inf and float(l1a[-1]) == -np.inf
    np.testing.assert_allclose(np.asarray(la[1:]), np.log(a[1:]), rtol=1e-12, atol=1e-15)
    slopes = np.diff([0.0, 0.1, 0.25, 0.9, 1.0]) / 0.25
    lr = variant(lambda s, t: s.log_rate(t))(s, jnp.array([0.1, 0.3, 0.6]))
    np.testing.assert_allclose(np.asarray(lr), np.log(slopes[[0, 1, 2]]), rtol=1e-12, atol=1e-14)


def test_one_structure_for_every_family_and_vmap():
    """Tables of different families share one pytree structure: one compiled sampler, and
    jax.vmap over a stack of them."""
    knots = jnp.linspace(0.0, 1.0, 9)
    tabs = [TabulatedSchedule.from_schedule(parse_alpha(s), knots) for s in SPECS]
    trees = {jax.tree_util.tree_structure(t) for t in tabs}
    assert len(trees) == 1
    assert len(jax.tree_util.tree_leaves(tabs[0])) == 3
    batch = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *tabs)
    t = jnp.asarray(0.3)
    got = jax.vmap(lambda s: s(t))(batch)
    np.testing.assert_allclose(np.asarray(got), [float(x(t)) for x in tabs], rtol=1e-12, atol=1e-15)
    # traced schedules tabulate too (a vmap over Beta parameters)
    ab = jnp.array([[0.9, 0.3], [1.0, 0.2]])
    vt = jax.vmap(lambda p: TabulatedSchedule.from_schedule(beta_schedule(p[0], p[1]), knots))(ab)
    np.testing.assert_allclose(np.asarray(vt.alpha[1]), np.asarray(tabs[-1].alpha), rtol=1e-12, atol=1e-15)


def test_gradient_through_from_logits():
    knots = jnp.linspace(0.0, 1.0, 4)

    def f(z):
        s = TabulatedSchedule.from_logits(z, knots)
        a, om = s.pair(knots, 1 - knots)
        return jnp.sum(a**2) + jnp.sum(om**3) + jnp.sum(s.theta(jnp.array([0.1, 0.5, 0.95])))

    check_grads(f, (jnp.array([0.3, -1.0, 2.0]),), order=1, modes=("fwd", "rev"), eps=1e-6, rtol=1e-6,
                atol=1e-9)


@pytest.mark.parametrize("alphas", [[0.0, 0.5, 0.4, 1.0], [0.1, 0.5, 1.0], [0.0, 0.5, 0.9], [0.0, np.nan, 1.0], [1.0]])
def test_from_alphas_rejects(alphas):
    with pytest.raises(ValueError, match="alphas"):
        TabulatedSchedule.from_alphas(alphas)


def test_knots_are_checked():
    with pytest.raises(ValueError, match="K \\+ 1 = 4 times"):
        TabulatedSchedule.from_logits(jnp.zeros(3), jnp.linspace(0.0, 1.0, 5))
    with pytest.raises(ValueError, match="increase strictly"):
        TabulatedSchedule.from_alphas(jnp.array([0.0, 0.5, 1.0]), jnp.array([0.0, 0.7, 0.6]))
    with pytest.raises(ValueError, match="increase strictly"):
        TabulatedSchedule.from_schedule(parse_alpha("sin"), jnp.array([0.1, 0.5, 1.0]))
    with pytest.raises(ValueError, match="vector"):
        TabulatedSchedule.from_schedule(parse_alpha("sin"), jnp.zeros((2, 2)))
    with pytest.raises(ValueError, match="logits"):
        TabulatedSchedule.from_logits(jnp.zeros((2, 2)))
    check_knots(jnp.linspace(0.0, 1.0, 3), 2)  # fine


def test_free_spec_reads_back_what_spec_prints():
    """``free:A0,...,AK`` (a tuned free-form or model-only grid) parses to the same alphas on
    t_k = k/K, and bad tables are refused."""
    s = TabulatedSchedule.from_alphas(jnp.asarray([0.0, 0.125, 0.125, 0.75, 1.0]))
    back = parse_alpha(s.spec)
    np.testing.assert_allclose(back.alphas(), s.alphas(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(back.knots, np.linspace(0.0, 1.0, 5), rtol=1e-12, atol=1e-15)
    for bad in ("free:0,0.5", "free:0.1,0.5,1", "free:0,0.7,0.5,1", "free:0,nan,1", "free:"):
        with pytest.raises(ValueError, match="allowed"):
            parse_alpha(bad)
