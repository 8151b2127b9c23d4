"""Tests of `mdm-ot tune` (in process, through mdm_ot.cli.main).

The exact-target runs use the configuration of tests/tuning/test_tuning.py (toy 'modes', K = 3,
stochastic steps, at most 16 schedules per batch) so that they share its compilation.
"""

import json

import numpy as np
import pytest

from mdm_ot import tuning as T
from mdm_ot.cli import main

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
