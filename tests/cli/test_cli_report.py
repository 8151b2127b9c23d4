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
    check_model_calls(res, md)


def check_model_calls(res, md):
    """Model calls beside K in every table, and the comparison at equal model calls, checked
    against counts of the report's own token lists, closed forms and an independent exact
    evaluation of linear at m steps."""
    import numpy as np

    from mdm_ot.sampling import divergences, exact_output_table
    from mdm_ot.schedules import Linear
    from mdm_ot.tuning import toy_target

    sch = res["schedules"]
    assert sch["model_calls"] == {s: sum(c > 0 for c in toks) for s, toks in sch["tokens_per_step"].items()}
    assert sch["model_calls"]["beta:1,0.2"] < sch["steps"]  # the back-loaded schedule has empty steps
    # the toy's 3-step samplers: linear on 5 positions, each step reveals a token with
    # probability 1 - (2/3)^5 under the stochastic sampler
    toy_calls = res["toy"]["model_calls"]
    assert toy_calls["count"]["linear"]["model_calls"] == 3
    assert toy_calls["stochastic"]["linear"]["expected_model_calls"] == pytest.approx(3 * (1 - (2 / 3) ** 5), rel=1e-12)
    for target in ("modes", "middle"):
        rows = res["toy"][target]["equal_model_calls"]
        assert rows and {r["steps"] for r in rows} == {3}  # quick mode: the toy's K
        q = np.asarray(toy_target(target))
        for r in rows:
            assert r["model_calls"] == sum(c > 0 for c in r["tokens_per_step"]) and sum(r["tokens_per_step"]) == 5
            for label, order, temp in (("count, random order", "random", 1.0),
                                       ("count, low-confidence order (T=0)", "confidence", 0.0)):
                c = r["by_sampler"][label]
                p = exact_output_table(q, Linear(), num_steps=r["model_calls"], sampler="count", order=order,
                                       temperature=temp)
                lin = float(divergences(p, q).kl_data_to_model)
                if math.isfinite(lin):
                    assert c["linear_kl_data_to_model"] == pytest.approx(lin, rel=1e-9, abs=1e-12), (target, r)
                else:
                    assert c["linear_kl_data_to_model"] is None
                mine, theirs = (math.inf if v is None else v for v in (c["kl_data_to_model"], lin))
                assert c["winner"] == ("tie" if mine == theirs or abs(mine - theirs) <= 1e-9
                                       else "schedule" if mine < theirs else "linear"), (target, r)
        assert f"At equal model calls (count sampler, target `{target}`)" in md
    # beta:0.9,0.3 at 3 steps makes 2 calls and reproduces `modes` exactly, which linear with
    # 2 calls does not (KL(q||p) = log 4): a win at equal model calls
    row = next(r for r in res["toy"]["modes"]["equal_model_calls"] if r["schedule"] == "beta:0.9,0.3")
    assert row["model_calls"] == 2 and row["by_sampler"]["count, random order"]["winner"] == "schedule"
    for target in ("modes", "middle"):
        for k, row in res["tuning"][target].items():
            k = int(k)
            lin = row["baseline_model_calls"]["linear"]
            assert lin["model_calls"] == k
            assert lin["expected_model_calls"] == pytest.approx(k * (1 - (1 - 1 / k) ** 5), rel=1e-12)
            assert 1 <= row["grid_best"]["model_calls"]["expected_model_calls"] <= k


def test_reproduce_refuses_a_bad_out_before_any_work(tmp_path, monkeypatch, assert_one_line_error):
    """--out under a regular file, a file where a folder is expected, an unwritable folder:
    one line naming --out, exit 2, and nothing written. (Root writes into chmod'ed folders,
    so "unwritable" is os.access answering no for that folder.)"""
    import time

    afile = tmp_path / "afile"
    afile.write_text("keep")
    t0 = time.perf_counter()
    assert_one_line_error(["reproduce", "--quick", "--out", str(afile / "sub")], "--out:")
    assert_one_line_error(["reproduce", "--quick", "--out", str(afile)], "is a file, expected a folder")
    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m, *a, **k: False if os.path.abspath(p) == str(ro)
                        else real_access(p, m, *a, **k))
    assert_one_line_error(["reproduce", "--quick", "--out", str(ro / "report")], "not writable")
    assert time.perf_counter() - t0 < 10  # refused at once, not after the report's work
    assert sorted(os.listdir(tmp_path)) == ["afile", "ro"] and os.listdir(ro) == []
    assert afile.read_text() == "keep"


@pytest.mark.parametrize("exc", [PermissionError(13, "Permission denied", "/r/fig.png"),
                                 OSError(30, "Read-only file system", "/r/.tmp", "/r/report")])
def test_an_os_error_in_a_command_is_one_line_naming_the_path(tmp_path, capsys, monkeypatch, exc):
    """An OSError from the work itself (a disk that turns read-only mid-run, say): one line
    naming the path(s), exit 2, no traceback."""
    import mdm_ot.experiments.report
    from mdm_ot.cli import main

    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr(mdm_ot.experiments.report, "reproduce", fail)
    code = main(["reproduce", "--quick", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err == f"mdm-ot: error: {exc.filename!r}" + (
        f" -> {exc.filename2!r}" if exc.filename2 else "") + f": {exc.strerror}\n"
