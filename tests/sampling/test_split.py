"""Tests of the token split: O(K) memory, exact totals, at least M tokens per step, dropped
empty steps, model calls and the export table (mdm_ot.sampling)."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mdm_ot.sampling import (
    CONVENTION,
    alpha_on_grid,
    default_grid,
    export_table,
    model_calls,
    num_transfer_tokens,
    rounding_rule,
    transfer_counts,
)
from mdm_ot.schedules import beta_schedule, parse_alpha
from mdm_ot.testing.strategies import examples

RTOL, ATOL = 1e-12, 1e-12
SPECS = ["linear", "sin", "sin2", "poly:3", "cosine", "loglinear", "loglinear:0.01", "beta:1,0.2",
         "beta:0.9,0.3", "beta:2,5"]


# ----------------------------------------------------------------------------- references


def greedy_split(x: list[Fraction], total: int, m: int) -> list[int]:
    """Reference, written independently of the library's water level: start every step at
    M and hand out the other tokens one at a time to the step with the largest deficit
    x_k - c_k, the earliest step among equal deficits (the greedy minimizer of the separable
    convex sum of (c_k - x_k)^2; exact rationals, so ties are exact)."""
    c = [m] * len(x)
    for _ in range(total - m * len(x)):
        k = max(range(len(x)), key=lambda j: (x[j] - c[j], -j))
        c[k] += 1
    return c


def brute_force(parts: list[int], total: int, m: int) -> list[int]:
    """Every integer vector c >= M summing to L; the least sum of (c_k - x_k)^2 with
    x_k = L n_k / N (computed exactly, as the integer sum of (N c_k - L n_k)^2), and among the
    minimizers the lexicographically largest (extra tokens to the earliest steps)."""
    k, n = len(parts), sum(parts)
    free = total - m * k
    comps = np.array([[b - a - 1 for a, b in zip((-1,) + cuts, cuts + (free + k - 1,), strict=True)]
                      for cuts in itertools.combinations(range(free + k - 1), k - 1)], np.int64) + m
    cost = np.sum((n * comps - total * np.asarray(parts, np.int64)) ** 2, axis=1)
    best = comps[cost == cost.min()]
    return max(best.tolist())


def exact_x(parts: list[int], total: int) -> tuple[np.ndarray, list[Fraction]]:
    """alpha_k = (n_1 + .. + n_k) / N on the uniform grid: the float alphas and the exact
    x_k = L n_k / N."""
    n = sum(parts)
    alphas = np.concatenate([[0.0], np.cumsum(parts) / n])
    return alphas, [Fraction(total * p, n) for p in parts]


# ----------------------------------------------------------------------------- totals, memory


def _sums(specs, configs, lengths):
    for spec in specs:
        sched = parse_alpha(spec)
        for k, dtype in configs:
            grid = default_grid(k, dtype)
            counts = np.asarray(jax.jit(jax.vmap(lambda n, s=sched, g=grid: transfer_counts(
                alpha_on_grid(s, g), n), (0,)))(lengths))
            np.testing.assert_array_equal(counts.sum(axis=1), np.asarray(lengths), err_msg=f"{spec} K={k}")
            assert counts.min() >= 0, (spec, k)


def test_counts_always_sum_to_the_length():
    # The alphas computed inside the same jit as the split (fused with it): the log-linear
    # schedule's 64 tokens over 8 steps once came out as 63 (float64 and float32 alike).
    # Both rankings: pairwise (K <= 64) and sorted.
    _sums(["loglinear"], [(8, jnp.float64), (100, jnp.float32)], jnp.arange(1, 300))
    assert np.asarray(num_transfer_tokens(parse_alpha("loglinear"), 64, 8)).tolist() == [8] * 8


@pytest.mark.slow
def test_counts_always_sum_to_the_length_every_family():
    _sums(SPECS, itertools.product((8, 50, 100, 1000), (jnp.float64, jnp.float32)), jnp.arange(1, 1025))


def test_split_memory_is_linear_in_the_steps():
    # The compiled split's scratch memory: a K x K comparison needs > 4e8 bytes at K = 20,000.
    k = 20_000
    compiled = jax.jit(transfer_counts).lower(jnp.linspace(0.0, 1.0, k + 1), 16).compile()
    assert compiled.memory_analysis().temp_size_in_bytes < 100 * k


# transfer_counts over L = 1..399 for 41 grid points (K = 40: pairwise ranking) and for 101
# (K = 100: sorted ranking); one compilation each, shared by the tests below.
_OVER_LENGTHS = jax.jit(jax.vmap(transfer_counts, (None, 0)))
_LENGTHS = jnp.arange(1, 400)


def _both_rankings(alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts [L, K] for K = len(alphas) - 1 <= 40, ranked pairwise and (zero-length steps
    appended up to K = 100) by sorting."""
    k = len(alphas) - 1
    short = np.concatenate([alphas, np.ones(40 - k)])
    long = np.concatenate([alphas, np.ones(100 - k)])
    a, b = np.asarray(_OVER_LENGTHS(jnp.asarray(short), _LENGTHS)), np.asarray(_OVER_LENGTHS(jnp.asarray(long), _LENGTHS))
    assert np.all(a[:, k:] == 0) and np.all(b[:, k:] == 0)
    return a[:, :k], b[:, :k]


