"""The schedule table (mdm_ot.experiments.antibody.table) end to end with a toy denoiser, and its CLI rendering."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from _antibody_helpers import PrevTokenDenoiser

from mdm_ot import cli
from mdm_ot.experiments.antibody import data, table, tasks


def _records(n, length, seed):
    rng = np.random.default_rng(seed)
    return [data.Germline("human", "H", f"IGHV{i % 3 + 1}-1*01", "IGHJ1*01", f"IGHV{i % 3 + 1}",
                          "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), length)),
                          np.arange(1, length + 1))
            for i in range(n)]


@pytest.fixture(scope="module")
def result():
    cfg = dataclasses.replace(
        table.SMALL, task="random:0.5", steps=(2,), samplers=(tasks.SAMPLERS[0],), coarse=(0.5,),
        shortlist=1, fine_step=0.1, stage1_size=4, stage2_size=4, batch_size=4, rows_per_call=4,
        pll=True,
    )
    den = PrevTokenDenoiser.random(0, 24, scale=2.0)
    tune = table.prepare(_records(4, 20, 1), cfg.task, 0, None, "toy tune", 24)
    tests = [table.prepare(_records(4, 18, 2), cfg.task, 1, None, "toy test", 24),
             table.prepare(_records(4, 24, 3), cfg.task, 1, 3, "toy other", 24)]
    seen = []
    res = table.run_table(den, cfg, tune, tests, log=lambda m: None,
                          checkpoint=lambda r: seen.append(len(r["cells"])))
    return res, seen


def test_table_structure(result):
    res, seen = result
    rows = list(table.ROWS) + ["tuned"]
    assert [c["row"] for c in res["cells"]] == rows * 2
    assert seen == [len(rows), 2 * len(rows)]
    assert [s["n"] for s in res["sets"]["test"]] == [4, 3]
    tuned = res["tuned"]["count-confidence"][2]
    assert len(tuned["stage1"]) == 1 and len(tuned["stage2"]) == 9
    assert (tuned["a"], tuned["b"]) in [(a, b) for a, b, _ in tuned["stage2"]]
    for c in res["cells"]:
        assert 0 <= c["recovery"] <= 1 and c["recovery_se"] >= 0
        if c["row"] == "linear":
            assert c["recovery_minus_linear"] == 0 and c["recovery_minus_linear_se"] == 0
    # PLL on the first test set only
    assert all(("pll" in c) == (c["set"] == "toy test") for c in res["cells"])
    assert all(c["pll"] < 0 for c in res["cells"] if "pll" in c)


def test_identical_schedules_give_identical_cells(result):
    """linear = beta:0.5,0.5 and sin2 = beta:1,1 exactly (Proposition 3.7): same samples."""
    res, _ = result
    cfg = dataclasses.replace(table.SMALL, task="random:0.5", steps=(2,), samplers=(tasks.SAMPLERS[0],),
                              rows=("linear", "beta:0.5,0.5", "sin2", "beta:1,1"), tune=False,
                              batch_size=4, rows_per_call=4, pll=False)
    den = PrevTokenDenoiser.random(0, 24, scale=2.0)
    t = table.prepare(_records(4, 18, 2), cfg.task, 1, None, "toy test", 24)
    r = table.run_table(den, cfg, t, [t], log=lambda m: None)
    rec = {c["row"]: c["recovery"] for c in r["cells"]}
    assert rec["linear"] == rec["beta:0.5,0.5"] and rec["sin2"] == rec["beta:1,1"]


def test_markdown_png_json_and_cli_render(result, tmp_path, capsys):
    res, _ = result
    md = table.to_markdown(res)
    assert "## recovery: toy test, count-confidence" in md and "## PLL: toy test" in md
    assert "## PLL: toy other" not in md
    assert md.count("| tuned |") == 5  # recovery and PLL tables, and a model-calls table per recovery table
    paths = table.write(res, tmp_path / "a")
    with open(paths["json"]) as f:
        assert json.load(f)["cells"] == json.loads(json.dumps(res["cells"]))
    with open(paths["png"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert cli.main(["antibody", "table", "--from-json", paths["json"], "--out", str(tmp_path / "b"),
                     "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cells"] == json.loads(json.dumps(res["cells"])) and out["files"]["png"].endswith(".png")


def _count_calls(alphas, n):
    """Steps with a token of the largest remainder split of n tokens, written out here."""
    x = n * np.diff(alphas) / (alphas[-1] - alphas[0])
    c = np.floor(x).astype(int)
    for i in np.argsort(-(x - c), kind="stable")[: n - c.sum()]:
        c[i] += 1
    return int(np.count_nonzero(c))


def test_model_calls_per_sequence():
    """Masked counts differ between sequences: the count sampler's calls are counted per
    sequence (mean and range), the stochastic sampler's expected calls averaged."""
    from mdm_ot.schedules import parse_alpha

    cfg = dataclasses.replace(table.SMALL, task="random:0.6", steps=(2,), rows=("linear", "beta:1,0.2"), tune=False,
                              batch_size=4, rows_per_call=4, pll=False)
    den = PrevTokenDenoiser.random(0, 24, scale=2.0)
    t = table.prepare(_records(4, 18, 2) + _records(4, 24, 5), cfg.task, 1, None, "toy test", 24)
    n = t.hidden.sum(1)
    r = table.run_table(den, cfg, t, [t], log=lambda m: None)
    for spec in cfg.rows:
        sched = parse_alpha(spec)
        a = np.array([float(sched(v)) for v in (0.0, 0.5, 1.0)])
        calls = np.array([_count_calls(a, int(ni)) for ni in n])
        cell = next(c for c in r["cells"] if c["row"] == spec and c["sampler"] == "count-confidence")
        assert cell["model_calls"] == pytest.approx(calls.mean(), abs=1e-12)
        assert cell["model_calls_range"] == [calls.min(), calls.max()]
        cell = next(c for c in r["cells"] if c["row"] == spec and c["sampler"] != "count-confidence")
        assert cell["model_calls"] == 2
        expected = np.mean([np.sum(1 - (1 - np.diff(a)) ** ni) for ni in n])
        assert cell["expected_model_calls"] == pytest.approx(expected, rel=1e-5)  # float32 grid
    c = next(c for c in r["cells"] if c["row"] == "beta:1,0.2" and c["sampler"] == "count-confidence")
    assert c["model_calls_range"] == [1, 2]  # n = 11: [0, 11], 1 call; n = 14: [1, 13], 2 calls
    md = table.to_markdown(r)
    assert f"| beta:1,0.2 | {c['model_calls']:.2f} [1, 2] |" in md


def test_config_validation():
    with pytest.raises(ValueError, match="unknown task"):
        table.TableConfig(task="cdr9")
    with pytest.raises(ValueError, match="steps"):
        table.TableConfig(steps=(0, 2))
    with pytest.raises(ValueError, match="chain"):
        table.TableConfig(chain="X")
    with pytest.raises(ValueError, match="batch_size"):
        table.TableConfig(batch_size=0)
    for argv in (["antibody", "table", "--task", "cdr9"], ["antibody", "table", "--steps", "2,x"]):
        with pytest.raises(SystemExit) as info:  # refused by argparse, before any work
            cli.main(argv)
        assert info.value.code == 2
