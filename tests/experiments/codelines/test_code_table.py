"""The paper-format table: the two-stage search as the table records it, a tiny end-to-end run, the CLI."""

import json

import numpy as np
import pytest

from mdm_ot.experiments.codelines import data as D
from mdm_ot.experiments.codelines import model as M
from mdm_ot.experiments.codelines import table as TB

TINY = M.ModelConfig(num_layers=1, d_model=16, num_heads=2, d_ff=32)


def test_two_stage_search_finds_the_optimum_of_a_known_score():
    calls = []

    def score(spec, n, stage):
        a, b = (float(v) for v in spec.split(":")[1].split(","))
        calls.append((spec, n, stage))
        value = -((a - 0.7) ** 2) - (b - 0.2) ** 2
        # stage 1 sees a noisy version that prefers (0.6, 0.2) over (0.7, 0.2)
        if stage == 1 and (a, b) == (0.6, 0.2):
            value += 0.05
        return value

    grid = (0.2, 0.6, 0.7, 1.0)
    out = TB.tune_schedule(score, grid, grid, n_small=3, n_large=9, shortlist=3)
    assert len(out["grid"]) == 16
    assert out["shortlist"][0] == "beta:0.6,0.2"  # stage 1's (noisy) winner
    assert "beta:0.7,0.2" in out["shortlist"]
    assert out["best"]["spec"] == "beta:0.7,0.2"  # stage 2 corrects it
    assert (out["best"]["a"], out["best"]["b"]) == (0.7, 0.2)
    assert sum(1 for c in calls if c[2] == 1 and c[1] == 3) == 16
    assert sum(1 for c in calls if c[2] == 2 and c[1] == 9) == 3


def test_two_stage_extras_are_scored_but_not_chosen():
    def score(spec, n, stage):
        return 10.0 if spec == "sin" else float(spec.split(":")[1].split(",")[0])

    out = TB.tune_schedule(score, (0.1, 0.2), (0.5,), n_small=1, n_large=1, shortlist=1, extra=("sin",))
    assert out["stage2"]["sin"] == 10.0
    assert out["best"]["spec"] == "beta:0.2,0.5"


def test_two_stage_extras_compete_when_asked():
    def score(spec, n, stage):
        fixed = {"sin": 10.0, "beta:0.9,0.3": 20.0}
        return fixed[spec] if spec in fixed else float(spec.split(":")[1].split(",")[0])

    kw = dict(n_small=1, n_large=1, shortlist=1)
    out = TB.tune_schedule(score, (0.1, 0.2), (0.5,), extra=("sin",), extra_compete=True, **kw)
    assert out["best"] == {"spec": "sin", "a": None, "b": None, "value": 10.0}
    # a Beta baseline that wins keeps its (a, b)
    out = TB.tune_schedule(score, (0.1, 0.2), (0.5,), extra=("sin", "beta:0.9,0.3"), extra_compete=True, **kw)
    assert out["best"] == {"spec": "beta:0.9,0.3", "a": 0.9, "b": 0.3, "value": 20.0}
    # a shortlist point that beats the baselines still wins
    out = TB.tune_schedule(lambda spec, n, stage: 0.0 if spec == "sin" else 1.0, (0.1, 0.2), (0.5,),
                              extra=("sin",), extra_compete=True, **kw)
    assert out["best"]["spec"] == "beta:0.1,0.5"


def _small_data():
    import argparse
    import inspect

    lines = tuple(D.extract_code_lines(inspect.getsource(argparse).encode()))
    files = {
        "train": (D.CodeFile("t.py", lines[:50]),),
        "tune": (D.CodeFile("u.py", lines[50:100]),),
        "test": (D.CodeFile("v.py", lines[100:150]),),
    }
    return D.CodeLines(files, D.fingerprint_of(files), {"python": "test"})


