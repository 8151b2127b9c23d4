"""The one two-stage protocol (`two_stage_search`) on plain scores, and the `tune` facade."""

import numpy as np
import pytest

from mdm_ot import tuning as T

COARSE = tuple(np.round(np.arange(0.1, 1.01, 0.1), 2))


def test_two_stage_search_with_a_finer_pass_finds_the_maximum():
    """A batched score of (a, b) arrays, neighbours at +-0.05 around the shortlist (the
    antibody table's protocol)."""
    calls = []

    def score(points, n, stage):
        ab = np.asarray(points, np.float64)
        a, b = ab[:, 0], ab[:, 1]
        calls.append((len(a), n))
        return -((a - 0.42) ** 2) - (b - 0.77) ** 2

    grid = [(a, b) for a in COARSE for b in COARSE]
    res = T.two_stage_search(score, grid, small=16, large=48, top_k=2, maximize=True,
                             expand=T.grid_neighbours(0.05))
    assert tuple(float(v) for v in res.best) == (0.4, 0.75)
    assert calls[0] == (100, 16) and calls[1][1] == 48
    assert len(res.stage1) == 100
    # shortlist (0.4, 0.8) and (0.5, 0.8): 9 + 9 neighbours, 3 shared
    assert len(res.stage2) == 15
    np.testing.assert_allclose(res.best_value, -(0.02**2) - (0.02**2), rtol=1e-12, atol=1e-15)


def test_two_stage_search_shortlist_ties_keep_order_and_nan_is_worst():
    def score(points, n, stage):
        return [{"p": 1.0, "q": 2.0, "r": 2.0, "s": np.nan, "t": 0.0}[p] for p in points]

    res = T.two_stage_search(score, "pqrst", small=1, large=1, top_k=4, maximize=True)
    assert res.shortlist == ["q", "r", "p", "t"]
    assert res.best == "q"  # first among equals in stage 2
    res = T.two_stage_search(score, "pqrst", small=1, large=1, top_k=5, maximize=False)
    assert res.shortlist == ["t", "p", "q", "r", "s"]
    assert res.best == "t"  # the NaN candidate reaches stage 2 but never wins it


def test_two_stage_search_extras_compete_only_when_asked():
    def score(points, n, stage):
        return [10.0 if p == "x" else float(p) for p in points]

    res = T.two_stage_search(score, [1, 2, 3], small=1, large=1, top_k=1, maximize=True, extra=["x", 3])
    assert res.shortlist == [3] and res.candidates == [3, "x"] and res.num_shortlisted == 1
    assert res.best == 3
    res = T.two_stage_search(score, [1, 2, 3], small=1, large=1, top_k=1, maximize=True, extra=["x"],
                             extra_compete=True)
    assert res.best == "x" and res.best_value == 10.0
    with pytest.raises(ValueError, match="top_k"):
        T.two_stage_search(score, [1], small=1, large=1, top_k=0)
    with pytest.raises(ValueError, match="values for"):
        T.two_stage_search(lambda p, n, s: [1.0], [1, 2], small=1, large=1, top_k=1)


def test_tune_facade_picks_the_method():
    obj = T.ReducedEnergy()
    grid = ((0.6, 1.0, 2.0), (0.6, 1.0))
    g = T.tune(obj, "grid", grid=grid)
    ref = T.grid_search(obj, *grid)
    np.testing.assert_array_equal(g.values, ref.values)
    assert (g.best.a, g.best.b) == (1.0, 1.0)
    s = T.tune(obj, "gradient", steps=3)
    assert s.family == "beta" and s.num_evaluations == 3
    f = T.tune(T.DiscreteEnergy.create(2), "free-form", steps=2)
    assert f.family == "free"
    # a plain function is a user objective (evaluated in a loop)
    u = T.tune(lambda sched: float(sched(0.5)), "grid", grid=((0.5,), (0.5, 1.0)))
    assert u.values.shape == (1, 2)
    with pytest.raises(ValueError, match="unknown method"):
        T.tune(obj, "annealing")
    with pytest.raises(ValueError, match="takes no grid"):
        T.tune(obj, "gradient", grid="paper")
