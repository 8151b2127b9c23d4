"""The Optuna study engine: every grid point once, failures never scored, resume, two-stage,
samplers, workers (threads and processes on one SQLite file), a killed worker re-run.

Expected values are computed here without the engine: grid_search for the toy target, a
sort and scipy's Kendall tau for the two-stage protocol, a plain loop for the best point.
"""

import collections
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import optuna
import pytest
import scipy.stats

import mdm_ot
from mdm_ot import tuning as T

GRID = "0.3:0.7:3,0.3:0.7:3"
SPECS = [f"beta:{a},{b}" for a in (0.3, 0.5, 0.7) for b in (0.3, 0.5, 0.7)]


@pytest.fixture(autouse=True)
def _x64():
    import jax

    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    jax.config.update("jax_enable_x64", old)


def bowl(a, b):
    """A score with its minimum at (0.5, 0.7) (grid point 5)."""
    return math.log(a / 0.5) ** 2 + math.log(b / 0.7) ** 2


def db(tmp_path, name="s.db"):
    return f"sqlite:///{tmp_path / name}"


def states(url, study):
    s = optuna.load_study(study_name=study, storage=url)
    return collections.Counter((t.user_attrs["schedule"], t.state.name) for t in s.trials)


def test_toy_target_through_the_engine_gives_todays_answer(tmp_path):
    # the discrete geodesic energy of K = 3 steps (cheap to compile; the CLI test runs 'modes')
    objective = T.make_objective("discrete-energy", 3)
    ref = T.grid_search(objective, *T.parse_grid(GRID))  # today's vmapped grid search
    out = mdm_ot.tune(objective, "study", steps=3, grid=GRID, storage=db(tmp_path), study="toy", baselines=())
    assert (out["best"]["a"], out["best"]["b"]) == (ref.best.a, ref.best.b)
    np.testing.assert_allclose(out["best"]["score"], ref.best.value, rtol=1e-10, atol=0)
    np.testing.assert_allclose(np.array(out["grid"]["scores"], float), ref.values, rtol=1e-10, atol=0)
    assert out["settings"]["direction"] == "minimize"


def test_callable_sees_each_grid_point_once_and_a_rerun_evaluates_nothing(tmp_path):
    seen = []

    def evaluate(request):
        seen.append(request)
        a, b = request["a"] or 0.5, request["b"] or 0.5
        return {"score": bowl(a, b), "calls": request["model_calls"]}

    out = T.run_study(evaluate, 4, grid=GRID, length=8, storage=db(tmp_path), study="s")
    assert sorted(r["schedule"] for r in seen) == sorted(SPECS + ["linear", "sin", "sin2"])
    assert all(tuple(r) == T.REQUEST_FIELDS and r["stage"] == "full" and r["subset_size"] is None for r in seen)
    assert all(len(r["tokens_per_step"]) == 4 for r in seen)
    best = min(SPECS, key=lambda s: bowl(*(float(x) for x in s[5:].split(","))))
    assert out["best"]["schedule"] == best == "beta:0.5,0.7" and out["best"]["score"] == 0.0
    assert out["best"]["model_calls"] == out["best"]["metrics"]["calls"]
    assert [b["schedule"] for b in out["baselines"]] == ["linear", "sin", "sin2"]
    assert all(b["score"] == bowl(0.5, 0.5) for b in out["baselines"])
    # plain Optuna: params a, b; spec and stage as attributes; the best trial is ours
    study = optuna.load_study(study_name="s", storage=db(tmp_path))
    assert study.best_trial.params == {"a": 0.5, "b": 0.7}
    assert study.best_trial.user_attrs["schedule"] == "beta:0.5,0.7"
    assert study.best_trial.user_attrs["stage"] == "full"
    n = len(seen)
    again = T.run_study(evaluate, 4, grid=GRID, length=8, storage=db(tmp_path), study="s")
    assert len(seen) == n and again["best"] == out["best"]
    # the report from storage alone says the same
    assert T.study_report(db(tmp_path), "s")["best"] == out["best"]
    with pytest.raises(ValueError, match="other settings"):
        T.run_study(evaluate, 5, grid=GRID, storage=db(tmp_path), study="s")


