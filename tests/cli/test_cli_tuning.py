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
    assert len(d["grid"]) == 9 and all(set(p) == {"a", "b", "value", "model_calls", "expected_model_calls"} for p in d["grid"])
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


# ----------------------------------------------------------------------------- studies (issue 11)

import os  # noqa: E402
import sys  # noqa: E402

import optuna  # noqa: E402

TOY_EVALUATOR = """
import json, math, sys
r = json.load(sys.stdin)
a, b = r["a"] or 0.5, r["b"] or 0.5
print("progress noise")
print(json.dumps({"score": math.log(a / 0.5) ** 2 + math.log(b / 0.7) ** 2, "steps_seen": r["steps"]}))
"""


def test_tune_command_json_out_and_report(capsys, tmp_path):
    script = tmp_path / "ev.py"
    script.write_text(TOY_EVALUATOR)
    out_dir = tmp_path / "out"
    argv = ["tune", "--command", f"{sys.executable} {script}", "--steps", "6", "--grid", "0.5:0.7:2,0.5:0.7:2",
            "--baseline", "beta:0.9,0.3", "--length", "12", "--out", str(out_dir), "--study", "cli", "--json"]
    rc, out, err = run(capsys, *argv)
    assert rc == 0, err
    d = json.loads(out)
    assert d["best"]["schedule"] == "beta:0.5,0.7" and d["best"]["score"] == 0.0
    assert set(d["best"]) >= {"schedule", "a", "b", "score", "model_calls"}
    assert d["best"]["metrics"] == {"steps_seen": 6} and d["best"]["model_calls"] == 6
    assert [b["schedule"] for b in d["baselines"]] == ["linear", "sin", "sin2", "beta:0.9,0.3"]
    assert len([t for t in d["trials"] if t["state"] == "COMPLETE"]) == 8
    assert "trials done" not in out and "best so far" in err  # progress on stderr only
    # the outputs, the study's database (and SQLite's side files while it is open)
    assert {"heatmap.png", "result.json", "studies.db", "summary.md"} <= set(os.listdir(out_dir))
    assert not [f for f in os.listdir(out_dir) if f.endswith(".tmp")]
    assert json.loads((out_dir / "result.json").read_text()) == d
    assert (out_dir / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "`beta:0.5,0.7`" in (out_dir / "summary.md").read_text()
    # plain Optuna storage
    study = optuna.load_study(study_name="cli", storage=f"sqlite:///{out_dir / 'studies.db'}")
    assert study.best_trial.params == {"a": 0.5, "b": 0.7}
    # the report from storage alone, evaluating nothing (the evaluator is gone)
    script.unlink()
    rc, out2, err = run(capsys, "tune", "--study", "cli", "--storage", f"sqlite:///{out_dir / 'studies.db'}",
                        "--report", "--json")
    assert rc == 0, err
    assert json.loads(out2)["best"] == d["best"] and "best so far" not in err
    rc, text, err = run(capsys, "tune", "--study", "cli", "--storage", f"sqlite:///{out_dir / 'studies.db'}", "--report")
    assert rc == 0 and "**best**: `beta:0.5,0.7`" in text


def test_tune_target_through_the_study_engine(capsys, tmp_path):
    # a --target with a study option runs in process through the engine, with today's answer
    rc, out, err = run(capsys, "tune", "--target", "discrete-energy", "--steps", "3", "--grid", SMALL, "--storage",
                       f"sqlite:///{tmp_path / 's.db'}", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["settings"]["evaluator"].startswith("python:")
    ref = T.grid_search(T.make_objective("discrete-energy", 3), *T.parse_grid(SMALL))
    assert (d["best"]["a"], d["best"]["b"]) == (ref.best.a, ref.best.b)
    np.testing.assert_allclose(d["best"]["score"], ref.best.value, rtol=1e-10, atol=0)


@pytest.mark.parametrize("argv, match", [
    (["--command", "true", "--steps", "3", "--grid", "weird"], "unknown grid"),
    (["--command", "true", "--steps", "3", "--grid", "0:1:3,0.1:1:3"], "grid"),
    (["--command", "true", "--steps", "3", "--sampler", "annealing"], "invalid choice"),
    (["--command", "true", "--steps", "0"], "--steps"),
    (["--command", "true", "--steps", "3", "--baseline", "beta:0,1"], "--baseline"),
    (["--command", "no-such-evaluator-xyz", "--steps", "3"], "--command"),
    (["--command", "true", "--steps", "3", "--storage", "postgresql+psycopg2://u@127.0.0.1:1/x"], "--storage"),
    (["--command", "true", "--steps", "3", "--storage", "sqlite:////no/such/dir/s.db"], "--storage"),
    (["--command", "true", "--steps", "3", "--two-stage", "--sampler", "tpe"], "--two-stage"),
    (["--command", "true", "--steps", "3", "--workers", "2", "--worker-env", "A=1"], "--worker-env"),
    (["--command", "true", "--steps", "3", "--target", "modes"], "exactly one"),
    (["--command", "true", "--steps", "3", "--sampler", "count"], "toy-target"),
    (["--report"], "--study"),
    (["--study", "nope", "--report", "--storage", "sqlite:///s.db"], "no study"),
    (["--target", "modes", "--steps", "3", "--trial-timeout", "5", "--out", "o"], "--trial-timeout"),
])
def test_tune_study_bad_input_writes_nothing(assert_one_line_error, tmp_path, monkeypatch, argv, match):
    monkeypatch.chdir(tmp_path)
    if "sqlite:///s.db" in argv:  # an existing, empty database: the study is what is missing
        optuna.storages.RDBStorage("sqlite:///s.db")
    before = sorted(f for f in os.listdir(tmp_path) if not f.startswith("s.db"))
    assert_one_line_error(["tune", *argv, "--out", "o"] if "--out" not in argv and "--report" not in argv
                          else ["tune", *argv], match)
    # nothing new but SQLite's own side files of an existing database that was read
    assert sorted(f for f in os.listdir(tmp_path) if not f.startswith("s.db")) == before


# ----------------------------------------------------------------------------- model-only (issue 16)


def test_tune_model_only_json_and_text(capsys):
    from mdm_ot.schedules import TabulatedSchedule

    rc, out, err = run(capsys, "tune", "--target", "middle", "--steps", "3", "--method", "model-only", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert len(d["alpha_grid"]) == 4 and d["alpha_grid"][0] == 0 and d["alpha_grid"][-1] == 1
    assert d["objective_evaluations"] == 0 and d["profile"]["model_calls"] == 0
    assert d["settings"]["method"] == "model-only" and d["settings"]["target"] == "middle"
    objective = T.make_objective("middle", 3)
    value = float(objective(TabulatedSchedule.from_alphas(np.asarray(d["alpha_grid"]))))
    np.testing.assert_allclose(d["after_the_fact"]["value"], value, rtol=1e-12, atol=0)
    rc, out, err = run(capsys, "tune", "--target", "modes", "--steps", "3", "--method", "model-only",
                       "--sampler", "count", "--per-step", "exact")
    assert rc == 0, err
    assert "tokens per step: 1 2 2" in out and "0 objective evaluations" in out and "not used for the choice" in out


def test_tune_model_option_calls_the_model_profile(capsys, monkeypatch):
    import mdm_ot.experiments.model_only as emo
    from mdm_ot.model_only import Profile

    seen = {}

    def stub(model, *, num_samples, seed, progress):
        seen.update(model=model, num_samples=num_samples, seed=seed)
        m = np.arange(8, -1, -1)
        return Profile(levels=1 - m / 8, pair_dependence=np.where(m >= 2, 0.1 * m, 0.0), stderr=np.zeros(9),
                       sampler="count", length=8, model_calls=99, method="monte-carlo")

    monkeypatch.setattr(emo, "model_profile", stub, raising=False)
    rc, out, err = run(capsys, "tune", "--model", "code", "--steps", "3", "--method", "model-only",
                       "--profile-samples", "17", "--seed", "4", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert seen == {"model": "code", "num_samples": 17, "seed": 4}
    assert d["profile_model_calls"] == 99 and d["objective_evaluations"] == 0 and "after_the_fact" not in d
    assert len(d["alpha_grid"]) == 4 and sum(d["tokens_per_step"]) == 8
    assert d["settings"]["model"] == "code" and d["settings"]["profile_samples"] == 17


@pytest.mark.parametrize("argv, match", [
    (["--model", "code", "--steps", "3"], "--model: only with --method model-only"),
    (["--model", "code", "--target", "modes", "--steps", "3", "--method", "model-only"], "--model"),
    (["--model", "code", "--steps", "3", "--method", "model-only", "--profile-samples", "0"], "--profile-samples"),
    (["--target", "modes", "--steps", "3", "--per-step", "exact"], "--per-step"),
    (["--target", "energy", "--steps", "3", "--method", "model-only"], "exact target"),
])
def test_tune_model_only_bad_input(argv, match, assert_one_line_error):
    assert_one_line_error(["tune", *argv], match)
