"""The Monte-Carlo dependence profile (mdm_ot.model_only.monte_carlo_profile, issue 16; our
construction, not the paper's): agreement with the exact profile of table and Markov targets
(the exact side through E's exact_profile, which sums conditional mutual informations from
subset entropies, and through an independent brute force over mask sets written here), the
model-call count against the calls a counting denoiser really receives, and bad input."""

from __future__ import annotations

import dataclasses
import itertools

import jax
import numpy as np
import pytest

from mdm_ot.model_only import exact_profile, monte_carlo_profile
from mdm_ot.sampling import markov_oracle, table_oracle

# a fixed seed; 3 standard errors per level (a broken factor, e.g. a dropped |M|/2, moves the
# estimate by many standard errors at these sample sizes: see the mutants in the report)
Z_MAX = 3.0


def _random_table(seed, n, d, conc=0.3):
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(d**n, conc)).reshape((d,) * n)


def _draw(q, num, seed):
    rng = np.random.default_rng(seed)
    flat = rng.choice(q.size, size=num, p=q.reshape(-1))
    return np.stack(np.unravel_index(flat, q.shape), axis=1).astype(np.int32)


def _brute_force_pairs(q, masked):
    """sum_(i<j in masked) I(x_i; x_j | x_rest) of a table, by direct sums (independent of
    the library's subset-entropy route)."""
    n = q.ndim
    total = 0.0
    for i, j in itertools.combinations(masked, 2):
        others = tuple(k for k in masked if k not in (i, j))
        qij = q.sum(axis=others) if others else q
        rem = [k for k in range(n) if k not in others]
        ai, aj = rem.index(i), rem.index(j)
        qi = qij.sum(axis=aj, keepdims=True)
        qj = qij.sum(axis=ai, keepdims=True)
        qu = qij.sum(axis=(ai, aj), keepdims=True)
        pos = qij > 0
        ratio = np.where(pos, qij * qu, 1) / np.where(pos, qi * qj, 1)
        total += float(np.sum(np.where(pos, qij * np.log(ratio), 0)))
    return total


def _brute_force_profile(q, levels):
    n = q.ndim
    out = np.zeros(len(levels))
    for mask in itertools.product((False, True), repeat=n):
        m = sum(mask)
        if m >= 2:
            v = _brute_force_pairs(q, [i for i in range(n) if mask[i]])
            out += np.asarray([a ** (n - m) * (1 - a) ** m for a in levels]) * v
    return out


def _levels_where(profile, keep):
    return dataclasses.replace(profile, pair_dependence=profile.pair_dependence[keep], stderr=profile.stderr[keep])


def _assert_agrees(mc, exact):
    z = (mc.pair_dependence - exact) / mc.stderr
    assert np.all(np.isfinite(z)), (mc.pair_dependence, mc.stderr)
    assert np.max(np.abs(z)) <= Z_MAX, f"z-scores {z}: estimate {mc.pair_dependence}, exact {exact}"


def test_stochastic_profile_of_a_table_agrees_with_the_exact_one():
    q = _random_table(0, 4, 3)
    levels = np.array([0.0, 0.3, 0.6, 0.9])
    mc = monte_carlo_profile(table_oracle(q), _draw(q, 3000, 1), levels, num_samples=3000, key=jax.random.key(1))
    exact = exact_profile(q, levels).pair_dependence
    np.testing.assert_allclose(_brute_force_profile(q, levels), exact, rtol=1e-10, atol=1e-12)
    _assert_agrees(mc, exact)
    assert mc.method == "monte-carlo" and mc.sampler == "stochastic" and mc.length == 4
    assert mc.info["x_source"] == "data" and mc.info["completion_calls"] == 0


def test_count_profile_of_a_markov_chain_agrees_with_the_exact_one():
    n = 5
    init = np.array([0.6, 0.4])
    trans = np.array([[0.9, 0.1], [0.25, 0.75]])
    oracle = markov_oracle(init, trans)
    exact = exact_profile(oracle, sampler="count", length=n)  # levels 1 - m/n, m = n..0
    x = np.asarray(oracle.sample(jax.random.key(3), 2000, n), np.int32)
    mc = monte_carlo_profile(oracle, x, exact.levels, num_samples=2000, key=jax.random.key(4), sampler="count")
    # m = 0, 1: no pair, no call, exactly 0
    assert mc.pair_dependence[-1] == 0 and mc.pair_dependence[-2] == 0
    assert mc.info["calls_per_level"] == [4000, 4000, 4000, 4000, 0, 0]
    ok = exact.pair_dependence > 0
    _assert_agrees(_levels_where(mc, ok), exact.pair_dependence[ok])