def test_both_rankings_give_the_same_split():
    # Near-ties, exact ties and a chain of near-ties included.
    rng = np.random.default_rng(0)
    inc = rng.random(40)
    inc[5] = inc[9] = inc[30]  # exact ties
    inc[12] = inc[13] * (1 + 1e-15)  # near-ties
    inc[20], inc[21], inc[22] = inc[19] * (1 + 3e-16), inc[19] * (1 + 6e-16), inc[19] * (1 + 9e-16)  # a chain
    alphas = np.concatenate([[0.0], np.cumsum(inc) / inc.sum()])
    alphas[-1] = 1.0
    pairwise, sorted_ = _both_rankings(alphas)
    np.testing.assert_array_equal(pairwise, sorted_)
    np.testing.assert_array_equal(pairwise.sum(axis=1), np.asarray(_LENGTHS))


def test_chained_near_ties_are_one_class_earliest_first():
    # L = 8: tol = 64 eps L = 2^-43. Fractional parts 0.5, 0.5 + d, 0.5 + 2d, 0.5 - 3d with
    # d = 0.75 tol: 0.5 and 0.5 + 2d differ by more than tol, but the chain joins them into one
    # class, so the two extra tokens go to steps 0 and 1 (not to the two largest parts).
    d = 0.75 * 2.0**-43
    x = np.array([1.5, 1.5 + d, 1.5 + 2 * d, 3.5 - 3 * d])
    alphas = np.concatenate([[0.0], np.cumsum(x)]) / 8
    assert np.array_equal(8 * np.diff(alphas), x)  # dyadic: exact
    for counts in _both_rankings(alphas):
        np.testing.assert_array_equal(counts[7], [2, 2, 1, 3])  # row L = 8


# ----------------------------------------------------------------------------- at least M per step


@settings(max_examples=examples(30))
@given(parts=st.lists(st.integers(0, 12), min_size=6, max_size=6).filter(lambda v: sum(v) > 0),
       total=st.integers(1, 14), m=st.integers(0, 2))