def test_tiny_table_end_to_end(tmp_path):
    params = M.init_params(0, TINY)
    data = _small_data()
    meta = {"data_fingerprint": data.fingerprint, "step": 0}
    result = TB.run_table(
        task="both", steps_list=(2,), tune_steps=2, params_config=(params, TINY, meta), data=data,
        # equal sample sizes everywhere: one compiled sampler per (task, sampler) keeps this fast
        sizes=TB.TableSizes(samples=4, tune_small=4, tune_large=4, shortlist=2),
        baselines=("linear", "beta:1,0.2"), grid=(0.5, 1.0), progress=False,
    )
    assert set(result["results"]) == {"unconditional", "completion"}
    for task, per_sampler in result["results"].items():
        assert set(per_sampler) == {"count", "stochastic"}
        for rows in per_sampler.values():
            names = list(rows)
            assert names[:2] == ["linear", "beta:1,0.2"] and names[2].startswith("tuned beta:")
            for row in rows.values():
                for k in ("2",):
                    cell = row["cells"][k]
                    assert cell["n"] == 4 and 0 <= cell["validity"][0] <= 1
                    if task == "completion":
                        assert 0 <= cell["similarity"][0] <= 1
        tu = result["tuning"][task]
        assert len(tu["grid"]) == 4 and len(tu["shortlist"]) == 2
        assert set(tu["stage2"]) == set(tu["test"]) == set(tu["shortlist"]) | {"linear", "beta:1,0.2"}
    assert result["data_fingerprint"] == data.fingerprint and result["checkpoint"]["fingerprint_matches"]
    assert result["reference"]["all_real_lines_validity"] == 1.0
    paths = TB.write_outputs(result, tmp_path)
    md = paths["markdown"].read_text()
    assert "| linear |" in md and "tuned beta:" in md and "K=2" in md and "Kendall" in md
    assert "best shortlist point beta:" in md  # the paper's protocol unless baselines compete
    assert "| same K |" in md and set(result["comparison"]) == {"unconditional", "completion"}
    assert set(result["comparison"]["completion"]["count"]["same_k"]) == {"2"}
    assert json.loads(paths["json"].read_text())["settings"]["steps"] == [2]
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"


def test_common_random_numbers_identical_schedules_identical_cells():
    """Two rows with the same schedule get identical cells: every row sees the same seeds."""
    params = M.init_params(1, TINY)
    data = _small_data()
    result = TB.run_table(
        task="unconditional", steps_list=(3,), tune=False, params_config=(params, TINY, {}), data=data,
        sizes=TB.TableSizes(samples=3), baselines=("sin2", "beta:1,1"), progress=False,
    )
    rows = result["results"]["unconditional"]["count"]
    assert rows["sin2"]["cells"]["3"]["validity"] == rows["beta:1,1"]["cells"]["3"]["validity"]


def test_bad_table_input():
    with pytest.raises(ValueError, match="task"):
        TB.run_table(task="poems", params_config=(None, TINY, {}), data=_small_data(), progress=False)
    with pytest.raises(ValueError, match="schedule"):
        TB.run_table(task="unconditional", baselines=("zigzag",), params_config=(None, TINY, {}),
                     data=_small_data(), progress=False)


def test_block_length_checks():
    with pytest.raises(ValueError, match="multiple of 4"):
        TB.run_table(task="unconditional", steps_list=(2,), block_length=16, params_config=(None, TINY, {}),
                     data=_small_data(), progress=False)
    with pytest.raises(ValueError, match="divide"):
        TB.run_table(task="unconditional", block_length=24, params_config=(None, TINY, {}),
                     data=_small_data(), progress=False)


def _fake_result():
    # two rows, two samplers, K = 2, 4, 8; main metric (mean, se) chosen by hand
    def row(spec, values):
        return {"spec": spec, "cells": {str(k): {"valid_distinct": v} for k, v in values.items()}}

    rows = {
        "linear": row("linear", {2: (0.2, 0.03), 4: (0.5, 0.04), 8: (0.6, 0.04)}),
        "tuned beta:0.9,0.3": row("beta:0.9,0.3", {2: (0.3, 0.04), 4: (0.55, 0.03), 8: (0.6, 0.05)}),
    }
    return {"settings": {"steps": [2, 4, 8], "main_metric": {"unconditional": "valid_distinct"}},
            "results": {"unconditional": {"count": rows, "stochastic": {"linear": rows["linear"]}}}}


