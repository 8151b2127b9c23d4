"""The model-only profile of the real models (mdm_ot.experiments.model_only.real, issue 16):
the shipped code-line model on a few samples (its wiring: which positions are infilled, what
the profile costs, a dependent model against one that ignores its input), the comparison's
cost bookkeeping against the committed code table, clean errors without the AntiBERTy weights;
the real AntiBERTy weights only in a slow test."""

from __future__ import annotations

import json
import pathlib

import jax
import numpy as np
import pytest

from mdm_ot.experiments.antibody import fetch
from mdm_ot.experiments.codelines import evaluate as ev
from mdm_ot.experiments.model_only import model_profile
from mdm_ot.experiments.model_only.real import compare, write

REPO = pathlib.Path(__file__).resolve().parents[2]
FRACTIONS = (1.0, 0.5, 0.03125)  # m = 64, 32 and 2 of the line's 64 positions


@pytest.fixture(scope="module")
def shipped():
    return ev.load_model()


def test_code_profile_infills_the_line_only_and_counts_its_calls(shipped):
    prof = model_profile("code", num_samples=3, seed=0, fractions=FRACTIONS, params_config=shipped)
    info = prof.info
    assert prof.sampler == "count" and prof.method == "monte-carlo" and prof.length == 64
    assert info["model"] == "code" and info["split"] == "tune" and info["x_source"].startswith("model")
    assert info["infilled_per_input"] == [64, 64]  # the prompt's 64 positions are context
    np.testing.assert_allclose(prof.levels, [0.0, 0.5, 0.96875], rtol=0, atol=1e-12)
    assert info["completion_calls"] == 3 * 64  # one token per step
    assert info["calls_per_level"] == [6, 6, 6]  # m >= 2 at every level: 2 calls per sample
    assert prof.model_calls == 3 * 64 + 18
    assert np.all(np.isfinite(prof.pair_dependence)) and np.all(np.isfinite(prof.stderr))
    # a 64-position line is strongly dependent when all of it is masked (padding runs, brackets)
    assert prof.pair_dependence[0] > 1.0


def test_a_model_that_ignores_its_input_has_zero_profile(shipped):
    params, config, meta = shipped
    blind = jax.tree_util.tree_map(np.zeros_like, params)  # constant logits whatever the input
    # the same sizes as the test above: the compiled programs are shared
    prof = model_profile("code", num_samples=3, seed=0, fractions=FRACTIONS, params_config=(blind, config, meta))
    np.testing.assert_allclose(prof.pair_dependence, 0.0, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(model="gpt"), "model must be one of antibody, code"),
    (dict(model="code", num_samples=1), "num_samples"),
])
def test_bad_arguments(kwargs, match):
    model = kwargs.pop("model")
    with pytest.raises(ValueError, match=match):
        model_profile(model, **({"num_samples": 2} | kwargs))


def test_antibody_without_the_weights_says_how_to_get_them(tmp_path):
    with pytest.raises(ValueError, match="mdm-ot antibody fetch"):
        model_profile("antibody", num_samples=2, root=tmp_path)


@pytest.mark.slow  # ~40 s: six cells of the code model's samplers
def test_comparison_rows_and_the_costs_of_choosing(shipped, tmp_path):
    out = compare(("code",), profile_samples=2, n_test=2, code_steps=(4,), params_config=shipped)
    r = out["models"]["code"]
    table = json.loads((REPO / "docs" / "results" / "code" / "table.json").read_text())
    s, tu = table["settings"], table["tuning"]["completion"]
    # the tuning evaluated 100 grid points on tune_small samples and 13 candidates on
    # tune_large, each a K = 8 run: its cost in calls, recomputed here from the table
    assert (len(tu["grid"]), len(tu["stage2"]), tu["steps"]) == (100, 13, 8)
    expected = (100 * s["tune_small"] + 13 * s["tune_large"]) * 8
    for sampler in ("count", "stochastic"):
        cell = r["samplers"][sampler]["4"]
        assert list(cell["rows"])[:3] == ["linear", f"tuned {tu['best']['spec']}", "model-only"]
        assert cell["choice_calls"] == {"tuned": expected, "model-only": r["profile"]["model_calls"]}
        grid = np.asarray(cell["alpha_grid"]["model-only"])
        assert grid.shape == (5,) and grid[0] == 0 and grid[-1] == 1 and np.all(np.diff(grid) >= 0)
        for row in cell["rows"].values():
            assert 0 <= row["metric"][0] <= 1
        assert cell["rows"]["linear"]["minus_linear"] == [0.0, 0.0]
    count = r["samplers"]["count"]["4"]["rows"]
    assert count["linear"]["model_calls"] == 4
    # Beta(0.1, 1) at K = 4 has an empty step: 3 calls, so the model-only and linear
    # schedules are also run at K = 3 (equal model calls); the stochastic sampler has none
    assert count[f"tuned {tu['best']['spec']}"]["model_calls"] == 3
    assert count["model-only, K=3"]["model_calls"] == count["linear, K=3"]["model_calls"] == 3
    assert len(r["samplers"]["stochastic"]["4"]["rows"]) == 3
    paths = write(out, tmp_path)
    assert json.loads(pathlib.Path(paths["json"]).read_text())["models"]["code"]["metric"] == "similarity"
    assert "| 4 | model-only |" in pathlib.Path(paths["md"]).read_text()
    assert pathlib.Path(paths["png"]).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_antibody_profile_with_the_real_weights():
    if fetch.missing_files():
        pytest.skip(f"AntiBERTy weights not in the cache: run `mdm-ot antibody fetch` (cache {fetch.antibody_dir()})")
    prof = model_profile("antibody", num_samples=4, seed=0, fractions=(1.0, 0.5))
    assert prof.info["model"] == "antibody" and prof.sampler == "count"
    lo, hi = prof.info["infilled_per_input"]
    assert 10 <= lo <= hi <= 30  # CDR1 + CDR2 of a human heavy chain, IMGT 27-38 and 56-65
    assert prof.model_calls == prof.info["completion_calls"] + sum(prof.info["calls_per_level"])
    assert prof.pair_dependence[0] > 0 and np.all(np.isfinite(prof.stderr))
