"""Tests of the exact oracle denoisers (mdm_ot.sampling)."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import entr

from mdm_ot.bruteforce import all_states, state_index
from mdm_ot.sampling import markov_conditionals, markov_oracle, table_oracle
from mdm_ot.testing.strategies import examples

RTOL, ATOL = 1e-12, 1e-13


def brute_conditionals(q: np.ndarray, z: np.ndarray) -> np.ndarray:
    """q(x_i = v | z_UM) by summing q over every compatible sequence (uniform off the
    support at masked positions, point mass at unmasked ones)."""
    n, d = q.ndim, q.shape[0]
    out = np.zeros((n, d))
    num = np.zeros((n, d))
    for x in itertools.product(range(d), repeat=n):
        if all(z[j] == d or z[j] == x[j] for j in range(n)):
            for i in range(n):
                num[i, x[i]] += q[x]
    for i in range(n):
        if z[i] != d:
            out[i, z[i]] = 1.0
        elif num[i].sum() > 0:
            out[i] = num[i] / num[i].sum()
        else:
            out[i] = 1.0 / d
    return out


def test_state_index_enumeration():
    states = all_states(3, 2)
    np.testing.assert_array_equal(np.asarray(state_index(states, 2)), np.arange(27))
    assert states.shape == (27, 3) and tuple(states[5]) == (0, 1, 2)
    np.testing.assert_array_equal(all_states(2, 3, masked=False), list(itertools.product(range(3), repeat=2)))


@settings(max_examples=examples(15))
@given(
    # (no subnormals: XLA on CPU flushes them to zero, NumPy does not)
    w=arrays(np.float64, (3, 3, 3), elements=st.floats(0, 1, allow_subnormal=False)),
    zero=arrays(np.bool_, (3, 3, 3)),
)
def test_table_oracle_matches_brute_force(w, zero):
    w = np.where(zero, 0.0, w)
    if w.sum() < 1e-3:  # need a distribution; most draws have mass
        w[0, 1, 2] = 1.0
    q = w / w.sum()
    oracle = table_oracle(q)
    states = all_states(3, 3)
    got = np.asarray(oracle(states))
    expected = np.stack([brute_conditionals(q, z) for z in states])
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


def test_off_support_is_uniform_and_unmasked_is_point_mass():
    q = np.zeros((2,) * 3)
    q[0, 0, 0] = q[1, 1, 1] = 0.5
    out = np.asarray(table_oracle(q)(jnp.array([[0, 1, 2], [0, 2, 2], [2, 2, 2]])))
    np.testing.assert_allclose(out[0], [[1, 0], [0, 1], [0.5, 0.5]], rtol=RTOL, atol=ATOL)  # off support
    np.testing.assert_allclose(out[1], [[1, 0], [1, 0], [1, 0]], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(out[2], np.full((3, 2), 0.5), rtol=RTOL, atol=ATOL)


@pytest.fixture(scope="module")
def sparse_chain():
    """A chain with forbidden transitions (so some states are off the support)."""
    rng = np.random.default_rng(3)
    trans = rng.dirichlet(np.ones(3), size=3)
    trans[0, 2] = trans[2, 1] = 0.0
    trans /= trans.sum(axis=1, keepdims=True)
    init = np.array([0.5, 0.5, 0.0])
    return markov_oracle(init, trans)


def test_markov_matches_table_oracle(sparse_chain):
    n = 5
    q = np.asarray(sparse_chain.table(n))
    np.testing.assert_allclose(q.sum(), 1.0, rtol=RTOL, atol=ATOL)
    states = all_states(n, 3)  # all 1024 mask patterns and tokens, on and off the support
    expected = np.asarray(table_oracle(q)(states))
    np.testing.assert_allclose(np.asarray(sparse_chain(states)), expected, rtol=1e-11, atol=1e-12)
    # the scan (forward-backward) method agrees too
    scan = markov_conditionals(sparse_chain.init, sparse_chain.trans, states, method="scan")
    np.testing.assert_allclose(np.asarray(scan), expected, rtol=1e-11, atol=1e-12)
    # batch dims [..., n] are kept
    batched = np.asarray(sparse_chain(states[:6].reshape(2, 3, n)))
    np.testing.assert_allclose(batched.reshape(6, n, 3), np.asarray(sparse_chain(states))[:6], rtol=RTOL, atol=ATOL)


def test_markov_long_sequence_against_matrix_powers():
    # n = 400, all masked except positions 10 and 300: for 10 < i < 300,
    # q(x_i = v | x_10 = a, x_300 = b) is proportional to P^(i-10)[a, v] P^(300-i)[v, b].
    rng = np.random.default_rng(0)
    trans = rng.dirichlet(np.ones(4), size=4)
    init = rng.dirichlet(np.ones(4))
    z = np.full(400, 4)
    z[10], z[300] = 2, 1
    out = np.asarray(markov_conditionals(init, trans, z))
    np.testing.assert_allclose(np.asarray(markov_conditionals(init, trans, z, method="scan")), out,
                               rtol=1e-10, atol=1e-13)
    for i in (11, 150, 299):
        left = np.linalg.matrix_power(trans, i - 10)[2]
        right = np.linalg.matrix_power(trans, 300 - i)[:, 1]
        np.testing.assert_allclose(out[i], left * right / np.sum(left * right), rtol=1e-10, atol=1e-13)
    # after the last observation: forward only
    np.testing.assert_allclose(out[350], np.linalg.matrix_power(trans, 50)[1], rtol=1e-10, atol=1e-13)
    # float32 over a long sequence stays normalized and finite (rescaled recursions)
    out32 = np.asarray(markov_conditionals(init.astype(np.float32), trans.astype(np.float32), z))
    assert np.all(np.isfinite(out32))
    np.testing.assert_allclose(out32.sum(-1), 1.0, rtol=0, atol=1e-5)


def test_markov_helpers(sparse_chain):
    n = 4
    q = np.asarray(sparse_chain.table(n))
    xs = all_states(n, 3, masked=False)
    lp = np.asarray(sparse_chain.log_prob(xs))
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(lp, np.log(q.ravel()), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(float(sparse_chain.entropy(n)), entr(q).sum(), rtol=RTOL, atol=ATOL)
    pairs = np.zeros((3, 3))
    for x, w in zip(xs, q.ravel(), strict=True):
        for j in range(n - 1):
            pairs[x[j], x[j + 1]] += w / (n - 1)
    np.testing.assert_allclose(np.asarray(sparse_chain.pair_frequencies(n)), pairs, rtol=RTOL, atol=ATOL)


def test_markov_sample_distribution(sparse_chain):
    n, num = 3, 40000
    x = np.asarray(sparse_chain.sample(jax.random.key(0), num, n))
    codes = x @ (3 ** np.arange(n - 1, -1, -1))
    freq = np.bincount(codes, minlength=27) / num
    q = np.asarray(sparse_chain.table(n)).ravel()
    se = np.sqrt(q * (1 - q) / num)
    assert np.all(np.abs(freq - q) <= 5 * se + 1e-12)


def test_validation():
    with pytest.raises(ValueError, match="sum to 1"):
        table_oracle(np.full((2, 2), 0.3))
    with pytest.raises(ValueError, match="nonnegative"):
        table_oracle(np.array([[0.5, -0.1], [0.3, 0.3]]))
    with pytest.raises(ValueError, match="shape"):
        table_oracle(np.full((2, 3), 1 / 6))
    with pytest.raises(ValueError, match="trans"):
        markov_oracle(np.ones(2) / 2, np.ones((3, 3)) / 3)
    with pytest.raises(ValueError, match="sum to 1"):
        markov_oracle(np.ones(2) / 2, np.array([[0.5, 0.4], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="length"):
        table_oracle(np.full((2, 2), 0.25))(jnp.zeros((1, 3), int))
    with pytest.raises(ValueError, match="method"):
        markov_conditionals(np.ones(2) / 2, np.eye(2), jnp.zeros((1, 3), int), method="viterbi")