def test_failed_trials_are_never_scored_and_retries_rerun_them(tmp_path):
    calls = collections.Counter()

    def evaluate(request):
        spec = request["schedule"]
        calls[spec] += 1
        if spec == "beta:0.5,0.7":  # the true optimum always fails: it must not win
            raise RuntimeError("CUDA out of memory")
        if spec == "beta:0.3,0.3":
            return float("nan")
        if spec == "beta:0.7,0.7" and calls[spec] == 1:
            raise RuntimeError("flaky")
        return bowl(request["a"], request["b"])

    out = T.run_study(evaluate, 4, grid=GRID, storage=db(tmp_path), study="f", retries=1, baselines=())
    assert calls["beta:0.5,0.7"] == 2 and calls["beta:0.3,0.3"] == 2 and calls["beta:0.7,0.7"] == 2
    c = states(db(tmp_path), "f")
    assert c[("beta:0.5,0.7", "FAIL")] == 2 and c[("beta:0.5,0.7", "COMPLETE")] == 0
    assert c[("beta:0.7,0.7", "FAIL")] == 1 and c[("beta:0.7,0.7", "COMPLETE")] == 1
    scored = {t["schedule"]: t["score"] for t in out["trials"] if t["state"] == "COMPLETE"}
    assert "beta:0.5,0.7" not in scored and "beta:0.3,0.3" not in scored
    best = min(scored, key=scored.get)
    assert out["best"]["schedule"] == best == "beta:0.5,0.5"
    fails = [t for t in out["trials"] if t["schedule"] == "beta:0.5,0.7"]
    assert all("CUDA out of memory" in t["fail_reason"] and t["score"] is None for t in fails)
    assert [t["final_failure"] for t in fails] == [False, True]
    grid = np.array(out["grid"]["scores"], dtype=object)
    assert grid[1, 2] is None and grid[0, 0] is None
    json.dumps(out, allow_nan=False)


def test_two_stage_matches_an_independent_computation(tmp_path):
    def score(spec, size, seed):
        a, b = (float(x) for x in spec[5:].split(",")) if spec.startswith("beta:") else (0.5, 0.5)
        return bowl(a, b) + 0.3 * math.sin(997 * a + 389 * b + seed) / math.sqrt(size)

    grid = "0.2:1:5,0.2:1:5"
    out = T.run_study(lambda r: score(r["schedule"], r["subset_size"], r["seed"]), 4, grid=grid, two_stage=True,
                      coarse_size=4, fine_size=64, top_k=3, seed=5, storage=db(tmp_path), study="t")
    # by hand: coarse on every point (seed 5), the 3 best, their neighbours at +-0.1 (seed 6)
    vals = np.round(np.linspace(0.2, 1.0, 5), 6)
    pts = [f"beta:{a!r},{b!r}" for a in map(float, vals) for b in map(float, vals)]
    coarse = [score(p, 4, 5) for p in pts]
    short = [pts[i] for i in np.argsort(coarse, kind="stable")[:3]]
    assert out["two_stage"]["shortlist"] == short
    cands = []
    for p in short:
        a0, b0 = (float(x) for x in p[5:].split(","))
        for da in (-0.1, 0, 0.1):
            for db_ in (-0.1, 0, 0.1):
                q = f"beta:{float(round(np.float64(a0) + da, 6))!r},{float(round(np.float64(b0) + db_, 6))!r}"
                if q not in cands:
                    cands.append(q)
    best = min(cands, key=lambda q: score(q, 64, 6))
    assert out["best"]["schedule"] == best and out["best"]["stage"] == "fine" and out["best"]["subset_size"] == 64
    np.testing.assert_allclose(out["best"]["score"], score(best, 64, 6), rtol=1e-12, atol=1e-12)
    tau = scipy.stats.kendalltau([score(p, 4, 5) for p in short], [score(p, 64, 6) for p in short]).statistic
    np.testing.assert_allclose(out["two_stage"]["kendall_tau"], tau, rtol=1e-12, atol=1e-12)
    assert {st["name"]: st["complete"] for st in out["stages"]} == {"coarse": 25, "fine": len(cands)}
    # the baselines run on the fine subset, and never win
    assert [(b["stage"], b["subset_size"]) for b in out["baselines"]] == [("fine", 64)] * 3
    # tau is recorded in the study; the report from storage alone agrees
    study = optuna.load_study(study_name="t", storage=db(tmp_path))
    assert study.user_attrs["mdm_ot.result"]["two_stage"]["kendall_tau"] == out["two_stage"]["kendall_tau"]
    rep = T.study_report(db(tmp_path), "t")
    assert rep["best"] == out["best"] and rep["two_stage"] == out["two_stage"]


