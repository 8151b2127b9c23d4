"""Tests of the exact output distributions, divergences and Monte-Carlo statistics
(mdm_ot.sampling), each against an independent computation."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from mdm_ot.bruteforce import all_states, state_index
from mdm_ot.sampling import (
    distribution_statistics,
    divergences,
    exact_output,
    exact_output_table,
    initial_state,
    markov_oracle,
    markov_statistics,
    sample_count,
    sample_stochastic,
    table_oracle,
)
from mdm_ot.schedules import Linear, Sine2, beta_schedule
from mdm_ot.testing.strategies import examples
from mdm_ot.tuning import toy_target

RTOL, ATOL = 1e-12, 1e-13


# ----------------------------------------------------------------------------- brute force


def beta_alpha(a: float, b: float, k: int) -> np.ndarray:
    """alpha = sin^2(pi/2 I_t(a, b)) on t = j/k, with scipy's incomplete beta function."""
    return np.sin(np.pi / 2 * special.betainc(a, b, np.arange(k + 1) / k)) ** 2


def counts_rule(alphas: np.ndarray, total: int) -> list[int]:
    x = total * np.diff(alphas) / (alphas[-1] - alphas[0])
    fl = [math.floor(v) for v in x]
    frac = [round(v - f, 9) for v, f in zip(x, fl, strict=True)]
    order = sorted(range(len(x)), key=lambda k: (-frac[k], k))
    for k in order[: total - sum(fl)]:
        fl[k] += 1
    return fl


def brute_output(q, alphas, sampler, order="random", temperature=1.0):
    """The sampler's output distribution by enumerating, step by step, every reveal set and
    every token (or every proposal, for confidence order), with conditionals computed by
    summing q. Plain Python; shares no code with mdm_ot.sampling."""
    n, d = q.ndim, q.shape[0]
    mask = d
    xs = list(itertools.product(range(d), repeat=n))

    def cond(z, i):
        num = np.zeros(d)
        for x in xs:
            if all(z[j] == mask or z[j] == x[j] for j in range(n)):
                num[x[i]] += q[x]
        return num / num.sum() if num.sum() > 0 else np.full(d, 1.0 / d)

    def temper(p):
        if temperature == 0:
            best = min(v for v in range(d) if p[v] >= p.max() - 1e-9)
            return np.eye(d)[best]
        w = p ** (1.0 / temperature)
        return w / w.sum()

    alphas = (np.asarray(alphas) - alphas[0]) / (alphas[-1] - alphas[0])
    counts = counts_rule(alphas, n)
    dist = {(mask,) * n: 1.0}
    for k in range(1, len(alphas)):
        rho = 1.0 if k == len(alphas) - 1 or alphas[k - 1] >= 1 else (alphas[k] - alphas[k - 1]) / (1 - alphas[k - 1])
        c = counts[k - 1]
        new = defaultdict(float)
        for z, w in dist.items():
            masked = [i for i in range(n) if z[i] == mask]
            m = len(masked)
            conds = {i: cond(z, i) for i in masked}
            tp = {i: temper(conds[i]) for i in masked}
            if sampler == "stochastic" or order == "random":
                for r in range(m + 1):
                    if sampler == "stochastic":
                        ps = rho**r * (1 - rho) ** (m - r)
                    else:
                        ps = 1.0 / math.comb(m, r) if r == c else 0.0
                    if ps == 0:
                        continue
                    for subset in itertools.combinations(masked, r):
                        for toks in itertools.product(range(d), repeat=r):
                            pt = np.prod([tp[i][v] for i, v in zip(subset, toks, strict=True)])
                            z2 = list(z)
                            for i, v in zip(subset, toks, strict=True):
                                z2[i] = v
                            new[tuple(z2)] += w * ps * pt
            else:
                for toks in itertools.product(range(d), repeat=m):
                    pt = np.prod([tp[i][v] for i, v in zip(masked, toks, strict=True)])
                    if pt == 0:
                        continue
                    conf = [conds[i][v] for i, v in zip(masked, toks, strict=True)]
                    ranked = sorted(range(m), key=lambda j: (-round(conf[j], 9), masked[j]))
                    z2 = list(z)
                    for j in ranked[:c]:
                        z2[masked[j]] = toks[j]
                    new[tuple(z2)] += w * pt
        dist = new
    p = np.zeros(q.shape)
    for z, w in dist.items():
        assert mask not in z
        p[z] += w
    return p


