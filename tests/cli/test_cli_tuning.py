"""Tests of `mdm-ot tune` and `mdm-ot export` (in process, through mdm_ot.cli.main).

The exact-target runs use the configuration of tests/tuning/test_tuning.py (toy 'modes', K = 3,
stochastic steps, at most 16 schedules per batch) so that they share its compilation.
"""

import json

import numpy as np
import pytest

from mdm_ot import tuning as T
from mdm_ot.cli import main
from mdm_ot.sampling import export_table

SMALL = "0.3:0.7:3,0.2:0.6:3"


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_tune_grid_json_and_plot(capsys, tmp_path):
    png = tmp_path / "heat.png"
    rc, out, err = run(capsys, "tune", "--target", "modes", "--steps", "3", "--grid", SMALL, "--json",
                       "--plot", str(png))
    assert rc == 0, err
    d = json.loads(out)
    assert {"best", "grid", "settings"} <= set(d)
    assert set(d["best"]) >= {"a", "b", "value"}
    assert len(d["grid"]) == 9 and all(set(p) == {"a", "b", "value"} for p in d["grid"])
    # the values are the library's, the best is the smallest
    ref = T.grid_search(T.make_objective("modes", 3), *T.parse_grid(SMALL), chunk_size=16)
    np.testing.assert_allclose([p["value"] for p in d["grid"]], ref.values.ravel(), rtol=1e-12, atol=1e-12)
    k = int(np.argmin([p["value"] for p in d["grid"]]))
    assert (d["best"]["a"], d["best"]["b"]) == (d["grid"][k]["a"], d["grid"][k]["b"])
    assert d["settings"]["target"] == "modes" and d["settings"]["steps"] == 3
    assert d["settings"]["method"] == "grid" and d["settings"]["sampler"] == "stochastic"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tune_two_stage_json_and_text(capsys):
    rc, out, err = run(capsys, "tune", "--target", "modes", "--steps", "3", "--grid", SMALL, "--method",
                       "two-stage", "--top-k", "3", "--coarse-size", "32", "--fine-size", "256", "--json")
    assert rc == 0, err
    d = json.loads(out)
    ts = d["two_stage"]
    assert len(ts["shortlist"]) == 3
    assert -1 <= ts["kendall_tau_coarse_vs_full"] <= 1
    assert {"coarse", "fine", "value"} <= set(d["grid"][0])
    assert d["settings"]["coarse_size"] == 32 and d["settings"]["fine_size"] == 256
    assert {"a": d["best"]["a"], "b": d["best"]["b"]} in ts["shortlist"]
    rc, out, err = run(capsys, "tune", "--target", "modes", "--steps", "3", "--grid", SMALL, "--method",
                       "two-stage", "--top-k", "3", "--coarse-size", "32", "--fine-size", "256")
    assert rc == 0 and "Kendall tau" in out and "best:" in out


def test_tune_gradient_and_free_form_on_energies(capsys, tmp_path):
    rc, out, err = run(capsys, "tune", "--target", "energy", "--steps", "3", "--grid", "0.6:1.4:3,0.6:1.4:3",
                       "--method", "gradient", "--iterations", "150", "--json", "--plot", str(tmp_path / "e.png"))
    assert rc == 0, err
    d = json.loads(out)
    g = d["gradient"]
    assert g["num_evaluations"] == 150 and len(g["trajectory"]) == 150
    np.testing.assert_allclose(g["best"]["value"], np.pi**2, rtol=1e-6, atol=0)
    assert d["best"]["source"] in ("grid", "gradient")
    np.testing.assert_allclose(d["best"]["value"], np.pi**2, rtol=1e-6, atol=0)  # (1, 1) is on the grid
    rc, out, err = run(capsys, "tune", "--target", "discrete-energy", "--steps", "3", "--grid", "1:1:1,1:1:1",
                       "--free-form", "--iterations", "300", "--json")
    assert rc == 0, err
    f = json.loads(out)["free_form"]
    np.testing.assert_allclose(f["alpha"], np.sin(np.pi * np.arange(4) / 6) ** 2, rtol=0, atol=1e-5)
    assert f["gap_beta_minus_free"] >= -1e-9


