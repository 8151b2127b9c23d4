"""The exact comparison script (mdm_ot.experiments.model_only.exact_table) on one small target;
the full K = 2..16 table is the script's, not a test's."""

import json

import numpy as np
import pytest

from mdm_ot.experiments.model_only.exact_table import (
    METHODS,
    compare,
    main,
    parity_table,
    random_table,
)
from mdm_ot.model_only import chain_rule_kl, exact_profile


@pytest.mark.slow
@pytest.mark.parametrize("sampler, order", [("stochastic", "random"), ("count", "random")])
def test_compare_on_a_small_table(sampler, order):
    q = random_table(3, 2, 0)
    r = compare(q, 2, sampler, order, free_steps=5)
    v = r["kl"]
    assert set(v) == set(METHODS) and all(np.isfinite(x) and x >= -1e-12 for x in v.values())
    assert r["evaluations"]["model-only"] == 0 and r["evaluations"]["best-beta"] == 100
    # the free form is the best any schedule does (it starts from the best grid found)
    assert v["free-form"] <= min(v.values()) + 1e-12
    # the exact-per-step grid's output KL is below its path KL (data processing)
    prof = exact_profile(q, sampler=sampler)
    grid = np.asarray(r["grids"]["model-only-exact"])
    counts = np.round(np.diff(grid) * 3).astype(int) if sampler == "count" else None
    assert v["model-only-exact"] <= chain_rule_kl(prof, grid, counts=counts) + 1e-12


def test_parity_target_has_pair_dependence_only_with_two_masked():
    q = parity_table(4)
    prof = exact_profile(q)
    # I(x_i; x_j | rest) = log 2 exactly when the two are the only masked positions
    assert np.allclose(prof.coefficients[:, 2], [0, 0, 6 * np.log(2), 0, 0], rtol=0, atol=1e-12)
    assert prof.coefficients[4, 4] > 0  # the whole-sequence dependence the pairs miss


@pytest.mark.slow
def test_quick_run_writes_the_table(tmp_path):
    out = tmp_path / "res"
    assert main(["--quick", "--out", str(out)]) == 0
    d = json.loads((out / "exact.json").read_text())
    assert d["quick"] and {r["K"] for r in d["rows"]} == {2, 3}
    assert "| K | model-only |" in (out / "exact.md").read_text()
    assert (out / "exact_kl.png").read_bytes()[:4] == b"\x89PNG"