def test_compare_with_linear_same_k_and_half_steps():
    comp = TB.compare_with_linear(_fake_result())
    assert set(comp) == {"unconditional"} and set(comp["unconditional"]) == {"count"}  # no tuned row: left out
    c = comp["unconditional"]["count"]
    assert c["tuned"] == "tuned beta:0.9,0.3" and c["reference"] == "linear"
    np.testing.assert_allclose(c["same_k"]["2"], [0.1, 0.05], rtol=1e-12)
    np.testing.assert_allclose(c["same_k"]["8"], [0.0, np.hypot(0.05, 0.04)], atol=1e-15)
    # tuned at K against linear at 2K: 0.3 - 0.5 at K=2, 0.55 - 0.6 at K=4; no 16 column for K=8
    assert set(c["half_steps"]) == {"2", "4"}
    np.testing.assert_allclose(c["half_steps"]["2"], [-0.2, np.hypot(0.04, 0.04)], rtol=1e-12)
    np.testing.assert_allclose(c["half_steps"]["4"], [-0.05, np.hypot(0.03, 0.04)], rtol=1e-12)


def _split_calls(spec, k, length=D.LINE_LENGTH):
    """Model calls of the count sampler, counted here: alpha from the schedule on the uniform
    grid (float64), the largest remainder split written out, the nonzero steps counted."""
    from mdm_ot.schedules import parse_alpha

    sched = parse_alpha(spec)
    a = np.array([float(sched(i / k)) for i in range(k + 1)])
    x = length * np.diff(a) / (a[-1] - a[0])
    c = np.floor(x).astype(int)
    for i in np.argsort(-(x - c), kind="stable")[: length - c.sum()]:
        c[i] += 1
    return int(np.count_nonzero(c)), a


def test_model_calls_and_equal_calls_comparison():
    params = M.init_params(2, TINY)
    data = _small_data()
    kw = dict(task="unconditional", tune=False, params_config=(params, TINY, {}), data=data,
              sizes=TB.TableSizes(samples=3), progress=False)
    specs = ("linear", "beta:1,0.2")
    result = TB.run_table(steps_list=(6, 8), baselines=specs, **kw)
    count, stoch = (result["results"]["unconditional"][s] for s in ("count", "stochastic"))
    expected_m = {}
    for spec in specs:
        for k in (6, 8):
            m, a = _split_calls(spec, k)
            expected_m[spec, k] = m
            cell = count[spec]["cells"][str(k)]
            assert cell["model_calls"] == m and cell["model_calls_per_block"] == [m]
            # stochastic: every grid step has alpha_k > alpha_(k-1); a position is revealed at
            # step k with probability alpha_k - alpha_(k-1), independently
            sc = stoch[spec]["cells"][str(k)]
            assert sc["model_calls"] == k
            np.testing.assert_allclose(sc["expected_model_calls"], np.sum(1 - (1 - np.diff(a)) ** D.LINE_LENGTH),
                                       rtol=1e-5)  # the sampler's grid is float32
    # the back-loaded Beta schedule leaves steps empty: 5 and 6 calls at K = 6 and 8; linear never does
    assert [expected_m["beta:1,0.2", k] for k in (6, 8)] == [5, 6]
    assert all(expected_m["linear", k] == k for k in (6, 8))
    eq = result["equal_model_calls"]["unconditional"]
    assert set(eq["rows"]) == {"beta:1,0.2"} and set(eq["rows"]["beta:1,0.2"]) == {"6", "8"}
    assert set(eq["reference_cells"]) == {"5", "6"}
    # linear at 6 steps is the table's own column
    assert eq["reference_cells"]["6"] == count["linear"]["cells"]["6"]
    for name, row in eq["rows"].items():
        for k, d in row.items():
            m = expected_m[name, int(k)]
            assert d["model_calls"] == m and eq["reference_cells"][str(m)]["model_calls"] == m
            (mt, et), (mr, er) = count[name]["cells"][k]["valid_distinct"], eq["reference_cells"][str(m)]["valid_distinct"]
            np.testing.assert_allclose(d["difference"], [mt - mr, np.hypot(et, er)], rtol=1e-12, atol=1e-15)
    # linear at 5 steps (not a column) is evaluated as the table evaluates a column K = 5
    other = TB.run_table(steps_list=(5,), baselines=("linear",), **kw)
    assert eq["reference_cells"]["5"] == other["results"]["unconditional"]["count"]["linear"]["cells"]["5"]
    md = TB.to_markdown(result)
    assert "Model calls (count sampler)" in md and "Model calls (stochastic sampler)" in md
    assert "| beta:1,0.2 | 5 | 6 |" in md
    d = eq["rows"]["beta:1,0.2"]["8"]["difference"]
    assert f"m=6: {d[0]:+.3f} ± {d[1]:.3f}" in md and "At equal model calls (unconditional, count sampler)" in md