def test_tpe_searches_the_box_in_log_space(tmp_path):
    out = T.run_study(lambda r: bowl(r["a"], r["b"]), 4, grid="0.2:1:3,0.3:0.9:3", sampler="tpe", trials=12,
                      storage=db(tmp_path), study="tpe", baselines=())
    study = optuna.load_study(study_name="tpe", storage=db(tmp_path))
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(done) == 12
    assert all(0.2 <= t.params["a"] <= 1 and 0.3 <= t.params["b"] <= 0.9 for t in done)
    assert study.trials[0].distributions["a"].log
    assert out["best"]["score"] == min(t.value for t in done)
    more = T.run_study(lambda r: bowl(r["a"], r["b"]), 4, grid="0.2:1:3,0.3:0.9:3", sampler="tpe", trials=15,
                       storage=db(tmp_path), study="tpe", baselines=())
    assert more["stages"][0]["complete"] == 15  # continued, not restarted


def test_worker_threads_evaluate_each_point_once(tmp_path):
    out = T.run_study(lambda r: (time.sleep(0.05), bowl(r["a"], r["b"]))[1], 4, grid=GRID, workers=3,
                      storage=db(tmp_path), study="w", baselines=())
    c = states(db(tmp_path), "w")
    assert sorted(c) == sorted((s, "COMPLETE") for s in SPECS) and set(c.values()) == {1}
    assert len({t["worker"] for t in out["trials"]}) > 1


@pytest.mark.parametrize("kwargs, match", [
    (dict(grid="0:1:3,0.1:1:3"), "grid"),
    (dict(grid="weird"), "unknown grid"),
    (dict(sampler="annealing"), "--sampler"),
    (dict(direction="up"), "--direction"),
    (dict(sampler="tpe", two_stage=True), "--two-stage"),
    (dict(trials=5), "--trials"),
    (dict(baselines=["beta:-1,1"]), "--baseline"),
    (dict(workers=2, worker_env="A=1"), "--worker-env"),
    (dict(storage="sqlite:////no/such/folder/x.db"), "--storage"),
    (dict(storage="not a url"), "--storage"),
])
def test_bad_input_writes_nothing(tmp_path, kwargs, match):
    kwargs = {"storage": db(tmp_path), "baselines": (), **kwargs}
    with pytest.raises(ValueError, match=match):
        T.run_study(lambda r: 0.0, 4, **kwargs)
    with pytest.raises(ValueError, match="steps"):
        T.run_study(lambda r: 0.0, 0, storage=db(tmp_path))
    assert os.listdir(tmp_path) == []


EVALUATOR = textwrap.dedent("""
    import json, math, os, sys, time
    r = json.load(sys.stdin)
    time.sleep(float(os.environ.get("SLEEP", "0")))
    a, b = r["a"] or 0.5, r["b"] or 0.5
    print(json.dumps({"score": math.log(a / 0.5) ** 2 + math.log(b / 0.7) ** 2, "pid": os.getpid()}))
""")


def driver(tmp_path, url, study, *extra, sleep="0.2"):
    """An `mdm-ot tune --command` process on ``url``."""
    script = tmp_path / "evaluator.py"
    script.write_text(EVALUATOR)
    argv = [sys.executable, "-m", "mdm_ot.cli", "tune", "--command", f"{sys.executable} {script}", "--steps", "4",
            "--grid", GRID, "--storage", url, "--study", study, "--heartbeat", "1", "--json", *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "SLEEP": sleep})


def finish(p):
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    return json.loads(out)


