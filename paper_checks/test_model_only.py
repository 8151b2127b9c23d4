"""Our construction (issue 16), not a statement of the paper: the model-only schedule.

Statement checked (ours, docs/model_only.md): "with the profile c = 1/(alpha(1 - alpha)) the
model-only construction returns alpha = sin^2(pi t / 2) (continuous) and the equal-angle grid of
Appendix D.5 (discrete); for n = 1 the profile is zero and every schedule is exact; the exact
per-step chain-rule term of a step h is c(alpha) h^2 + O(h^3); the chain-rule sum bounds the
exact output KL(q || p) from above."

Independent sides: closed forms (sin^2, sin^2(pi k / 2K)); the exact output distribution of the
samplers (mdm_ot.sampling, propagation over the states); a brute force over every state, every
revealed set and every token of the per-step KL between the true step and the sampler's step,
computed from the conditionals of q directly (no entropies, no polynomial in alpha).
"""

import itertools
import math

import numpy as np
import pytest

from mdm_ot.model_only import (
    chain_rule_kl,
    exact_profile,
    model_only,
    model_only_grid,
    model_only_schedule,
    paper_profile,
)
from mdm_ot.sampling import exact_output_table, num_transfer_tokens
from mdm_ot.schedules import TabulatedSchedule, beta_schedule, parse_alpha

pytestmark = pytest.mark.paper


def _tc(joint: np.ndarray) -> float:
    """KL(joint || product of its marginals) by direct summation."""
    r = joint.ndim
    prod = np.ones(joint.shape)
    for k in range(r):
        marg = joint.sum(axis=tuple(x for x in range(r) if x != k))
        shape = [1] * r
        shape[k] = joint.shape[k]
        prod = prod * marg.reshape(shape)
    nz = joint > 0
    return float(np.sum(joint[nz] * np.log(joint[nz] / prod[nz])))


def brute_step(q: np.ndarray, weight) -> float:
    """sum over mask sets M, revealed sets S within M and revealed tokens of
    weight(M, S) * q(x_U) * KL(q(x_S | x_U) || prod_i q(x_i | x_U))."""
    n, d = q.ndim, q.shape[0]
    total = 0.0
    for mask in itertools.product((0, 1), repeat=n):
        big_m = [i for i in range(n) if mask[i]]
        u = [i for i in range(n) if not mask[i]]
        q_u = q.sum(axis=tuple(big_m)) if big_m else q
        for xu in itertools.product(range(d), repeat=len(u)):
            pu = float(q_u[xu]) if u else 1.0
            if pu == 0:
                continue
            idx = [slice(None)] * n
            for i, v in zip(u, xu, strict=True):
                idx[i] = v
            cond = q[tuple(idx)] / pu  # axes: the masked positions in order
            for r in range(2, len(big_m) + 1):
                for s in itertools.combinations(range(len(big_m)), r):
                    w = weight(len(big_m), r, n)
                    if w == 0:
                        continue
                    rest = tuple(j for j in range(len(big_m)) if j not in s)
                    total += w * pu * _tc(cond.sum(axis=rest) if rest else cond)
    return total


def brute_stochastic(q, a, b):
    """The exact per-step chain-rule term of a stochastic step from a to b, by brute force."""
    p = (b - a) / (1 - a)
    return brute_step(q, lambda m, r, n: a ** (n - m) * (1 - a) ** m * p ** r * (1 - p) ** (m - r))


def brute_count(q, m_now, c):
    """The same for a random-order count step revealing c of m_now masked positions."""
    def weight(m, r, n):
        return 1.0 / (math.comb(n, m) * math.comb(m, r)) if (m == m_now and r == c) else 0.0

    return brute_step(q, weight)


def _random_table(rng, n, d):
    return rng.dirichlet(np.full(d ** n, 0.5)).reshape((d,) * n)


def test_paper_profile_gives_sin2_continuous(record_deviation):
    s = model_only_schedule(paper_profile)
    t = np.asarray(s.knots)
    dev = float(np.max(np.abs(np.asarray(s.alphas()) - np.sin(np.pi * t / 2) ** 2)))
    record_deviation("model-only: paper profile -> sin^2 (knots)", dev)
    assert dev < 1e-10
    # and between the knots (linear interpolation of the table: O(1/knots^2))
    tt = np.linspace(0, 1, 1001)
    mid = float(np.max(np.abs(np.asarray(s.pair(tt)[0]) - np.sin(np.pi * tt / 2) ** 2)))
    assert mid < 1e-5


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8, 16])
def test_paper_profile_gives_equal_angle_grid(k, record_deviation):
    res = model_only(paper_profile, k)
    closed = np.sin(np.pi * np.arange(k + 1) / (2 * k)) ** 2
    dev = float(np.max(np.abs(res.alpha_grid - closed)))
    record_deviation("model-only: paper profile -> D.5 equal-angle grid", dev)
    assert dev < 1e-10
    # the predicted cost: K equal steps of Phi-length pi / K (Phi = 2 arcsin sqrt alpha)
    np.testing.assert_allclose(res.predicted, math.pi ** 2 / k, rtol=1e-10, atol=0)


