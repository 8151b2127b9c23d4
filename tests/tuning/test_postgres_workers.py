"""Many machines on one study (issue 11): three `mdm-ot tune --command` processes, started at
once against one PostgreSQL database, evaluate every grid point and every baseline exactly
once between them. Needs a PostgreSQL server (the ``postgres_url`` fixture of conftest.py
starts a throwaway one, or the test is skipped with the reason)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from collections import Counter

import pytest

pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[2]
TOY = REPO / "examples" / "toy_evaluator.py"
GRID = "0.2:0.6:3,0.3:0.9:4"  # 12 points
BASELINES = ("linear", "sin", "sin2")


def _log_lines(paths):
    rows = []
    for p in paths:
        if p.exists():
            rows += [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    return rows


def test_three_processes_on_one_postgres_study_evaluate_each_point_once(postgres_url, tmp_path):
    optuna = pytest.importorskip("optuna")
    logs = [tmp_path / f"worker{i}.jsonl" for i in range(3)]
    procs = []
    for i in range(3):
        # each process logs the requests it was given (the evaluator's own record, not the
        # engine's): `tee -a` appends one line per request
        command = f"tee -a '{logs[i]}' | '{sys.executable}' '{TOY}' --sleep 0.3"
        argv = [sys.executable, "-m", "mdm_ot.cli", "tune", "--command", command, "--steps", "4",
                "--grid", GRID, "--direction", "maximize", "--storage", postgres_url,
                "--study", "three", "--json"]
        procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      cwd=tmp_path))
    results = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-2000:]
        results.append(json.loads(out))

    requests = [line for line in _log_lines(logs) if line]
    counts = Counter(r["schedule"] for r in requests)
    grid_specs = {s for s in counts if s.startswith("beta:")}
    assert len(grid_specs) == 12 and all(counts[s] == 1 for s in grid_specs), counts
    assert all(counts[b] == 1 for b in BASELINES), counts
    assert len(requests) == 12 + len(BASELINES)
    # the work was shared: more than one process evaluated something
    assert sum(1 for p in logs if p.exists() and p.read_text().strip()) >= 2

    # the storage agrees: one finished trial per point, params a and b, nothing failed
    study = optuna.load_study(study_name="three", storage=postgres_url)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 12 == len({(t.params["a"], t.params["b"]) for t in done})
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    base = optuna.load_study(study_name="three.baselines", storage=postgres_url)
    assert sorted(t.user_attrs.get("schedule", "") for t in base.trials
                  if t.state == optuna.trial.TrialState.COMPLETE) == sorted(BASELINES)

    # every process reports the same answer, the best of the evaluator's own scores
    bests = {(r["best"]["a"], r["best"]["b"], r["best"]["score"]) for r in results}
    assert len(bests) == 1
    best_a, best_b, best_score = bests.pop()
    assert best_score == max(t.value for t in done)
    assert study.best_trial.params == {"a": best_a, "b": best_b}