def random_target(rng, n, d, zero_frac=0.3):
    w = rng.random((d,) * n)
    w[rng.random(w.shape) < zero_frac] = 0
    return w / w.sum()


SAMPLERS = [
    ("stochastic", dict(sampler="stochastic")),
    ("count-random", dict(sampler="count", order="random")),
    ("count-confidence-T0", dict(sampler="count", order="confidence", temperature=0.0)),
    ("count-confidence-T0.7", dict(sampler="count", order="confidence", temperature=0.7)),
    ("stochastic-T0.5", dict(sampler="stochastic", temperature=0.5)),
]


@pytest.mark.parametrize("name, kw", SAMPLERS, ids=[s[0] for s in SAMPLERS])
@settings(max_examples=examples(4))
@given(seed=st.integers(0, 2**31 - 1), a=st.floats(0.2, 2.0), b=st.floats(0.2, 2.0))
def test_exact_matches_brute_force(name, kw, seed, a, b):
    q = random_target(np.random.default_rng(seed), 3, 3)
    p = np.asarray(exact_output_table(q, beta_schedule(a, b), num_steps=3, **kw))
    kw = dict(kw)
    expected = brute_output(q, beta_alpha(a, b, 3), kw.pop("sampler"), **kw)
    np.testing.assert_allclose(p, expected, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- closed forms


def marginals_product(q):
    n = q.ndim
    margs = [q.sum(axis=tuple(j for j in range(n) if j != i)) for i in range(n)]
    out = margs[0]
    for m in margs[1:]:
        out = np.multiply.outer(out, m)
    return out


def test_one_step_is_the_product_of_marginals():
    q = random_target(np.random.default_rng(1), 4, 2)
    for kw in (dict(sampler="stochastic"), dict(sampler="count")):
        p = np.asarray(exact_output_table(q, Sine2(), num_steps=1, **kw))
        np.testing.assert_allclose(p, marginals_product(q), rtol=RTOL, atol=ATOL)


def test_one_token_per_step_is_exact():
    # Revealing one token at a time from the exact conditionals samples q exactly, in any order.
    q = random_target(np.random.default_rng(2), 4, 3, zero_frac=0.5)
    p = np.asarray(exact_output_table(q, Linear(), num_steps=4, sampler="count"))
    np.testing.assert_allclose(p, q, rtol=RTOL, atol=ATOL)
    dv = divergences(p, q)
    assert float(dv.kl_data_to_model) < 1e-12 and float(dv.kl_model_to_data) < 1e-12


@pytest.mark.parametrize("a, b", [(0.5, 0.5), (0.9, 0.3), (0.3, 0.9), (2.0, 1.0)])
def test_stochastic_modes_closed_form(a, b):
    # Target uniform on {aaaaa, bbbbb}: the output is aaaaa iff the first batch of revealed
    # tokens agrees (then every conditional is deterministic). With each position revealed
    # at step j with probability dalpha_j independently,
    # p(aaaaa) = sum_j (1 - alpha_j + dalpha_j / 2)^5 - (1 - alpha_j)^5.
    q = toy_target("modes")
    al = beta_alpha(a, b, 3)
    expected = sum((1 - al[j] + (al[j] - al[j - 1]) / 2) ** 5 - (1 - al[j]) ** 5 for j in (1, 2, 3))
    p = np.asarray(exact_output_table(q, beta_schedule(a, b), num_steps=3, sampler="stochastic"))
    np.testing.assert_allclose([p[(0,) * 5], p[(1,) * 5]], [expected, expected], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(float(divergences(p, q).kl_data_to_model), np.log(0.5 / expected), rtol=1e-11, atol=1e-13)


def test_mass_stays_on_complete_states():
    q = toy_target("middle")
    mass = np.asarray(exact_output_table(q, beta_schedule(0.9, 0.3), num_steps=3, sampler="stochastic", return_states=True))
    complete = np.asarray(state_index(all_states(5, 2, masked=False), 2))  # the complete states
    np.testing.assert_allclose(mass.sum(), 1.0, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(mass[complete].sum(), 1.0, rtol=RTOL, atol=ATOL)
    assert np.all(mass >= 0)


def test_vmap_over_schedules_and_padded_grids():
    q = toy_target("middle")
    oracle = table_oracle(q)
    a = jnp.array([0.3, 0.9, 1.0, 0.5])
    b = jnp.array([0.9, 0.3, 0.2, 0.5])

    def one(s, grid):
        return exact_output(oracle, s, length=5, num_steps=4, sampler="count", grid=grid)

    grid3 = jnp.array([0.0, 1 / 3, 2 / 3, 1.0, 1.0])  # K = 3, padded to 4 steps
    batched = np.asarray(jax.vmap(one, (0, None))(beta_schedule(a, b), grid3))
    for i in range(4):
        single = np.asarray(exact_output(oracle, beta_schedule(a[i], b[i]), length=5, num_steps=3, sampler="count"))
        np.testing.assert_allclose(batched[i], single, rtol=RTOL, atol=ATOL)


# ----------------------------------------------------------------------------- divergences


def test_divergences_against_scipy_and_infinities():
    rng = np.random.default_rng(4)
    p, q = rng.dirichlet(np.ones(12)), rng.dirichlet(np.ones(12))
    dv = divergences(p, q)
    np.testing.assert_allclose(float(dv.kl_data_to_model), stats.entropy(q, p), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(float(dv.kl_model_to_data), stats.entropy(p, q), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(float(dv.tv), 0.5 * np.abs(p - q).sum(), rtol=RTOL, atol=ATOL)
    q0 = q.copy()
    q0[:3] = 0
    q0 /= q0.sum()
    dv = divergences(p, q0)  # p has mass where q0 has none
    assert np.isinf(float(dv.kl_model_to_data)) and np.isfinite(float(dv.kl_data_to_model))
    dv = divergences(q0, p)
    assert np.isinf(float(dv.kl_data_to_model)) and np.isfinite(float(dv.kl_model_to_data))


# ----------------------------------------------------------------------------- samplers vs exact


@pytest.mark.parametrize(
    "kw",
    [dict(sampler="stochastic"), dict(sampler="count", order="random"),
     dict(sampler="count", order="confidence", temperature=1.0)],
    ids=["stochastic", "count-random", "count-confidence-T1"],
)
def test_sampler_histogram_matches_exact(kw):
    q = toy_target("middle")
    oracle = table_oracle(q)
    sched = Sine2()
    p = np.asarray(exact_output(oracle, sched, length=5, num_steps=3, **kw)).ravel()
    kw = dict(kw)
    fn = sample_stochastic if kw.pop("sampler") == "stochastic" else sample_count
    num = 20000
    x = np.asarray(fn(oracle, sched, jax.random.key(11), initial_state(5, 2, batch=num), num_steps=3, **kw))
    counts = np.bincount(x @ (2 ** np.arange(4, -1, -1)), minlength=32)
    assert np.all(counts[p == 0] == 0)  # exact zeros are never sampled
    keep = p > 0
    _, pvalue = stats.chisquare(counts[keep], num * p[keep] / p[keep].sum())
    assert pvalue > 1e-3


def test_confidence_temperature_zero_sampler_is_the_exact_point_mass():
    for target in ("modes", "middle"):
        q = toy_target(target)
        oracle = table_oracle(q)
        p = np.asarray(exact_output(oracle, Sine2(), length=5, num_steps=3, sampler="count", order="confidence",
                                    temperature=0.0))
        x = np.asarray(sample_count(oracle, Sine2(), jax.random.key(0), initial_state(5, 2, batch=4), num_steps=3,
                                    order="confidence", temperature=0.0))
        assert np.all(x == x[0])
        expected = np.zeros(q.shape)
        expected[tuple(x[0])] = 1.0
        np.testing.assert_allclose(p, expected, rtol=RTOL, atol=ATOL)


# ----------------------------------------------------------------------------- Monte Carlo


def test_markov_monte_carlo_agrees_with_exact():
    # A 4-token chain over 3 symbols and a count sampler with 2 tokens per step (a 4-step
    # grid padded with zero-length steps, so that both runs below share one compilation):
    # the exact output p (by propagation) gives exact statistics, and the intervals from
    # 20000 sampler draws contain them.
    chain = markov_oracle(np.array([0.6, 0.3, 0.1]), np.array([[0.8, 0.15, 0.05], [0.2, 0.6, 0.2], [0.0, 0.3, 0.7]]))
    z0 = initial_state(4, 3, batch=20000)
    two = jnp.array([0.0, 0.5, 1.0, 1.0, 1.0])
    p = exact_output(chain, Linear(), length=4, num_steps=4, sampler="count", grid=two)
    truth = distribution_statistics(p, chain)
    x = sample_count(chain, Linear(), jax.random.key(21), z0, num_steps=4, grid=two)
    mc = markov_statistics(x, chain, level=0.999)
    off = mc["offsupport_fraction"]
    assert float(truth["offsupport_fraction"]) > 0  # parallel steps leave the support here
    assert off["low"] <= float(truth["offsupport_fraction"]) <= off["high"]
    assert mc["loglik_per_token"]["mean"] == -np.inf and float(truth["loglik_per_token"]) == -np.inf
    pf = mc["pair_frequencies"]
    tp = np.asarray(truth["pair_frequencies"])
    assert np.all((pf["low"] <= tp) & (tp <= pf["high"]))
    # one token per step samples q exactly: the reference values under q are in the intervals
    x = np.asarray(sample_count(chain, Linear(), jax.random.key(22), z0, num_steps=4))
    mc = markov_statistics(x, chain, level=0.999)
    ref = mc["reference"]
    ll = mc["loglik_per_token"]
    assert mc["offsupport_fraction"]["mean"] == 0
    assert ll["low"] <= ref["loglik_per_token"] <= ll["high"]
    pf = mc["pair_frequencies"]
    assert np.all((pf["low"] <= ref["pair_frequencies"]) & (ref["pair_frequencies"] <= pf["high"]))
    # and the intervals are not vacuous (99.9% intervals from 20000 draws are ~0.02 wide)
    assert ll["high"] - ll["low"] < 0.03 and np.all(pf["high"] - pf["low"] < 0.03)


def test_bad_input():
    q = toy_target("modes")
    with pytest.raises(ValueError, match="sampler"):
        exact_output_table(q, Linear(), num_steps=3, sampler="ancestral")
    with pytest.raises(ValueError, match="order"):
        exact_output_table(q, Linear(), num_steps=3, sampler="count", order="top")
    with pytest.raises(ValueError, match="steps"):
        exact_output_table(q, Linear(), num_steps=0)
    with pytest.raises(ValueError, match="too large for the exact evaluation"):
        exact_output(lambda z: jnp.full(z.shape + (9,), 1 / 9), Linear(), length=8, num_steps=2)
    with pytest.raises(ValueError, match="level"):
        markov_statistics(np.zeros((4, 3), int), markov_oracle(np.ones(2) / 2, np.eye(2)), level=1.5)


def test_exact_output_refuses_too_many_transitions_before_allocating():
    """n = 7, d = 9: 10^7 states pass the state bound, but its 19^7 ~ 9e8 transitions would
    need ~140 GiB (benchmarks/scaling.py's memory model): a clear error, not an OOM kill."""
    def uniform(z):
        return jnp.full(z.shape + (9,), 1.0 / 9)

    with pytest.raises(ValueError, match=r"\(2d\+1\)\^n <= 50000000"):
        exact_output(uniform, Linear(), num_steps=2, length=7)
