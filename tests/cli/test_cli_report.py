"""The `reproduce` command (mdm_ot.cli.report), run as a user would."""

import json
import math
import os
import subprocess
import sys

import pytest


def test_reproduce_quick_writes_the_report(tmp_path):
    out = tmp_path / "report"
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-m", "mdm_ot.cli", "reproduce", "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    md = (out / "report.md").read_text()
    res = json.loads((out / "results.json").read_text())
    for name in ("energy_landscape.png", "schedules.png", "toy.png", "tuning_modes_K3.png",
                 "tuning_middle_K3.png"):
        assert (out / name).stat().st_size > 10_000, name
    assert all(c["verdict"] == "holds" for c in res["theorems"]["checks"])
    # the landscape's theoretical minima are pi^2 exactly where alpha = sin^2(pi/2 gamma)
    for g in ("t", "beta:0.5,0.5"):
        assert res["energy_landscape"][g]["theory_min"]["e"] == pytest.approx(math.pi**2, rel=1e-10, abs=0)
    # linear's tokens per step are LLaDA's split
    assert res["schedules"]["tokens_per_step"]["linear"] == [16] * 16
    # The grid's best is at most every baseline that is itself a point of the paper's grid:
    # linear = Beta(1/2,1/2), sin2 = Beta(1,1), Beta(0.9,0.3), Beta(1,0.2), Beta(0.3,0.9).
    on_grid = ("linear", "sin2", "beta:0.9,0.3", "beta:1,0.2", "beta:0.3,0.9")
    for target in ("modes", "middle"):
        for row in res["tuning"][target].values():
            best = row["grid_best"]["value"]
            assert best <= min(row["baselines"][s] for s in on_grid) * (1 + 1e-9)
    assert "## 4. The Figure-4 toy" in md and "## 5. Tuned schedules" in md
