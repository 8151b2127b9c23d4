"""Unit tests of mdm_ot.model_only (issue 16): exact profiles, the construction, the dynamic
programmes, the tune wiring. The paper-facing checks (sin^2, D.5, n = 1, order 2, the bound) are
in paper_checks/test_model_only.py."""

import itertools

import numpy as np
import pytest

from mdm_ot import tuning
from mdm_ot.model_only import (
    Profile,
    chain_rule_coefficients,
    chain_rule_kl,
    chain_rule_step,
    count_step_cost,
    exact_profile,
    model_only,
    model_only_grid,
    model_only_schedule,
    pair_dependence,
    paper_profile,
    plot_profile,
)
from mdm_ot.sampling import markov_oracle, num_transfer_tokens
from mdm_ot.schedules import TabulatedSchedule


def _table(seed, n=4, d=2):
    return np.random.default_rng(seed).dirichlet(np.full(d ** n, 0.5)).reshape((d,) * n)


def _pair_mi_brute(q):
    """A[m] = sum over mask sets of size m of sum_{i<j masked} I(x_i; x_j | x_U), by summation
    over the conditional tables (no entropies)."""
    n, d = q.ndim, q.shape[0]
    out = np.zeros(n + 1)
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
            cond = q[tuple(idx)] / pu
            for a, b in itertools.combinations(range(len(big_m)), 2):
                rest = tuple(j for j in range(len(big_m)) if j not in (a, b))
                pair = cond.sum(axis=rest) if rest else cond
                prod = np.outer(pair.sum(1), pair.sum(0))
                nz = pair > 0
                out[len(big_m)] += pu * np.sum(pair[nz] * np.log(pair[nz] / prod[nz]))
    return out


def test_pair_coefficients_are_conditional_mutual_informations():
    q = _table(1, n=4, d=3)
    coef = chain_rule_coefficients(q)
    np.testing.assert_allclose(coef[:, 2], _pair_mi_brute(q), rtol=1e-10, atol=1e-13)
    assert np.all(coef[:, :2] == 0) and np.all(np.triu(coef, 1) == 0)
    # P is the binomial mixture of the pair terms, c = P / (1 - alpha)^2, also at alpha = 1
    prof = exact_profile(q, levels=[0.0, 0.25, 0.5, 1.0])
    a = np.array([0.0, 0.25, 0.5])
    np.testing.assert_allclose(prof.c[:3], pair_dependence(coef, a) / (1 - a) ** 2, rtol=1e-12, atol=0)
    np.testing.assert_allclose(prof.c[3], coef[2, 2], rtol=1e-12, atol=0)


def test_product_distribution_has_exactly_zero_coefficients():
    q = np.einsum("i,j,k->ijk", [0.2, 0.8], [0.6, 0.4], [0.5, 0.5])
    assert np.all(chain_rule_coefficients(q) == 0)
    res = model_only(exact_profile(q, sampler="count"), 2, sampler="count")
    assert res.info["zero_profile"] and res.counts.tolist() == [2, 1]


def test_markov_profile_equals_its_table():
    chain = markov_oracle(np.array([0.3, 0.7]), np.array([[0.9, 0.1], [0.2, 0.8]]))
    a = exact_profile(chain, length=4)
    table = np.asarray(chain.table(4), np.float64)
    b = exact_profile(table / table.sum())
    np.testing.assert_allclose(a.coefficients, b.coefficients, rtol=1e-9, atol=1e-14)
    with pytest.raises(ValueError, match="length"):
        exact_profile(chain)