# x = (0, 10/3, 10/3, 10/3, 0, 0), M = 1: steps 1-3 tie for the one extra token -> step 1
@example(parts=[0, 2, 2, 2, 0, 0], total=10, m=1)
def test_min_tokens_is_the_least_squares_split(parts, total, m):
    """Optimality against a brute force over all feasible integer vectors (L <= 14, K = 6;
    one K in both property tests, so that their eager calls share compiled operations)."""
    k = len(parts)
    m = min(m, total // k)
    alphas, x = exact_x(parts, total)
    counts = np.asarray(transfer_counts(jnp.asarray(alphas), total, m)).tolist()
    assert counts == brute_force(parts, total, m) == greedy_split(x, total, m)


@settings(max_examples=examples(30))
@given(parts=st.lists(st.integers(0, 40), min_size=6, max_size=6).filter(lambda v: sum(v) > 0),
       total=st.integers(1, 400), m=st.integers(0, 40))
def test_min_tokens_properties(parts, total, m):
    """The total, c_k >= M, c_k <= max(M, ceil x_k), order preservation, the M = 0 split
    unchanged where it already has >= M per step, and the greedy reference."""
    k = len(parts)
    m = min(m, total // k)
    alphas, x = exact_x(parts, total)
    plain = np.asarray(transfer_counts(jnp.asarray(alphas), total))
    counts = np.asarray(transfer_counts(jnp.asarray(alphas), total, m))
    assert counts.sum() == total and counts.min() >= m
    assert all(c <= max(m, math.ceil(xi)) for c, xi in zip(counts, x, strict=True))
    for i, j in itertools.permutations(range(k), 2):
        if x[i] > x[j]:  # exact rationals: distinct values differ by >= 1/N, far beyond tol
            assert counts[i] >= counts[j]
    if plain.min() >= m:
        np.testing.assert_array_equal(counts, plain)
    assert counts.tolist() == greedy_split(x, total, m)


def test_min_tokens_for_the_issue_example():
    # beta:1,0.2, L = 64, K = 16, blocks of 16: no step of any block is empty with M = 1.
    tab = export_table("beta:1,0.2", 64, 16, block_length=16, min_tokens_per_step=1)
    counts = np.asarray(tab["tokens_per_block_step"])
    assert counts.shape == (4, 4) and counts.min() >= 1 and np.all(counts.sum(axis=1) == 16)
    assert np.all(counts == counts[0]) and tab["model_calls"] == 16
    x = [Fraction(16 * (b - a)) for a, b in itertools.pairwise(tab["alpha_grid"])]
    assert counts[0].tolist() == greedy_split(x, 16, 1)


def test_min_tokens_rejects_too_many():
    with pytest.raises(ValueError, match=r"min_tokens_per_step 4: M\*K = 20 exceeds the length L = 16"):
        num_transfer_tokens(parse_alpha("linear"), 16, 5, min_tokens_per_step=4)
    with pytest.raises(ValueError, match=r"M\*K = 20 exceeds the length L = 16 \(per block"):
        num_transfer_tokens(parse_alpha("linear"), 64, 16, block_length=16, min_tokens_per_step=5)
    # the boundary: M * K = L gives M everywhere, one token less is refused
    np.testing.assert_array_equal(num_transfer_tokens(parse_alpha("linear"), 15, 5, min_tokens_per_step=3), [3] * 5)
    with pytest.raises(ValueError, match=r"M\*K = 15 exceeds the length L = 14"):
        num_transfer_tokens(parse_alpha("linear"), 14, 5, min_tokens_per_step=3)
    with pytest.raises(ValueError, match="integer >= 0"):
        transfer_counts(jnp.linspace(0.0, 1.0, 5), 8, -1)
    with pytest.raises(ValueError, match="exceeds"):
        export_table("linear", 16, 5, min_tokens_per_step=4)


# ----------------------------------------------------------------------------- empty steps, model calls


def test_drop_empty_and_model_calls():
    sched = parse_alpha("beta:1,0.2")
    full = np.asarray(num_transfer_tokens(sched, 64, 16, block_length=16))
    kept = np.asarray(num_transfer_tokens(sched, 64, 16, block_length=16, drop_empty=True))
    rows = full.reshape(4, 4)
    assert np.all(rows == rows[0]) and (rows == 0).any()
    np.testing.assert_array_equal(kept, np.concatenate([r[r > 0] for r in rows]))
    calls = model_calls(full, num_blocks=4)
    assert calls.per_block.tolist() == [sum(1 for c in r if c > 0) for r in rows.tolist()]
    assert int(calls.total) == len(kept)
    # batched, and one block by default
    batch = np.array([[0, 3, 0, 1], [2, 2, 0, 0], [0, 0, 0, 4]])
    assert model_calls(batch).total.tolist() == [2, 2, 1]
    assert model_calls(batch, num_blocks=2).per_block.tolist() == [[1, 1], [2, 0], [0, 1]]
    with pytest.raises(ValueError, match="num_blocks"):
        model_calls(batch, num_blocks=3)


def test_export_table_describes_itself():
    tab = export_table("beta:1,0.2", 64, 16, block_length=16, drop_empty=True)
    base = export_table("beta:1,0.2", 64, 16, block_length=16)
    assert tab["convention"] == CONVENTION == "t=0 all masked; alpha = P(unmasked)"
    assert tab["spec"] == tab["alpha"] == "beta:1,0.2"
    assert tab["steps"] == 16 and tab["steps_per_block"] == 4 and len(tab["time_grid"]) == 5
    assert tab["alpha_grid"] == base["alpha_grid"] and tab["time_grid"] == base["time_grid"]
    np.testing.assert_allclose(tab["mask_ratio_grid"], 1 - np.asarray(tab["alpha_grid"]), rtol=RTOL, atol=ATOL)
    assert tab["mask_ratio_grid"][0] == 1.0 and tab["mask_ratio_grid"][-1] == 0.0
    row = base["tokens_per_block_step"][0]
    assert tab["steps_kept"] == [k for k, c in enumerate(row) if c > 0]
    assert tab["tokens_per_block_step"] == [[row[k] for k in tab["steps_kept"]]] * 4
    assert tab["tokens_per_step"] == sum(tab["tokens_per_block_step"], [])
    assert tab["model_calls"] == base["model_calls"] == sum(c > 0 for c in base["tokens_per_step"])
    assert tab["model_calls_per_block"] == [len(tab["steps_kept"])] * 4
    assert tab["drop_empty"] is True and base["drop_empty"] is False and "steps_kept" not in base
    assert tab["rounding"] == base["rounding"] == rounding_rule(0) and tab["min_tokens_per_step"] == 0
    raised = export_table("beta:1,0.2", 64, 16, block_length=16, min_tokens_per_step=1)
    assert raised["min_tokens_per_step"] == 1 and raised["rounding"]["name"].endswith("min1")
    assert "at least 1 token" in raised["rounding"]["description"]


def test_export_table_refuses_a_schedule_that_is_not_finite():
    # The spec parser refuses such parameters; a schedule built directly reaches the table.
    with pytest.raises(ValueError, match="not finite and increasing"):
        export_table(beta_schedule(1e50, 1e50), 16, 4)