def test_rows_completed_by_the_model_follow_its_own_path():
    """All-masked inputs: the oracle completes them (one token per step, random order), so
    x ~ q exactly and the estimate still agrees with the exact profile."""
    q = _random_table(5, 3, 3, conc=0.5)
    levels = np.array([0.3, 0.6])  # at alpha = 0 the states do not depend on x
    mc = monte_carlo_profile(table_oracle(q), np.full((500, 3), 3, np.int32), levels, num_samples=1500,
                             key=jax.random.key(6))
    assert mc.info["x_source"].startswith("model") and mc.info["completion_calls"] == 1500
    _assert_agrees(mc, exact_profile(q, levels).pair_dependence)


def test_independent_tokens_and_one_position_have_zero_profile():
    p = np.array([0.2, 0.5, 0.3])
    q = np.einsum("i,j,k->ijk", p, p, p)
    mc = monte_carlo_profile(table_oracle(q), _draw(q, 50, 0), [0.0, 0.5], num_samples=50, key=jax.random.key(0))
    np.testing.assert_allclose(mc.pair_dependence, 0.0, rtol=0, atol=1e-12)
    one = monte_carlo_profile(table_oracle(p), _draw(p, 10, 0), [0.0, 0.5], num_samples=10, key=jax.random.key(0))
    assert one.model_calls == 0 and np.all(one.pair_dependence == 0)


def test_model_calls_are_the_rows_the_denoiser_sees():
    q = _random_table(2, 3, 2)
    oracle = table_oracle(q)
    seen = []

    def counting(z):
        jax.debug.callback(lambda zz: seen.append(zz.shape[0]), z)
        return oracle(z)

    # batch_size 1: no padding rows; all-masked inputs of equal length: every completion
    # step reveals one token, so every row the denoiser sees is a counted call
    levels = np.array([0.0, 0.4, 0.8, 1.0])
    mc = monte_carlo_profile(counting, np.full((4, 3), 2, np.int32), levels, num_samples=12,
                             key=jax.random.key(0), batch_size=1)
    jax.effects_barrier()
    assert mc.info["completion_calls"] == 4 * 3
    assert mc.model_calls == sum(seen) == 12 + sum(mc.info["calls_per_level"])
    assert mc.info["calls_per_level"][0] == 24  # alpha = 0: all 3 masked, 2 calls per sample
    assert mc.info["calls_per_level"][-1] == 0 and mc.pair_dependence[-1] == 0  # nothing masked


def test_count_levels_mask_the_rounded_number_of_positions():
    q = _random_table(1, 4, 2)
    oracle = table_oracle(q)
    masks = []

    def recording(z):
        jax.debug.callback(lambda zz: masks.append(int((np.asarray(zz) == 2).sum())), z)
        return oracle(z)

    # (1 - 0.3) * 4 = 2.8 masked: 3 in the first pass, 2 after the one-token update
    monte_carlo_profile(recording, _draw(q, 5, 0), [0.3], num_samples=5, key=jax.random.key(0), sampler="count",
                        batch_size=1)
    jax.effects_barrier()
    assert masks == [3, 2] * 5


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (dict(inputs=np.zeros((3, 2))), "integer array"),
        (dict(inputs=np.zeros((0, 2), np.int32)), "integer array"),
        (dict(levels=[0.5, 0.2]), "strictly increasing"),
        (dict(levels=[0.0, 1.5]), r"in \[0, 1\]"),
        (dict(levels=[np.nan]), r"in \[0, 1\]"),
        (dict(num_samples=1), "num_samples"),
        (dict(batch_size=0), "batch_size"),
        (dict(sampler="confidence"), "sampler"),
        (dict(positions=np.ones(3, bool)), "broadcast"),
        (dict(positions=np.ones(2, int)), "bool"),
        (dict(inputs=np.array([[0, 2]], np.int32), positions=np.array([True, False])), "outside positions"),
        (dict(inputs=np.array([[0, 5]], np.int32)), "tokens 0..1"),
    ],
)
def test_bad_input_is_a_clear_error(change, match):
    q = _random_table(0, 2, 2)
    args = dict(inputs=np.zeros((3, 2), np.int32), levels=[0.0, 0.5], num_samples=4, sampler="stochastic",
                positions=None, batch_size=8)
    args.update(change)
    with pytest.raises(ValueError, match=match):
        monte_carlo_profile(table_oracle(q), args.pop("inputs"), args.pop("levels"), key=jax.random.key(0), **args)


def test_a_denoiser_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"\[B, L, d\]"):
        monte_carlo_profile(lambda z: z, np.zeros((2, 3), np.int32), [0.0], num_samples=2, key=jax.random.key(0))