@pytest.mark.parametrize("argv, match", [
    (["--target", "modes", "--steps", "3", "--sampler", "count", "--method", "gradient"], "piecewise constant"),
    (["--target", "modes", "--steps", "3", "--sampler", "count", "--free-form"], "piecewise constant"),
    (["--target", "modes", "--steps", "3", "--grid", "0:1:3,0.1:1:3"], "grid"),
    (["--target", "markov:n=4", "--steps", "3"], "markov"),
    (["--target", "wiggles", "--steps", "3"], "unknown target"),
    (["--target", "energy", "--steps", "3", "--method", "two-stage"], "two-stage"),
    (["--target", "modes", "--steps", "3", "--plot", "heat.pdf"], ".png"),
    (["--target", "modes", "--steps", "0"], "--steps"),
    (["--target", "modes", "--steps", "3", "--method", "annealing"], "invalid choice"),
])
def test_tune_bad_input_is_one_line_exit_2(assert_one_line_error, argv, match):
    assert_one_line_error(["tune", *argv], match)


def test_export_json_stdout_and_file(capsys, tmp_path):
    rc, out, err = run(capsys, "export", "--alpha", "linear", "--length", "256", "--steps", "8")
    assert rc == 0, err
    d = json.loads(out)
    assert d["tokens_per_step"] == [32] * 8 and d["alpha_grid"][-1] == 1.0 and d["num_blocks"] == 1
    path = tmp_path / "t.json"
    rc, out, err = run(capsys, "export", "--alpha", "beta:1,0.2", "--length", "256", "--steps", "16",
                       "--block-length", "32", "--out", str(path))
    assert rc == 0 and str(path) in out
    d = json.loads(path.read_text())
    assert d == export_table("beta:1,0.2", 256, 16, block_length=32)
    assert len(d["tokens_per_block_step"]) == 8 and all(sum(r) == 32 for r in d["tokens_per_block_step"])


def test_export_npy_default_name(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "export", "--alpha", "linear", "--length", "10", "--steps", "4", "--format", "npy")
    assert rc == 0, err
    arr = np.load(tmp_path / "tokens_linear_L10_K4.npy")
    assert arr.dtype == np.int64 and arr.tolist() == [[3, 3, 2, 2]]  # LLaDA's split of 10 into 4
    rc, out, err = run(capsys, "export", "--alpha", "linear", "--length", "12", "--steps", "6",
                       "--block-length", "4", "--format", "npy", "--out", "x.npy")
    assert rc == 0 and np.load(tmp_path / "x.npy").tolist() == [[2, 2]] * 3


@pytest.mark.parametrize("argv, match", [
    (["--alpha", "linear", "--length", "10", "--steps", "4", "--block-length", "3"], "does not divide"),
    (["--alpha", "linear", "--length", "12", "--steps", "4", "--block-length", "4"], "not divisible"),
    (["--alpha", "cubic", "--length", "10", "--steps", "4"], "unknown mask schedule"),
    (["--alpha", "linear", "--length", "10", "--steps", "4", "--format", "npy", "--out", "x.txt"], ".npy"),
])
def test_export_bad_input(capsys, argv, match):
    rc, out, err = run(capsys, "export", *argv)
    assert rc == 2 and err.startswith("mdm-ot: error:") and err.count("\n") == 1 and match in err


def _doc_rule_numpy(num_masked: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """A line-by-line NumPy transcription of num_transfer_tokens_from_alpha in
    docs/export_llada.md (torch.argsort(stable=True) = np.argsort(kind='stable'))."""
    n = num_masked[:, None].astype(np.float64)
    x = n * np.diff(alpha)[None, :] / (alpha[-1] - alpha[0])
    base = np.floor(x)
    extra = np.round(n - base.sum(axis=1, keepdims=True))
    frac = np.round(x - base, 9)
    order = np.argsort(-frac, axis=1, kind="stable")
    rank = np.argsort(order, axis=1)
    return (base + (rank < extra)).astype(np.int64)


@pytest.mark.parametrize("alpha, length, steps", [("linear", 256, 8), ("linear", 10, 4), ("beta:1,0.2", 256, 16),
                                                   ("sin2", 37, 5)])
def test_doc_snippet_rule_matches_export(alpha, length, steps):
    from mdm_ot.sampling import num_transfer_tokens
    from mdm_ot.schedules import parse_alpha

    tab = export_table(alpha, length, steps)
    got = _doc_rule_numpy(np.array([length, 3, 1]), np.array(tab["alpha_grid"]))
    assert got[0].tolist() == tab["tokens_per_step"]
    # other numbers of masked positions: the library's rule on the same schedule
    for row, m in zip(got[1:], (3, 1), strict=True):
        assert row.tolist() == np.asarray(num_transfer_tokens(parse_alpha(alpha), m, steps)).tolist()
