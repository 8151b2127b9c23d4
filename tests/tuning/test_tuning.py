"""Tests of mdm_ot.tuning: objectives, grid search (batched, chunked, sharded), the two-stage
protocol with Kendall's tau, gradient tuning in the Beta and free-form families, export.

Compilation dominates the cost, so every exact-target test uses one sampler configuration
(the toy target 'modes', K = 3, stochastic steps) and batches of 16 schedules
(``chunk_size=16``): one compiled evaluation serves them all.
"""

import json
import math
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from mdm_ot import tuning as T
from mdm_ot.energies import discrete_geodesic_minimum, reduced_energy
from mdm_ot.sampling import (
    alpha_on_grid,
    default_export_name,
    default_grid,
    divergences,
    exact_output_table,
    export_table,
    padded_grid,
)
from mdm_ot.schedules import TabulatedSchedule, beta_schedule, parse_alpha
from mdm_ot.tuning import toy_target

RTOL, ATOL = 1e-12, 1e-12
CHUNK = 16
K = 3
SMALL_A = (0.3, 0.5, 0.7)
SMALL_B = (0.2, 0.4, 0.6)


@pytest.fixture(scope="module")
def toy():
    return T.make_objective("modes", K)


@pytest.fixture(scope="module")
def paper_grid(toy):
    return T.grid_search(toy, *T.parse_grid("paper"), chunk_size=CHUNK)


@pytest.fixture(scope="module")
def beta_run(toy):
    return T.tune_beta(toy, steps=100)




# ----------------------------------------------------------------------------- specs


