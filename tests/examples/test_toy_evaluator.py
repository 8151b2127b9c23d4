"""The example evaluator examples/toy_evaluator.py: the protocol from outside (a subprocess,
as `mdm-ot tune --command` runs it) and its toy benchmark against a closed form."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from mdm_ot.tuning import make_request, run_command_evaluator

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "examples" / "toy_evaluator.py"
COMMAND = f"'{sys.executable}' '{SCRIPT}'"


@pytest.fixture(scope="module")
def toy():
    spec = importlib.util.spec_from_file_location("toy_evaluator", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_script_runs_without_mdm_ot():
    # a user copies it into an environment without mdm_ot: make `import mdm_ot` fail
    req = make_request("linear", 4, seed=1)
    blocked = ("import runpy, sys; sys.modules['mdm_ot'] = None; "
               f"sys.argv = ['toy_evaluator.py']; runpy.run_path({str(SCRIPT)!r}, run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", blocked], input=json.dumps(req), text=True,
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["items"] == 200


def test_linear_schedule_matches_the_closed_form(toy):
    # linear on K steps: every step reveals 1/K, with 1 - (k-1)/K still masked, so
    # cost_i = 1 + c_i (K + 1) / (2K) (a sum done by hand, not by the script's code)
    c = np.random.default_rng(11).uniform(4.0, 16.0, toy.NUM_ITEMS)[:7]
    for K in (1, 3, 8):
        want = np.exp(-(1 + c * (K + 1) / (2 * K)) / (1 + c)).mean()
        got = toy.score(list(np.arange(K + 1) / K), 11, 7)
        np.testing.assert_allclose(got["score"], want, rtol=1e-13, atol=1e-15)
        assert got["items"] == 7


def test_subsets_are_prefixes_and_null_means_all(toy):
    np.testing.assert_array_equal(toy.difficulties(4, 5), toy.difficulties(4, 50)[:5])
    grid = make_request("sin2", 6)["alpha_grid"]
    assert toy.score(grid, 0, None)["items"] == toy.NUM_ITEMS
    assert toy.score(grid, 0, 10**6)["items"] == toy.NUM_ITEMS


def test_through_the_protocol_runner(toy):
    """What the engine sees: the answer on the last stdout line, logs on stderr only."""
    req = make_request("beta:0.5,0.4", 8, stage="coarse", subset_size=20, seed=2, trial=4)
    ans = run_command_evaluator(COMMAND, req, timeout=60)
    direct = toy.score(req["alpha_grid"], 2, 20)
    assert ans["score"] == direct["score"] and ans["items"] == 20
    # the toy has a best Beta schedule that beats linear (the reason it is a useful example)
    lin = toy.score(make_request("linear", 8)["alpha_grid"], 2, 20)["score"]
    assert ans["score"] > lin


@pytest.mark.parametrize("request_text, match", [
    ("garbage", "not JSON"),
    (json.dumps({"steps": 2, "alpha_grid": [0.0, 1.0]}), "alpha_grid must be a list of steps + 1"),
    (json.dumps({"steps": 1, "alpha_grid": [0.2, 1.0]}), "increase from 0"),
    (json.dumps({"steps": 1, "alpha_grid": [0.0, 1.0], "subset_size": 0}), "subset_size"),
])
def test_a_bad_request_fails_the_trial(request_text, match):
    done = subprocess.run([sys.executable, str(SCRIPT)], input=request_text, text=True,
                          capture_output=True, timeout=60)
    assert done.returncode == 2 and done.stdout == "" and match in done.stderr


@pytest.mark.slow
def test_the_readme_tour_study(tmp_path, capsys):
    """`mdm-ot tune --command 'python examples/toy_evaluator.py'` (the README's tour, on a
    2 x 3 grid): the best point and the baselines are the script's own scores."""
    from mdm_ot.cli import main

    rc = main(["tune", "--command", COMMAND, "--steps", "8", "--grid", "0.4:0.6:2,0.3:0.5:3",
               "--direction", "maximize", "--storage", f"sqlite:///{tmp_path}/s.db", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    rep = json.loads(out)
    spec = importlib.util.spec_from_file_location("toy_evaluator", SCRIPT)
    toy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(toy)

    def direct(schedule):
        return toy.score(make_request(schedule, 8)["alpha_grid"], 0, None)["score"]

    points = [f"beta:{a:g},{b:g}" for a in (0.4, 0.6) for b in (0.3, 0.4, 0.5)]
    scores = {p: direct(p) for p in points}
    best = max(scores, key=scores.get)
    assert rep["best"]["schedule"] == best and rep["best"]["score"] == scores[best]
    assert {b["schedule"]: b["score"] for b in rep["baselines"]} == {s: direct(s) for s in ("linear", "sin", "sin2")}