def test_one_position_zero_profile_every_schedule_exact():
    q = np.random.default_rng(5).dirichlet(np.ones(5))
    prof = exact_profile(q)
    assert np.all(prof.pair_dependence == 0) and np.all(prof.coefficients == 0)
    res = model_only(prof, 4)
    assert res.info["zero_profile"] and "every schedule is exact" in res.info["note"]
    np.testing.assert_array_equal(res.alpha_grid, np.arange(5) / 4)
    for schedule in (parse_alpha("sin2"), beta_schedule(0.3, 2.0),
                     TabulatedSchedule.from_alphas(model_only_grid(prof, 3))):
        for sampler in ("stochastic", "count"):
            p = np.asarray(exact_output_table(q, schedule, num_steps=3, sampler=sampler))
            kl = float(np.sum(q * np.log(q / p)))
            assert abs(kl) < 1e-12, (sampler, kl)


def test_second_order_expansion_has_order_two(record_deviation):
    """eps(alpha, alpha + h) by brute force against c(alpha) h^2 from the exact profile: fitted
    log-log slope 2 for eps and 3 for the remainder."""
    rng = np.random.default_rng(16)
    hs = np.array([0.04, 0.02, 0.01, 0.005])
    for n, d in ((3, 2), (3, 3), (4, 2)):
        q = _random_table(rng, n, d)
        prof = exact_profile(q)
        for alpha in (0.0, 0.3, 0.7):
            c = float(prof.c_at(alpha))
            eps = np.array([brute_stochastic(q, alpha, alpha + h) for h in hs])
            slope = np.polyfit(np.log(hs), np.log(eps), 1)[0]
            rem = np.abs(eps - c * hs ** 2)
            rem_slope = np.polyfit(np.log(hs), np.log(rem), 1)[0]
            record_deviation("model-only: |second-order slope - 2|", abs(slope - 2))
            assert abs(slope - 2) < 0.05, (n, d, alpha, slope)
            assert abs(rem_slope - 3) < 0.2, (n, d, alpha, rem_slope)
            np.testing.assert_allclose(eps[-1] / hs[-1] ** 2, c, rtol=0.05, atol=0)


def test_chain_rule_terms_match_brute_force_and_bound_the_output_kl(record_deviation):
    rng = np.random.default_rng(7)
    for n, d, ks in ((3, 2, (1, 2, 5)), (3, 3, (3,)), (4, 2, (3,))):
        q = _random_table(rng, n, d)
        prof = exact_profile(q)
        for k in ks:
            grid = np.concatenate([[0.0], np.sort(rng.uniform(size=k - 1)), [1.0]])
            brute = sum(brute_stochastic(q, a, b) for a, b in zip(grid[:-1], grid[1:], strict=True))
            lib = chain_rule_kl(prof, grid)
            np.testing.assert_allclose(lib, brute, rtol=1e-10, atol=1e-13)
            p = np.asarray(exact_output_table(q, TabulatedSchedule.from_alphas(grid), num_steps=k))
            out_kl = float(np.sum(q * np.log(q / p)))
            record_deviation("model-only: output KL / path KL (<= 1)", out_kl / brute)
            assert out_kl <= brute + 1e-12, (n, d, k, out_kl, brute)
        # the count sampler (random order): every split of the n tokens into 2 steps
        cprof = exact_profile(q, sampler="count")
        for c1 in range(n + 1):
            counts = [c1, n - c1]
            brute = brute_count(q, n, c1) + brute_count(q, n - c1, n - c1)
            np.testing.assert_allclose(chain_rule_kl(cprof, None, counts=counts), brute, rtol=1e-10, atol=1e-13)
            grid = np.array([0.0, c1 / n, 1.0])
            assert np.array_equal(np.asarray(num_transfer_tokens(TabulatedSchedule.from_alphas(grid), n, 2)), counts)
            p = np.asarray(exact_output_table(q, TabulatedSchedule.from_alphas(grid), num_steps=2, sampler="count"))
            out_kl = float(np.sum(q * np.log(q / p)))
            assert out_kl <= brute + 1e-12, (n, d, counts, out_kl, brute)
