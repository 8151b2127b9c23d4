"""The `energy` command (mdm_ot.cli.energy), run as a user would."""

import json
import math
import subprocess
import sys

import pytest

from mdm_ot.cli import main


def _run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_energy_json_for_a_finite_schedule(capsys):
    code, out, _ = _run(["energy", "--alpha", "beta:0.9,0.8", "--n", "3", "--d", "3", "--json"], capsys)
    assert code == 0
    res = json.loads(out)
    assert set(res) >= {"kinetic", "conditional", "geodesic", "reduced", "minimum", "divergent"}
    assert res["divergent"] == []
    e = res["reduced"]
    # (3, 3): E_k/e = 48, E_c/e = 12, E_g/e = 3 (MATH.md section 3)
    assert res["kinetic"] == pytest.approx(48 * e, rel=1e-12, abs=0)
    assert res["conditional"] == pytest.approx(12 * e, rel=1e-12, abs=0)
    assert res["geodesic"] == pytest.approx(3 * e, rel=1e-12, abs=0)
    assert e > math.pi**2
    assert res["minimum"]["reduced"] == pytest.approx(math.pi**2, rel=1e-15, abs=0)


def test_energy_reports_divergence_as_null(capsys):
    code, out, _ = _run(["energy", "--alpha", "linear", "--json"], capsys)
    assert code == 0
    res = json.loads(out)
    assert res["reduced"] is None and res["kinetic"] is None
    assert sorted(res["divergent"]) == ["conditional", "geodesic", "kinetic", "reduced"]
    assert "diverges" in res["status"]


def test_linear_is_optimal_for_the_arcsine_gamma(capsys):
    code, out, _ = _run(["energy", "--alpha", "linear", "--gamma", "beta:0.5,0.5", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["reduced"] == pytest.approx(math.pi**2, rel=1e-12, abs=0)


def test_energy_human_output(capsys):
    code, out, _ = _run(["energy", "--alpha", "sin2"], capsys)
    assert code == 0
    assert "reduced e(alpha, gamma)" in out and "9.8696044010" in out


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["energy", "--alpha", "beta:0,1"], "must be > 0"),
        (["energy", "--alpha", "nope"], "unknown mask schedule"),
        (["energy", "--alpha", "sin", "--n", "0"], "--n must be an integer in [1, 1024]"),
        (["energy", "--alpha", "sin", "--d", "-1"], "--d must be an integer in [1, 1000000]"),
        (["energy", "--alpha", "beta:nan,1"], "finite"),
        (["energy", "--alpha", "sin", "--gamma", "sin"], "unknown interpolation schedule"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, fragment):
    proc = subprocess.run([sys.executable, "-m", "mdm_ot.cli", *args], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mdm-ot: error:"), proc.stderr
    assert fragment in lines[0]
    assert "Traceback" not in proc.stderr