def test_flat_stretch_makes_alpha_jump():
    def c(alpha):
        return np.where((alpha > 0.2) & (alpha < 0.5), 0.0, 1.0)

    s = model_only_schedule(c, knots=64)
    al = np.asarray(s.alphas())
    assert al[0] == 0 and al[-1] == 1 and np.all(np.diff(al) >= 0)
    assert not np.any((al > 0.2 + 1e-9) & (al < 0.5 - 1e-9))  # no knot inside the free stretch
    # with c = 1 elsewhere Phi is the length outside the stretch: alpha = t * 0.7 (+ 0.3 past it)
    t = np.asarray(s.knots)
    expect = np.where(t * 0.7 <= 0.2, t * 0.7, t * 0.7 + 0.3)
    # c jumps: the quadrature cells that straddle a jump are first order (cell ~ 4e-4 in theta)
    np.testing.assert_allclose(al, expect, rtol=0, atol=1e-5)


def test_higher_order_only_profile_says_so():
    coef = np.zeros((4, 4))
    coef[3, 3] = 0.5  # a made-up target: no pair terms, a three-way term
    prof = Profile(levels=np.linspace(0, 1, 5), pair_dependence=np.zeros(5), stderr=None, sampler="stochastic",
                   length=3, model_calls=0, method="exact", coefficients=coef)
    res = model_only(prof, 3)
    assert res.info["zero_profile"] and "higher" not in res.info["note"] and "order >= 3" in res.info["note"]
    exact = model_only(prof, 3, per_step="exact")
    assert not exact.info["zero_profile"]
    # eps = 0.5 (b - a)^3 here: equal steps are optimal
    np.testing.assert_allclose(exact.alpha_grid, [0, 1 / 3, 2 / 3, 1], atol=1e-6)


def _all_counts(n, k):
    for cuts in itertools.combinations_with_replacement(range(n + 1), k - 1):
        edges = (0, *cuts, n)
        yield [edges[i + 1] - edges[i] for i in range(k)]