@pytest.mark.slow  # ~10-20 s: two interpreters start jax; the default selection has the thread workers
def test_two_processes_on_one_sqlite_file_finish_each_point_once(tmp_path):
    url = db(tmp_path)
    procs = [driver(tmp_path, url, "mp") for _ in range(2)]
    outs = [finish(p) for p in procs]
    c = states(url, "mp")
    assert sorted(c) == sorted((s, "COMPLETE") for s in SPECS) and set(c.values()) == {1}
    assert all(o["best"]["schedule"] == "beta:0.5,0.7" for o in outs)
    b = states(url, "mp.baselines")
    assert set(b.values()) == {1} and len(b) == 3


@pytest.mark.slow
def test_three_processes_on_one_sqlite_file_finish_each_point_once(tmp_path):
    url = db(tmp_path)
    procs = [driver(tmp_path, url, "mp3", sleep="0.5") for _ in range(3)]
    outs = [finish(p) for p in procs]
    c = states(url, "mp3")
    assert sorted(c) == sorted((s, "COMPLETE") for s in SPECS) and set(c.values()) == {1}
    assert all(o["best"] == outs[0]["best"] for o in outs)
    study = optuna.load_study(study_name="mp3", storage=url)
    assert len({t.user_attrs["worker"].split(":")[1] for t in study.trials}) >= 2  # they shared the work


def _wait_for(url, study, pred, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            trials = optuna.load_study(study_name=study, storage=url).trials
            if pred(trials):
                return trials
        except KeyError:
            pass
        time.sleep(0.2)
    pytest.fail("the study never got there")


@pytest.mark.slow
def test_kill_9_mid_trial_then_resume_gives_the_uninterrupted_result(tmp_path):
    ref = finish(driver(tmp_path, db(tmp_path, "ref.db"), "k", sleep="0"))
    url = db(tmp_path, "killed.db")
    p = driver(tmp_path, url, "k", sleep="1")
    _wait_for(url, "k", lambda ts: sum(t.state.name == "COMPLETE" for t in ts) >= 2
              and any(t.state.name == "RUNNING" for t in ts))
    os.kill(p.pid, signal.SIGKILL)
    p.communicate()
    dead = [t.user_attrs["schedule"] for t in optuna.load_study(study_name="k", storage=url).trials
            if t.state.name == "RUNNING"]
    assert dead
    out = finish(driver(tmp_path, url, "k", sleep="0"))
    c = states(url, "k")
    assert sorted(s for s, st in c if st == "COMPLETE") == sorted(SPECS)
    assert all(c[(s, "COMPLETE")] == 1 for s in SPECS)
    assert all(c[(s, "FAIL")] == 1 for s in dead)  # failed by the heartbeat check, then re-run
    same = ("schedule", "a", "b", "score", "model_calls", "stage")
    assert {k: out["best"][k] for k in same} == {k: ref["best"][k] for k in same}
    done = {(t["schedule"], t["score"]) for t in out["trials"] if t["state"] == "COMPLETE"}
    assert done == {(t["schedule"], t["score"]) for t in ref["trials"] if t["state"] == "COMPLETE"}


@pytest.mark.slow
def test_ctrl_c_fails_the_running_trial_and_a_rerun_finishes(tmp_path):
    url = db(tmp_path)
    out_dir = tmp_path / "out"
    p = driver(tmp_path, url, "c", "--out", str(out_dir), sleep="2")
    _wait_for(url, "c", lambda ts: sum(t.state.name == "COMPLETE" for t in ts) >= 1
              and any(t.state.name == "RUNNING" for t in ts))
    os.kill(p.pid, signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and err.strip().endswith("mdm-ot: interrupted")
    assert not (out_dir / "result.json").exists()  # nothing half-written
    study = optuna.load_study(study_name="c", storage=url)
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    assert failed and all(t.user_attrs["fail_reason"] == "interrupted" for t in failed)
    out = finish(driver(tmp_path, url, "c", "--out", str(out_dir), sleep="0"))
    assert out["best"]["schedule"] == "beta:0.5,0.7"
    assert json.loads((out_dir / "result.json").read_text())["best"] == out["best"]