def test_parse_grid():
    a, b = T.parse_grid("paper")
    np.testing.assert_array_equal(a, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    np.testing.assert_array_equal(a, b)
    a, b = T.parse_grid("fine")
    assert a.shape == (40,) and a[0] == 0.05 and a[-1] == 2.0
    a, b = T.parse_grid("0.5:3:6,0.1:0.2:2")
    np.testing.assert_allclose(a, [0.5, 1.0, 1.5, 2.0, 2.5, 3.0], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(b, [0.1, 0.2], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("spec", ["coarse", "0:1:3,0.1:1:3", "0.5:0.2:3,0.1:1:3", "0.1:1:x,0.1:1:3",
                                  "0.1:1:3", "0.1:1:0,0.1:1:3", "0.1:1,0.1:1:3", "0.1:inf:3,0.1:1:3"])
def test_parse_grid_rejects(spec):
    with pytest.raises(ValueError, match="grid"):
        T.parse_grid(spec)


def test_parse_target_markov_random_and_explicit():
    t = T.parse_target("markov:n=4,d=3,seed=7")
    chain = T.markov_chain(4, 3, 7)
    np.testing.assert_allclose(t.q, np.asarray(chain.table(4)), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(t.q.sum(), 1.0, rtol=RTOL, atol=ATOL)
    assert t.q.shape == (3,) * 4
    # the explicit grammar: q(x) = init(x1) prod trans(x_{j-1}, x_j), written out by hand
    t2 = T.parse_target("markov:n=3,init=0.25/0.75,trans=0.9/0.1/0.4/0.6")
    init, trans = np.array([0.25, 0.75]), np.array([[0.9, 0.1], [0.4, 0.6]])
    manual = np.zeros((2, 2, 2))
    for x in np.ndindex(2, 2, 2):
        manual[x] = init[x[0]] * trans[x[0], x[1]] * trans[x[1], x[2]]
    np.testing.assert_allclose(t2.q, manual, rtol=RTOL, atol=ATOL)
    # a different seed is a different chain
    assert not np.allclose(T.parse_target("markov:n=4,d=3,seed=8").q, t.q)
    assert T.parse_target("modes").q.shape == (2,) * 5


@pytest.mark.parametrize("spec, match", [
    ("nope", "unknown target"),
    ("markov:d=3,seed=0", "length n"),
    ("markov:n=4,d=3", "give n, d, seed"),
    ("markov:n=4,d=1,seed=0", "d must be"),
    ("markov:n=x,d=2,seed=0", "integer"),
    ("markov:n=12,d=4,seed=0", "too large"),
    ("markov:n=3,init=0.5/0.5,trans=1/0/0", "d\\*d"),
    ("markov:n=3,init=0.5/0.6,trans=1/0/0/1", "sum to 1"),
    ("markov:n=3,d=2,d=2,seed=0", "twice"),
    ("npy:/nonexistent/q.npy", "no such file"),
    ("energy:beta:0,1", "must be > 0"),
])
def test_parse_target_rejects(spec, match):
    with pytest.raises(ValueError, match=match):
        T.parse_target(spec)


def test_objective_rejects_bad_settings():
    q = jnp.asarray(toy_target("modes"))
    with pytest.raises(ValueError, match="metric"):
        T.ExactDivergence.create(q, 3, metric="kl2")
    with pytest.raises(ValueError, match="count sampler"):
        T.ExactDivergence.create(q, 3, order="confidence")
    with pytest.raises(ValueError, match="steps"):
        T.ExactDivergence.create(q, 0)
    with pytest.raises(ValueError, match="sum to 1"):
        T.ExactDivergence.create(q * 2, 3)
    with pytest.raises(ValueError, match="temperature"):
        T.ExactDivergence.create(q, 3, temperature=-1.0)


# ----------------------------------------------------------------------------- free-form schedules


def test_free_form_schedule_on_and_between_knots():
    al = jnp.array([0.0, 0.1, 0.25, 0.9, 1.0])
    s = TabulatedSchedule.from_alphas(al)
    knots = default_grid(4)
    a_k, om_k = s.pair(knots, 1 - knots)
    np.testing.assert_allclose(a_k, al, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(om_k, 1 - al, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(s(jnp.array([0.125, 0.625])), [0.05, 0.575], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(s.inverse(al), knots, rtol=RTOL, atol=ATOL)
    # zero logits = equal increments = the linear schedule on the grid
    lin = TabulatedSchedule.from_logits(jnp.zeros(4))
    np.testing.assert_allclose(lin.alphas(), knots, rtol=RTOL, atol=ATOL)
    assert s.spec.startswith("free:0,0.1,0.25,0.9,1")


@pytest.mark.parametrize("alphas", [[0.0, 0.5, 0.4, 1.0], [0.1, 0.5, 1.0], [0.0, 0.5, 0.9], [0.0, np.nan, 1.0], [1.0]])
def test_free_form_rejects(alphas):
    with pytest.raises(ValueError, match="alphas"):
        TabulatedSchedule.from_alphas(alphas)


# ----------------------------------------------------------------------------- grid search


def test_grid_search_matches_one_by_one_evaluation(toy, paper_grid):
    q = jnp.asarray(toy_target("modes"))
    a, b = T.parse_grid("paper")
    for i, j in [(0, 0), (4, 2), (9, 9), (2, 7)]:  # a few points, evaluated independently
        p = exact_output_table(q, beta_schedule(a[i], b[j]), num_steps=K)
        ref = float(divergences(p, q).kl_data_to_model)
        np.testing.assert_allclose(paper_grid.values[i, j], ref, rtol=RTOL, atol=ATOL)
    k = np.nanargmin(paper_grid.values)
    i, j = np.unravel_index(k, paper_grid.values.shape)
    assert (paper_grid.best.a, paper_grid.best.b) == (a[i], b[j])
    assert paper_grid.best.value == paper_grid.values.min()
    d = paper_grid.to_dict()
    assert set(d) == {"best", "grid", "settings"} and len(d["grid"]) == 100
    assert d["settings"]["steps"] == K and d["settings"]["metric"] == "kl"


def test_grid_search_chunking_does_not_change_values(toy, paper_grid):
    a, b = T.parse_grid("paper")
    split = T.grid_search(toy, a[:3], b[:10], chunk_size=CHUNK)  # 30 schedules: two chunks, padded
    np.testing.assert_array_equal(split.values, paper_grid.values[:3, :])


def test_grid_search_user_callable_loop_and_vmap_and_maximize():
    # a non-jittable function (float() of a traced value would fail): Python loop
    def alpha_mid(s):
        return float(np.asarray(s(jnp.asarray(0.3))))

    loop = T.grid_search(T.CallableObjective(alpha_mid, maximize=True, name="alpha(0.3)"), SMALL_A, SMALL_B)
    vec = T.grid_search(T.CallableObjective(lambda s: s(jnp.asarray(0.3)), maximize=True, jittable=True),
                        SMALL_A, SMALL_B)
    ref = np.array([[float(beta_schedule(a, b)(0.3)) for b in SMALL_B] for a in SMALL_A])
    np.testing.assert_allclose(loop.values, ref, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(vec.values, ref, rtol=RTOL, atol=ATOL)
    i, j = np.unravel_index(np.argmax(ref), ref.shape)
    assert (loop.best.a, loop.best.b) == (SMALL_A[i], SMALL_B[j])  # maximized, not minimized
    assert loop.settings["maximize"] is True


def test_grid_search_energy_is_inf_where_divergent():
    res = T.grid_search(T.ReducedEnergy(), [0.4, 1.0, 2.0], [0.4, 1.0, 2.0])
    assert np.all(np.isinf(res.values[0, :])) and np.all(np.isinf(res.values[:, 0]))
    # e = pi^2 B(2a-1, 2b-1) / B(a, b)^2 (MATH.md section 3), independent closed form
    from scipy.special import beta as B

    for i, a in enumerate([1.0, 2.0]):
        for j, b in enumerate([1.0, 2.0]):
            ref = math.pi**2 * B(2 * a - 1, 2 * b - 1) / B(a, b) ** 2
            np.testing.assert_allclose(res.values[i + 1, j + 1], ref, rtol=1e-10, atol=0)
    assert (res.best.a, res.best.b) == (1.0, 1.0)
    assert res.to_dict()["grid"][0]["value"] is None  # JSON: null, never a finite number


def test_padded_grid_runs_fewer_steps_with_the_same_compilation(toy):
    one = T.ExactDivergence.create(toy.q, K, grid=padded_grid(1, K))
    res = T.grid_search(one, SMALL_A, SMALL_B, chunk_size=CHUNK)
    # One step reveals every position at once from the all-masked conditionals (1/2, 1/2):
    # p is uniform on the 32 sentences, so KL(q || p) = log(32 / 2) for every schedule.
    np.testing.assert_allclose(res.values, np.log(16), rtol=RTOL, atol=ATOL)
    assert res.settings["steps"] == 1 and res.settings["compiled_steps"] == K
    # gradient tuning runs on the distinct times of a padded grid
    free = T.tune_free_form(T.ExactDivergence.create(toy.q, 4, grid=padded_grid(2, 4)), steps=1)
    np.testing.assert_array_equal(free.settings["time_grid"], [0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="total_steps"):
        padded_grid(4, 3)


@pytest.mark.parametrize("a", [[], [0.0, 1.0], [np.nan], [-1.0]])
def test_grid_search_rejects_bad_axes(toy, a):
    with pytest.raises(ValueError, match="values must be finite numbers > 0"):
        T.grid_search(toy, a, [0.5])


def test_sharded_grid_search_equals_one_device(paper_grid):
    """8 forced host devices (a subprocess: XLA_FLAGS must be set before jax starts) give
    the same values as one device, bit for bit; 9 schedules are padded to 16."""
    script = textwrap.dedent(f"""
        import json, jax, numpy as np
        jax.config.update("jax_enable_x64", True)
        from mdm_ot import tuning as T
        assert len(jax.local_devices()) == 8, jax.local_devices()
        obj = T.make_objective("modes", {K})
        eight = T.grid_search(obj, {SMALL_A}, {SMALL_B})
        assert eight.settings["num_devices"] == 8
        from jax.sharding import Mesh, NamedSharding, PartitionSpec
        sh = NamedSharding(Mesh(np.array(jax.local_devices()), ("batch",)), PartitionSpec("batch"))
        x = jax.device_put(jax.numpy.asarray(np.full(16, 0.5)), sh)
        # about an internal: the batched evaluator's output is sharded over the 8 devices
        from mdm_ot.tuning._search import _outputs_batch
        out = _outputs_batch(obj, x, x)
        assert len(out.sharding.device_set) == 8, out.sharding
        print(json.dumps({{"values": eight.values.tolist(), "best": [eight.best.a, eight.best.b]}}))
    """)
    # keep the parent's XLA flags (conftest.py's optimization level), so that both sides are
    # compiled alike and bit-for-bit equality is the right test
    flags = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    a, b = T.parse_grid("paper")
    rows = [int(np.flatnonzero(a == v)[0]) for v in SMALL_A]
    cols = [int(np.flatnonzero(b == v)[0]) for v in SMALL_B]
    np.testing.assert_array_equal(np.array(got["values"]), paper_grid.values[np.ix_(rows, cols)])
    sub = paper_grid.values[np.ix_(rows, cols)]
    i, j = np.unravel_index(np.argmin(sub), sub.shape)
    assert got["best"] == [SMALL_A[i], SMALL_B[j]]


# ----------------------------------------------------------------------------- two-stage


def test_two_stage_protocol_records(toy, paper_grid):
    a, b = T.parse_grid("paper")
    res = T.two_stage(toy, a, b, coarse_size=64, fine_size=1024, top_k=10, seed=3, chunk_size=CHUNK)
    np.testing.assert_allclose(res.full, paper_grid.values, rtol=RTOL, atol=ATOL)
    # the shortlist is the top 10 of the coarse pass, the best is the fine pass's best in it
    top = np.argsort(res.coarse.ravel(), kind="stable")[:10]
    assert [np.ravel_multi_index(ij, res.coarse.shape) for ij in res.shortlist] == list(top)
    fine_short = np.array([res.fine[i, j] for i, j in res.shortlist])
    assert np.isnan(res.fine).sum() == 90 and np.all(np.isfinite(fine_short))
    i, j = res.shortlist[int(np.argmin(fine_short))]
    assert (res.best.a, res.best.b, res.best.value) == (a[i], b[j], paper_grid.values[i, j])
    assert (res.best_full.a, res.best_full.b) == (paper_grid.best.a, paper_grid.best.b)
    # Kendall's tau recomputed independently (scipy) from the recorded values
    np.testing.assert_allclose(res.tau_coarse, scipy.stats.kendalltau(res.coarse.ravel(), res.full.ravel()).statistic,
                               rtol=RTOL, atol=ATOL)
    full_short = np.array([res.full[i, j] for i, j in res.shortlist])
    np.testing.assert_allclose(res.tau_fine, scipy.stats.kendalltau(fine_short, full_short).statistic,
                               rtol=RTOL, atol=ATOL)
    assert res.tau_coarse > 0.5  # 64 draws already rank the toy's grid well
    # deterministic for a seed, different for another
    again = T.two_stage(toy, a, b, coarse_size=64, fine_size=1024, top_k=10, seed=3, chunk_size=CHUNK)
    np.testing.assert_array_equal(again.coarse, res.coarse)
    other = T.two_stage(toy, a, b, coarse_size=64, fine_size=1024, top_k=10, seed=4, chunk_size=CHUNK, full="none")
    assert not np.array_equal(other.coarse, res.coarse)
    assert other.tau_coarse is None and other.full is None
    d = res.to_dict()
    assert {"best", "grid", "settings", "two_stage"} <= set(d)
    assert d["two_stage"]["kendall_tau_coarse_vs_full"] == res.tau_coarse


def test_subset_estimates_converge_to_exact(toy):
    """The estimate from N draws: 'invalid' is a binomial proportion around the exact mass
    off the support (5 standard deviations), and the plug-in KL approaches the exact KL."""
    a, b = np.array([0.3, 0.7]), np.array([0.4, 0.9])
    p = [toy.output(beta_schedule(ai, bi)) for ai, bi in zip(a, b, strict=True)]
    n = 1 << 16
    for metric in ("invalid", "kl"):
        obj = T.ExactDivergence.create(toy.q, K, metric=metric)
        exact = np.array([float(obj(beta_schedule(ai, bi))) for ai, bi in zip(a, b, strict=True)])
        est = np.array([float(obj.estimate(pi, n, jax.random.PRNGKey(0))) for pi in p])
        if metric == "invalid":
            sd = np.sqrt(exact * (1 - exact) / n)
            assert np.all(np.abs(est - exact) < 5 * sd + 1e-12), (est, exact, sd)
        else:
            np.testing.assert_allclose(est, exact, rtol=0, atol=0.02)  # O(sqrt(states / N))
    # about an internal: the inverse-CDF draw never hits an outcome of probability 0
    from mdm_ot.tuning._objectives import _draw_counts

    counts = np.asarray(_draw_counts(jnp.array([0.2, 0.0, 0.5, 0.3]), 1000, jax.random.PRNGKey(0)))
    assert counts.sum() == 1000 and counts[1] == 0


def test_two_stage_user_callable_and_errors():
    def fn(s):
        return float(np.asarray(s(jnp.asarray(0.5))))

    def subset_fn(s, size, seed):  # the full value plus seeded noise that shrinks with size
        return fn(s) + np.random.default_rng(seed).normal() / np.sqrt(size)

    obj = T.CallableObjective(fn, subset_fn=subset_fn, name="alpha(0.5)")
    res = T.two_stage(obj, SMALL_A, SMALL_B, coarse_size=10**6, fine_size=10**8, top_k=4, full="shortlist")
    assert len(res.shortlist) == 4 and np.isnan(res.full).sum() == 5
    ref = np.array([[fn(beta_schedule(a, b)) for b in SMALL_B] for a in SMALL_A])
    assert res.best.value == ref.min()  # same noise for every schedule: the ranking survives
    np.testing.assert_allclose(res.tau_fine, 1.0, rtol=RTOL, atol=ATOL)
    with pytest.raises(ValueError, match="no subset estimate"):
        T.two_stage(T.ReducedEnergy(), [1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="no subset estimate"):
        T.two_stage(T.CallableObjective(fn), [1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="top_k"):
        T.two_stage(obj, [1.0], [1.0], top_k=0)
    with pytest.raises(ValueError, match="full"):
        T.two_stage(obj, [1.0], [1.0], full="most")


# ----------------------------------------------------------------------------- gradients


def test_beta_gradient_reaches_grid_optimum_under_100_evaluations(beta_run, paper_grid, toy):
    """The benchmark goal, as a property of the default settings (from linear, Adam 0.1)."""
    n = beta_run.evaluations_to_reach(paper_grid.best.value)
    assert n is not None and n < 100, n
    assert beta_run.best_value <= paper_grid.best.value
    # the recorded values are the objective at the recorded points
    pts = beta_run.params[[0, 10, beta_run.best_index]]
    for (a, b), v in zip(pts, beta_run.values[[0, 10, beta_run.best_index]], strict=True):
        np.testing.assert_allclose(float(toy(beta_schedule(a, b))), v, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(beta_run.params[0], [0.5, 0.5], rtol=RTOL, atol=ATOL)
    assert beta_run.to_dict()["num_evaluations"] == 100


@pytest.mark.slow
def test_free_form_bounds_beta_and_matches_brute_force(beta_run, paper_grid, toy):
    free_run = T.tune_free_form(toy, steps=300)
    # start: zero logits = the linear schedule = Beta(1/2, 1/2) (Proposition 3.7)
    np.testing.assert_allclose(free_run.values[0], paper_grid.values[4, 4], rtol=1e-10, atol=1e-12)
    # the free-form family contains every schedule's effect on the grid
    assert free_run.best_value <= beta_run.best_value + 1e-9
    # brute force over alpha_1 < alpha_2 on a 1/80 lattice, independent of the optimizer
    h = 1 / 80
    pairs = np.array([(x, y) for x in np.arange(h, 1, h) for y in np.arange(h, 1, h) if x < y - 1e-12])
    alphas = jnp.asarray(np.column_stack([np.zeros(len(pairs)), pairs, np.ones(len(pairs))]))
    vals = np.asarray(jax.jit(jax.vmap(lambda al: toy(TabulatedSchedule.from_alphas(al))))(alphas))
    assert free_run.best_value <= vals.min() + 1e-12
    assert vals.min() <= free_run.best_value + 5e-3  # lattice error O(h^2) in value
    best_pair = pairs[np.argmin(vals)]
    np.testing.assert_allclose(free_run.best_params[1:3], best_pair, rtol=0, atol=3 * h)
    al = free_run.best_params
    assert al[0] == 0 and al[-1] == 1 and np.all(np.diff(al) > 0)


def test_gradient_on_energies_reaches_closed_forms():
    # Beta family, gamma = t: e = pi^2 B(2a-1,2b-1)/B(a,b)^2, minimum pi^2 at (1, 1) (Lemma 3.5)
    r = T.tune_beta(T.ReducedEnergy(), steps=150)
    np.testing.assert_allclose(r.best_value, math.pi**2, rtol=1e-6, atol=0)
    np.testing.assert_allclose(r.best_params, [1.0, 1.0], rtol=0, atol=1e-2)
    # free form, discrete energy: minimum 8K^2(1 - cos(pi/2K)) at alpha_k = sin^2(pi k / 2K) (App. D.5)
    f = T.tune_free_form(T.DiscreteEnergy.create(3), steps=300)
    np.testing.assert_allclose(f.best_value, float(discrete_geodesic_minimum(3)), rtol=1e-9, atol=0)
    np.testing.assert_allclose(f.best_params, np.sin(np.pi * np.arange(4) / 6) ** 2, rtol=0, atol=1e-5)


def test_gradient_runs_are_deterministic_for_a_seed():
    runs = [T.tune_beta(T.ReducedEnergy(), steps=5, restarts=3, seed=s) for s in (0, 0, 1)]
    np.testing.assert_array_equal(runs[0].params, runs[1].params)
    np.testing.assert_array_equal(runs[0].values, runs[1].values)
    np.testing.assert_array_equal(runs[0].params[:5], runs[2].params[:5])  # the first start is init
    assert not np.array_equal(runs[0].params[5:], runs[2].params[5:])  # restarts follow the seed
    # a restart where e = +inf (a or b <= 1/2) costs one evaluation and is dropped
    for r in runs:
        starts = np.exp(np.random.default_rng(r.settings["seed"]).uniform(np.log(0.1), np.log(3.0), (3, 2)))
        bad = int(np.sum(np.any(starts <= 0.5, axis=1)))
        assert r.num_evaluations == 5 + 5 * (3 - bad) + bad
        assert np.isinf(r.values).sum() == bad
    assert runs[0].settings["seed"] == 0 and runs[2].settings["seed"] == 1


def test_gradient_undoes_steps_into_divergence():
    """From (0.6, 0.6) with a huge step, Adam jumps to a <= 1/2 (e = +inf): the step is
    undone and the learning rate halved, and the run still converges."""
    r = T.tune_beta(T.ReducedEnergy(), init=(0.6, 0.6), steps=120, learning_rate=2.0)
    assert np.isinf(r.values).any()
    np.testing.assert_allclose(r.best_value, math.pi**2, rtol=1e-3, atol=0)
    with pytest.raises(ValueError, match="not finite at the starting point"):
        T.tune_beta(T.ReducedEnergy(), init=(0.4, 1.0), steps=3)


def test_gradient_refuses_count_sampler_and_non_differentiable():
    cnt = T.make_objective("modes", 3, sampler="count")
    for fn in (T.tune_beta, T.tune_free_form):
        with pytest.raises(ValueError, match="piecewise constant"):
            fn(cnt)
    with pytest.raises(ValueError, match="not differentiable"):
        T.tune_beta(T.CallableObjective(lambda s: 0.0))
    with pytest.raises(ValueError, match="steps"):
        T.tune_beta(T.ReducedEnergy(), steps=0)
    with pytest.raises(ValueError, match="init"):
        T.tune_beta(T.ReducedEnergy(), init=(-1.0, 1.0))


# ----------------------------------------------------------------------------- export


def _llada_num_transfer_tokens(mask_num: int, steps: int) -> list[int]:
    """LLaDA's get_num_transfer_tokens for one sequence, rewritten in plain Python."""
    base, rem = divmod(mask_num, steps)
    return [base + (1 if i < rem else 0) for i in range(steps)]


@pytest.mark.parametrize("length, steps, block", [(256, 64, None), (128, 8, 32), (10, 4, None)])
def test_export_linear_is_llada_split(length, steps, block):
    tab = export_table("linear", length, steps, block_length=block)
    nb = tab["num_blocks"]
    spb = steps // nb
    blk = length // nb
    assert tab["tokens_per_block_step"] == [_llada_num_transfer_tokens(blk, spb)] * nb
    assert tab["tokens_per_step"] == _llada_num_transfer_tokens(blk, spb) * nb
    np.testing.assert_allclose(tab["alpha_grid"], np.arange(spb + 1) / spb, rtol=RTOL, atol=ATOL)


def test_export_beta_schedule_counts():
    tab = export_table("beta:1,0.2", 256, 16, block_length=32)
    assert tab["num_blocks"] == 8 and tab["steps_per_block"] == 2
    x = 32 * np.diff(np.asarray(alpha_on_grid(parse_alpha("beta:1,0.2"), default_grid(2))))
    for row in tab["tokens_per_block_step"]:
        assert sum(row) == 32
        assert all(math.floor(xi) <= c <= math.ceil(xi) for c, xi in zip(row, x, strict=True))
    assert default_export_name(tab) == "tokens_beta_1_0.2_L256_K16_B32.npy"
    with pytest.raises(ValueError, match="does not divide"):
        export_table("linear", 10, 4, block_length=3)
    with pytest.raises(ValueError, match="unknown mask schedule"):
        export_table("cubic", 10, 4)


def test_gradient_ascends_a_maximized_objective():
    """A maximized objective (-e) climbs: Adam on the objective's own sign."""
    obj = T.CallableObjective(lambda s: -reduced_energy(s).value, maximize=True, jittable=True,
                              differentiable=True, name="-e")
    res = T.tune_beta(obj, init=(0.8, 1.5), steps=20)
    start = float(res.values[0])  # the objective's own sign: -e at the start
    assert res.best_value > start + 1e-3, (res.best_value, start)
    assert res.best_value <= -np.pi**2 * (1 - 1e-12)  # Lemma 3.5: e >= pi^2
