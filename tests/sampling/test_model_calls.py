"""Model calls of the samplers (mdm_ot.sampling.stochastic_model_calls, sampler_model_calls):
the stochastic sampler's expected number of steps that reveal a token against a brute force
over the sampler's trajectories, and both samplers against the steps their runs really use."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mdm_ot.sampling import (
    sample_count,
    sample_stochastic,
    sampler_model_calls,
    stochastic_model_calls,
)
from mdm_ot.schedules import parse_alpha

RTOL, ATOL = 1e-12, 1e-12


def brute_force_calls(alphas: np.ndarray, n: int) -> tuple[int, float]:
    """(steps with alpha_k > alpha_(k-1), expected steps that reveal >= 1 token) of the
    ancestral sampler on n positions, by enumerating its trajectories: at step k every subset
    S of the masked set is revealed with probability rho^|S| (1 - rho)^(m - |S|), with
    rho_k = (alpha_k - alpha_(k-1)) / (1 - alpha_(k-1)) (1 once nothing is left unrevealed)."""
    dist = {frozenset(range(n)): 1.0}  # masked set -> probability
    expected = 0.0
    for k in range(1, len(alphas)):
        prev, cur = alphas[k - 1], alphas[k]
        rho = 1.0 if prev >= 1 else (cur - prev) / (1 - prev)
        nxt: dict = {}
        for masked, p in dist.items():
            m = len(masked)
            for r in range(m + 1):
                for revealed in itertools.combinations(sorted(masked), r):
                    w = p * rho**r * (1 - rho) ** (m - r)
                    if r:
                        expected += w
                    key = masked - set(revealed)
                    nxt[key] = nxt.get(key, 0.0) + w
        dist = nxt
    return int(np.sum(np.diff(alphas) > 0)), expected


def random_alphas(rng, num_steps: int) -> np.ndarray:
    """An increasing grid of alphas from 0 to 1 with some flat steps."""
    inner = np.sort(rng.uniform(size=num_steps - 1))
    if num_steps > 2:
        inner[rng.integers(num_steps - 2)] = inner[rng.integers(num_steps - 1)]
    return np.sort(np.concatenate([[0.0], inner, [1.0]]))


def test_expected_calls_match_a_brute_force_over_trajectories():
    rng = np.random.default_rng(0)
    for _ in range(40):
        n, k = int(rng.integers(1, 5)), int(rng.integers(1, 6))
        alphas = random_alphas(rng, k)
        steps, expected = brute_force_calls(alphas, n)
        got = stochastic_model_calls(jnp.asarray(alphas), n)
        assert int(got.steps) == steps, (alphas, n)
        np.testing.assert_allclose(float(got.expected), expected, rtol=RTOL, atol=ATOL, err_msg=str((alphas, n)))
        assert 1 - 1e-12 <= float(got.expected) <= steps + 1e-12


def test_expected_calls_vmap_and_closed_cases():
    # batched over grids; linear on K steps: every step reveals a token with
    # probability 1 - (1 - 1/K)^L; one step: exactly one call
    grids = jnp.stack([jnp.linspace(0.0, 1.0, 4), jnp.array([0.0, 0.0, 0.0, 1.0])])
    got = jax.vmap(stochastic_model_calls, (0, None))(grids, 5)
    assert got.steps.tolist() == [3, 1]
    np.testing.assert_allclose(np.asarray(got.expected), [3 * (1 - (2 / 3) ** 5), 1.0], rtol=RTOL, atol=ATOL)


def _uniform_denoiser(z):
    return jnp.full(z.shape + (2,), 0.5) + 0.0 * z[..., None]  # depends on z: no constant folding


def test_stochastic_calls_are_the_steps_the_sampler_uses():
    """Monte Carlo through the real sampler (blocks too): the mean number of distinct steps
    at which positions are revealed is the expected model calls, within 5 standard errors."""
    # front-loaded: late steps are often empty (and the law of a step's reveals matters:
    # 1 - (1 - rho_k)^L instead of 1 - (1 - (alpha_k - alpha_(k-1)))^L is off by 2.9)
    sched = parse_alpha("beta:0.3,0.9")
    length, steps, block = 6, 6, 3
    info = sampler_model_calls(sched, length, steps, sampler="stochastic", block_length=block)
    z0 = jnp.full((12000, length), 2, jnp.int32)
    _, revealed_at = sample_stochastic(_uniform_denoiser, sched, jax.random.PRNGKey(0), z0, num_steps=steps,
                                       block_length=block, return_steps=True)
    used = np.array([len(set(row)) for row in np.asarray(revealed_at).tolist()])
    se = used.std() / math.sqrt(used.size)
    assert abs(used.mean() - info["expected_model_calls"]) < 5 * se, (used.mean(), se, info)
    assert info["model_calls"] == steps and info["model_calls_per_block"] == [3, 3]
    assert info["expected_model_calls_per_block"][0] == pytest.approx(info["expected_model_calls"] / 2, rel=1e-12)
    assert info["expected_model_calls"] < used.max() <= steps


def test_count_calls_are_the_steps_the_sampler_uses():
    """The issue's example: beta:1,0.2, L = 64, K = 16, blocks of 16 gives [0, 0, 2, 14] per
    block, so 2 calls per block; every run of the count sampler reveals at exactly those."""
    sched = parse_alpha("beta:1,0.2")
    info = sampler_model_calls(sched, 64, 16, block_length=16)
    assert info == {"sampler": "count", "steps": 16, "model_calls": 8, "model_calls_per_block": [2, 2, 2, 2]}
    z0 = jnp.full((4, 64), 2, jnp.int32)
    _, revealed_at = sample_count(_uniform_denoiser, sched, jax.random.PRNGKey(1), z0, num_steps=16,
                                  block_length=16, return_steps=True)
    for row in np.asarray(revealed_at):
        used = sorted(set(row.tolist()))
        assert len(used) == info["model_calls"], used
        assert [sum(1 for s in used if s // 4 == b) for b in range(4)] == info["model_calls_per_block"]
    # at least one token per step: every step is a call
    assert sampler_model_calls(sched, 64, 16, block_length=16, min_tokens_per_step=1)["model_calls"] == 16


def test_sampler_model_calls_rejects_bad_input():
    sched = parse_alpha("linear")
    with pytest.raises(ValueError, match="sampler"):
        sampler_model_calls(sched, 8, 4, sampler="ancestral")
    with pytest.raises(ValueError, match="count sampler only"):
        sampler_model_calls(sched, 8, 4, sampler="stochastic", min_tokens_per_step=1)
    with pytest.raises(ValueError, match="block length"):
        sampler_model_calls(sched, 8, 4, sampler="stochastic", block_length=3)