@pytest.mark.parametrize("per_step", ["second-order", "exact"])
def test_count_split_is_the_brute_force_optimum(per_step):
    q = _table(3, n=5, d=2)
    prof = exact_profile(q, sampler="count")
    cost = count_step_cost(prof.coefficients)
    pm = prof.pair_dependence_of_count()

    def total(counts):
        m, s = 5, 0.0
        for c in counts:
            s += cost[m, c] if per_step == "exact" else (c * (c - 1) / (m * (m - 1)) * pm[m] if m >= 2 else 0)
            m -= c
        return s

    for k in (2, 3, 4):
        res = model_only(prof, k, sampler="count", per_step=per_step)
        best = min(total(c) for c in _all_counts(5, k))
        np.testing.assert_allclose(total(res.counts), best, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(res.predicted, best, rtol=1e-12, atol=1e-15)
        # the grid gives back the split through the samplers' own rounding
        sched = TabulatedSchedule.from_alphas(res.alpha_grid)
        assert np.asarray(num_transfer_tokens(sched, 5, k)).tolist() == res.counts.tolist()


def test_exact_per_step_grid_beats_second_order_and_random_grids():
    q = _table(4, n=4, d=2)
    prof = exact_profile(q)
    k = 4
    exact = model_only(prof, k, per_step="exact")
    second = model_only_grid(prof, k)
    assert exact.predicted <= chain_rule_kl(prof, second) + 1e-15
    np.testing.assert_allclose(exact.predicted, chain_rule_kl(prof, exact.alpha_grid), rtol=1e-12, atol=0)
    rng = np.random.default_rng(0)
    grids = np.sort(rng.uniform(size=(400, k - 1)), axis=1)
    full = np.concatenate([np.zeros((400, 1)), grids, np.ones((400, 1))], axis=1)
    others = np.sum(chain_rule_step(prof.coefficients, full[:, :-1], full[:, 1:]), axis=1)
    assert exact.predicted <= others.min() + 1e-12
    # a local check: moving any level a little does not lower the sum
    for j in range(1, k):
        for dx in (-1e-4, 1e-4):
            g = exact.alpha_grid.copy()
            g[j] += dx
            assert chain_rule_kl(prof, g) >= exact.predicted - 1e-12


def test_second_order_grid_has_equal_phi_steps():
    prof = exact_profile(_table(5, n=3, d=3))
    grid = model_only_grid(prof, 5)
    # Phi by an independent quadrature (trapezoid on a fine alpha grid; c is a polynomial)
    a = np.linspace(0, 1, 200001)
    phi = np.concatenate([[0], np.cumsum(0.5 * np.diff(a) * (np.sqrt(prof.c_at(a[1:])) + np.sqrt(prof.c_at(a[:-1]))))])
    steps = np.diff(np.interp(grid, a, phi))
    np.testing.assert_allclose(steps, phi[-1] / 5, rtol=1e-6, atol=0)


def test_callable_count_profile_and_bad_input():
    res = model_only(paper_profile, 4, sampler="count", length=8)
    assert sum(res.counts) == 8 and res.alpha_grid[0] == 0 and res.alpha_grid[-1] == 1
    with pytest.raises(ValueError, match="length"):
        model_only(paper_profile, 4, sampler="count")
    with pytest.raises(ValueError, match="exact profile"):
        model_only(paper_profile, 4, per_step="exact")
    with pytest.raises(ValueError, match="finite"):
        model_only_grid(lambda a: -np.ones_like(a), 3)
    with pytest.raises(ValueError, match="per_step"):
        model_only(paper_profile, 3, per_step="third")


def test_plot_profile_writes_png(tmp_path):
    prof = exact_profile(_table(2, n=3, d=2))
    path = tmp_path / "c.png"
    plot_profile(prof, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="png"):
        plot_profile(prof, str(tmp_path / "c.pdf"))


def test_tune_model_only_on_an_exact_target():
    objective = tuning.make_objective("middle", 3)
    out = tuning.tune(objective, "model-only")
    q = np.asarray(tuning.toy_target("middle"))
    assert out["objective_evaluations"] == 0 and out["profile_model_calls"] == 0
    assert out["profile"]["model_calls"] == 0 and out["profile"]["method"] == "exact"
    np.testing.assert_allclose(out["alpha_grid"], model_only_grid(exact_profile(q), 3), rtol=0, atol=1e-12)
    # the after-the-fact value is the objective's value of that grid
    value = float(objective(TabulatedSchedule.from_alphas(np.asarray(out["alpha_grid"]))))
    np.testing.assert_allclose(out["after_the_fact"]["value"], value, rtol=1e-12, atol=0)
    assert out["after_the_fact"]["value"] <= out["after_the_fact"]["chain_rule_path_kl"]
    assert "never used" in out["after_the_fact"]["note"]
    count = tuning.tune_target("modes", 3, sampler="count", method="model-only", per_step="exact")
    assert count["tokens_per_step"] == [1, 2, 2] and count["after_the_fact"]["value"] < 1e-12
    with pytest.raises(ValueError, match="exact target"):
        tuning.tune_target("energy", 3, method="model-only")


def test_tune_model_only_with_a_monte_carlo_profile():
    lv = np.linspace(0, 1, 11)
    prof = Profile(levels=lv, pair_dependence=(1 - lv) ** 2 / np.maximum(lv * (1 - lv), 1e-3) * 0 + (1 - lv) ** 2,
                   stderr=np.full(11, 0.01), sampler="stochastic", length=6, model_calls=1234, method="monte-carlo")
    out = tuning.tune(prof, "model-only", steps=4)
    # c = 1 everywhere: the linear grid, and the profile's model calls are reported
    np.testing.assert_allclose(out["alpha_grid"], np.arange(5) / 4, rtol=0, atol=1e-9)
    assert out["profile_model_calls"] == 1234 and out["objective_evaluations"] == 0
    assert "after_the_fact" not in out
    with pytest.raises(ValueError, match="steps"):
        tuning.tune(prof, "model-only")
    with pytest.raises(ValueError, match="count"):
        tuning.tune(prof, "model-only", steps=4, sampler="count")
